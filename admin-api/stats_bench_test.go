package adminapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// benchBase is the first day of the latency dataset: far from the
// known-answer dataset's days, so both can share the store.
var benchBase = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// benchDays is how many days the latency dataset spans.
const benchDays = 30

// benchSeedSQL inserts n generated events numbered from start: three
// sources (70/20/10%), sessions of 6 events over about 25 minutes (1,000
// interleaved at a time), about 2.5 sessions per visitor, skewed pages, referrers, UTM, countries, browsers, devices and
// two properties. Rows spread evenly over benchDays.
func benchSeedSQL(start, n, total uint64) string {
	return fmt.Sprintf(`INSERT INTO trackstream.events (source_id, event_id, event_type, event_time, received_at, session_id, profile_id, anonymous_id,
    url, url_host, url_path, referrer_host, referrer_medium, utm_source, utm_medium, utm_campaign, country, browser, os, device_type, is_bot, properties)
SELECT
    multiIf(h %% 10 < 7, 'bench-a', h %% 10 < 9, 'bench-b', 'bench-c') AS source_id,
    concat('ev-', toString(number)) AS event_id,
    ['page', 'page', 'page', 'page', 'page', 'page', 'click', 'click', 'page-view', 'signup', 'purchase', 'identify'][1 + (h2 %% 12)] AS event_type,
    toDateTime64('%s', 3, 'UTC') + toIntervalMillisecond(intDiv(number * %d, %d)) AS event_time,
    event_time + toIntervalMillisecond(150) AS received_at,
    concat('s-', toString(sid)) AS session_id,
    if(v %% 4 = 0, visitor, '') AS profile_id,
    if(v %% 4 = 0, '', visitor) AS anonymous_id,
    concat('https://shop.example.com', url_path) AS url,
    'shop.example.com' AS url_host,
    concat('/p/', toString(toUInt32(pow((h3 %% 1000) / 1000, 3) * 200))) AS url_path,
    ['', '', 'www.google.com', 'www.bing.com', 't.co', 'news.ycombinator.com', 'mail.example.org'][1 + (h3 %% 7)] AS referrer_host,
    ['direct', 'direct', 'search', 'search', 'social', 'other', 'email'][1 + (h3 %% 7)] AS referrer_medium,
    ['', '', '', 'newsletter', 'google', 'twitter'][1 + (h4 %% 6)] AS utm_source,
    ['', '', '', 'email', 'cpc', 'social'][1 + (h4 %% 6)] AS utm_medium,
    ['', '', '', 'spring', 'brand', 'launch'][1 + (h4 %% 6)] AS utm_campaign,
    ['US', 'US', 'US', 'DE', 'DE', 'FR', 'GB', 'IN', 'BR', 'JP'][1 + (v %% 10)] AS country,
    ['Chrome', 'Chrome', 'Chrome', 'Safari', 'Safari', 'Firefox', 'Edge'][1 + (v %% 7)] AS browser,
    ['Windows', 'Windows', 'macOS', 'iOS', 'iOS', 'Android', 'Linux'][1 + (v %% 7)] AS os,
    ['desktop', 'desktop', 'mobile', 'mobile', 'tablet'][1 + (v %% 5)] AS device_type,
    h %% 50 = 0 AS is_bot,
    concat('{"plan":"', ['free', 'free', 'pro', 'team'][1 + (v %% 4)], '","price":', toString(h4 %% 200), '}') AS properties
FROM (
    SELECT number, cityHash64(number) AS h, cityHash64(number, 2) AS h2, cityHash64(number, 3) AS h3, cityHash64(number, 4) AS h4,
           number %% 1000 + 1000 * intDiv(number, 6000) AS sid,
           cityHash64(sid, 5) %% %d AS v, concat('v-', toString(v)) AS visitor
    FROM numbers(%d, %d)
)`, chTime(benchBase), uint64(benchDays*24*time.Hour/time.Millisecond), total, max(total/15, 1), start, n)
}

