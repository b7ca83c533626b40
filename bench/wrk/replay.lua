-- replay.lua: wrk script of trackstream's benchmark harness (bench/wrk).
-- Arguments after --: the requests file, the events per request, "gzip"
-- or "plain" (are the bodies in the file gzip-compressed), and "count" or
-- "nocount".
-- The requests file holds the load generator's bodies, each as
-- "<length>\n<bytes>". Every thread replays them round robin from its own
-- offset. With "count" it also counts answers by status and the events
-- acknowledged (a 200 must say "accepted":<events per request>); that
-- costs wrk a Lua call with the headers and body of every answer (~4 us of
-- CPU per request), so without it only wrk's own counters are kept (2xx
-- and 3xx together, the rest as status errors). done() prints one line,
-- "WRK_RESULT {json}", that the harness reads.

local threads = {}

function setup(thread)
  thread:set("thread_no", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path, per, gz = args[1], tonumber(args[2]), args[3] == "gzip"
  counting = args[4] == "count"
  if not counting then
    response = nil
  end
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  local headers = { ["Content-Type"] = "application/json" }
  if gz then
    headers["Content-Encoding"] = "gzip"
  end
  reqs = {}
  local pos = 1
  while pos <= #data do
    local nl = assert(data:find("\n", pos, true), "requests file: missing length line")
    local len = assert(tonumber(data:sub(pos, nl - 1)), "requests file: bad length")
    reqs[#reqs + 1] = wrk.format("POST", nil, headers, data:sub(nl + 1, nl + len))
    pos = nl + len + 1
  end
  assert(#reqs > 0, "requests file is empty")
  per_request = per
  next_req = (thread_no * 7919) % #reqs
  statuses = {}
  acked = 0
  partial = 0
end

function request()
  next_req = next_req % #reqs + 1
  return reqs[next_req]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 then
    local n = tonumber(body:match('"accepted":(%d+)'))
    if n == nil or n == per_request then
      acked = acked + per_request
    else
      partial = partial + 1
    end
  elseif status >= 200 and status < 300 then
    acked = acked + per_request
  end
end

function done(summary, latency, requests)
  local st, total_acked, total_partial = {}, 0, 0
  local counted = threads[1]:get("counting")
  for _, t in ipairs(threads) do
    if not counted then
      break
    end
    for k, v in pairs(t:get("statuses")) do
      st[k] = (st[k] or 0) + v
    end
    total_acked = total_acked + t:get("acked")
    total_partial = total_partial + t:get("partial")
  end
  local parts = {}
  for k, v in pairs(st) do
    parts[#parts + 1] = string.format('"%d":%d', k, v)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"counted":%s,"acked_events":%d,"partial":%d,"status":{%s},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    tostring(counted), total_acked, total_partial, table.concat(parts, ","),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