// TestQueryLatency seeds TRACKSTREAM_QUERY_BENCH_EVENTS events (default
// 1,000,000) plus 1% resent duplicates into the embedded engine and
// reports p50/p95 latencies of the statistics endpoints through HTTP. It
// runs only with TRACKSTREAM_QUERY_BENCH=1:
//
//	TRACKSTREAM_QUERY_BENCH=1 TRACKSTREAM_QUERY_BENCH_EVENTS=10000000 go test ./admin-api -run TestQueryLatency -v -timeout 60m
func TestQueryLatency(t *testing.T) {
	if os.Getenv("TRACKSTREAM_QUERY_BENCH") != "1" {
		t.Skip("set TRACKSTREAM_QUERY_BENCH=1 to measure query latencies (seeds millions of events)")
	}
	total := uint64(1_000_000)
	if s := os.Getenv("TRACKSTREAM_QUERY_BENCH_EVENTS"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n < 1000 {
			t.Fatalf("TRACKSTREAM_QUERY_BENCH_EVENTS=%q: want a number >= 1000", s)
		}
		total = n
	}
	st, db := chStore(t)
	ctx := context.Background()
	start := time.Now()
	const chunk = 1_000_000
	for from := uint64(0); from < total; from += chunk {
		if err := db.Exec(ctx, benchSeedSQL(from, min(chunk, total-from), total)); err != nil {
			t.Fatalf("seed rows %d..: %v", from, err)
		}
	}
	// 1% resent: the same ids again in another insert.
	if err := db.Exec(ctx, benchSeedSQL(0, total/100, total)); err != nil {
		t.Fatalf("seed duplicates: %v", err)
	}
	t.Logf("seeded %d events + %d duplicates in %s", total, total/100, time.Since(start).Round(time.Second))
	n, err := st.CountEvents(ctx, "bench-a")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("distinct events of bench-a: %d", n)

	// A generous query timeout, so slow figures are measured rather than
	// cut at the default 10 s.
	e := startWithTimeout(t, st, &clock{t: benchBase.Add(benchDays * 24 * time.Hour)}, 2*time.Minute)
	tok := e.login("admin", strong)
	rng := func(from, to time.Duration) string {
		return "from=" + url.QueryEscape(benchBase.Add(from).Format(time.RFC3339Nano)) + "&to=" + url.QueryEscape(benchBase.Add(to).Format(time.RFC3339Nano))
	}
	month := rng(0, benchDays*24*time.Hour)
	week := rng(7*24*time.Hour, 14*24*time.Hour)
	weekUnaligned := rng(7*24*time.Hour+time.Minute, 14*24*time.Hour)
	cases := []struct{ name, path string }{
		{"summary, 30 days, all sources (rollup + session scan)", "/api/v1/stats/summary?" + month},
		{"summary, 7 days unaligned, one source (raw)", "/api/v1/stats/summary?source=bench-a&" + weekUnaligned},
		{"series by day, 30 days (rollup + session scan)", "/api/v1/stats/series?interval=day&" + month},
		{"series by hour, 7 days, type=signup (rollup)", "/api/v1/stats/series?interval=hour&type=signup&" + week},
		{"breakdown by page, 30 days (raw)", "/api/v1/stats/breakdown?dimension=page&" + month},
		{"breakdown by type, 30 days (rollup)", "/api/v1/stats/breakdown?dimension=type&" + month},
		{"breakdown by property plan, 7 days (raw)", "/api/v1/stats/breakdown?property=plan&" + week},
		{"search, newest 50, 30 days", "/api/v1/events?limit=50&" + month},
		{"search, prop.plan=pro, one source, 7 days", "/api/v1/events?limit=50&source=bench-b&prop.plan=pro&" + week},
		{"search, one visitor's session", "/api/v1/events?limit=50&session=s-42&" + month},
	}
	runs := 20
	if total > 2_000_000 {
		runs = 10
	}
	t.Logf("%d runs per query after one warm-up", runs)
	for _, c := range cases {
		lat := make([]time.Duration, 0, runs)
		// The first call warms caches and is not counted.
		e.call("GET", c.path, tok, "")
		for range runs {
			t0 := time.Now()
			r := e.call("GET", c.path, tok, "")
			lat = append(lat, time.Since(t0))
			if r.code != http.StatusOK {
				t.Fatalf("%s: %d %s", c.name, r.code, r.raw)
			}
		}
		slices.Sort(lat)
		t.Logf("%-58s p50 %7.1f ms  p95 %7.1f ms", c.name, ms(lat[runs/2]), ms(lat[runs*95/100-1]))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
