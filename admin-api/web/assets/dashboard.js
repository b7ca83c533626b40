// The dashboard: KPI tiles with the change against the previous period, a
// time series with metric and interval switches and an optional
// comparison line, breakdown panels whose rows filter everything, filter
// chips, a date range with presets, and a live "visitors now" figure.
// The whole state is the page's query string, so a view can be shared
// and reloaded; the same parameters (source, filter.<dimension>,
// prop.<key>) go to the API.

import { h, replace, num, pct, duration, notice } from "./dom.js";
import { get } from "./api.js";
import { go, link } from "./app.js";
import { lineChart } from "./chart.js";
import { sourcePicker } from "./sources.js";

const DAY = 86400000;

export const presets = [
  ["today", "Today"], ["24h", "Last 24 hours"], ["7d", "Last 7 days"], ["30d", "Last 30 days"],
  ["90d", "Last 90 days"], ["12mo", "Last 12 months"], ["custom", "Custom"],
];

const metrics = [
  ["visitors", "Visitors", num], ["sessions", "Sessions", num], ["pageviews", "Pageviews", num],
  ["events", "Events", num], ["bounce_rate", "Bounce rate", pct], ["avg_session_duration", "Avg. duration", duration],
];

const panels = [
  ["pages", "Pages", [["page", "Pages"], ["entry_page", "Entry"], ["exit_page", "Exit"], ["host", "Hosts"], ["name", "Names"]]],
  ["sources", "Sources", [["referrer_host", "Referrers"], ["referrer_medium", "Channels"], ["utm_source", "UTM source"], ["utm_medium", "UTM medium"], ["utm_campaign", "UTM campaign"]]],
  ["locations", "Locations", [["country", "Countries"], ["region", "Regions"], ["city", "Cities"]]],
  ["devices", "Devices", [["browser", "Browsers"], ["os", "OS"], ["device", "Devices"]]],
  ["events", "Events", [["type", "Event types"], ["property", "Property"]]],
];

const dayStart = (t) => Math.floor(t / DAY) * DAY;
const isoDate = (t) => new Date(t).toISOString().slice(0, 10);

// rangeOf turns the URL's range into from/to (ms, UTC) and a default interval.
export function rangeOf(q, now = Date.now()) {
  const today = dayStart(now), tomorrow = today + DAY;
  switch (q.get("range") || "7d") {
    case "today": return { from: today, to: tomorrow, interval: "hour" };
    case "24h": {
      const to = Math.ceil(now / 3600000) * 3600000;
      return { from: to - DAY, to, interval: "hour" };
    }
    case "30d": return { from: tomorrow - 30 * DAY, to: tomorrow, interval: "day" };
    case "90d": return { from: tomorrow - 90 * DAY, to: tomorrow, interval: "day" };
    case "12mo": return { from: tomorrow - 365 * DAY, to: tomorrow, interval: "week" };
    case "custom": {
      const from = Date.parse(q.get("from") || "") || today - 6 * DAY;
      const to = (Date.parse(q.get("to") || "") || today) + DAY;
      const days = (to - from) / DAY;
      return { from, to: Math.max(to, from + DAY), interval: days <= 2 ? "hour" : days <= 120 ? "day" : "week" };
    }
    default: return { from: tomorrow - 7 * DAY, to: tomorrow, interval: "day" };
  }
}

// filtersOf are the URL's filter.<dimension> and prop.<key> parameters.
export function filtersOf(q) {
  return [...q.entries()].filter(([k]) => k.startsWith("filter.") || k.startsWith("prop."));
}

// apiParams are the parameters every statistics call gets.
export function apiParams(q, r) {
  const p = new URLSearchParams();
  p.set("from", new Date(r.from).toISOString());
  p.set("to", new Date(r.to).toISOString());
  if (q.get("source")) p.set("source", q.get("source"));
  for (const [k, v] of filtersOf(q)) p.append(k, v);
  return p;
}

function withParam(q, changes) {
  const n = new URLSearchParams(q);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined) n.delete(k);
    else n.set(k, v);
  }
  return "/ui/?" + n.toString();
}

const bucketMs = { minute: 60000, hour: 3600000, day: DAY, week: 7 * DAY };

export async function dashboard(main, q) {
  const r = rangeOf(q);
  const interval = q.get("interval") && (r.to - r.from) / bucketMs[q.get("interval")] <= 2000 ? q.get("interval") : r.interval;
  const metric = metrics.find((m) => m[0] === q.get("metric")) || metrics[0];
  const compare = q.get("cmp") === "1";
  const params = apiParams(q, r);
  const filters = filtersOf(q);

  const live = h("span.live", { "aria-live": "polite" }, "… visitors now");
  const tiles = h("div.tiles", metrics.map((m) => h("div.tile.skeleton", h("span.label", m[1]))));
  const chart = h("div.card.chart-card", h("p.muted", "Loading the time series…"));
  const grid = h("div.panels");
  const empty = h("div");

  replace(main,
    h("div.toolbar",
      h("h1", "Dashboard"),
      sourcePicker(q.get("source"), (id) => go(withParam(q, { source: id || null }))),
      rangePicker(q, r),
      h("label.inline", h("input#compare", { type: "checkbox", checked: compare, onchange: (e) => go(withParam(q, { cmp: e.target.checked ? "1" : null })) }), " Compare to previous period"),
      link("/ui/events?live=1" + (q.get("source") ? "&source=" + encodeURIComponent(q.get("source")) : ""), live)),
    chips(q, filters),
    empty, tiles, chart, grid);

  const stops = [];
  const refreshLive = async () => {
    try {
      const p = new URLSearchParams({ minutes: "5" });
      if (q.get("source")) p.set("source", q.get("source"));
      for (const [k, v] of filtersOf(q)) if (k.startsWith("filter.")) p.append(k, v);
      const rt = await get("/stats/realtime", p);
      live.textContent = num(rt.visitors) + (rt.visitors === 1 ? " visitor now" : " visitors now");
    } catch {
      live.textContent = "visitors now: unavailable";
    }
  };

  const summary = get("/stats/summary", params).then((s) => {
    replace(tiles, metrics.map((m) => tile(q, m, s.metrics[m[0]], s.previous.metrics[m[0]], m === metric, m[0] === "visitors" && s.metrics.visitors_estimated)));
    performance.mark("dashboard-tiles");
    if (s.metrics.events === 0 && filters.length === 0) {
      replace(empty, notice("info",
        h("strong", "No events in this range yet. "),
        "Create a source, paste its snippet into your site or send events to the collector, and they appear here within seconds. ",
        link("/ui/sources", "Go to sources")));
    }
  }).catch((e) => replace(tiles, notice("error", "Summary: " + e.message)));

  const seriesP = get("/stats/series", withInterval(params, interval));
  const prevP = compare ? get("/stats/series", previousRange(params, r, interval)) : Promise.resolve(null);
  const series = Promise.all([seriesP, prevP]).then(([cur, prev]) => {
    const labels = cur.points.map((p) => label(p.t, interval));
    replace(chart,
      h("div.chart-head",
        h("div.seg", { role: "group", "aria-label": "Metric" }, metrics.map((m) =>
          h("button.seg-item", { type: "button", "aria-pressed": String(m === metric), onclick: () => go(withParam(q, { metric: m[0] })) }, m[1]))),
        h("label.inline", "Interval ",
          h("select#interval", { onchange: (e) => go(withParam(q, { interval: e.target.value })) },
            Object.keys(bucketMs).map((iv) => h("option", {
              value: iv, selected: iv === interval, disabled: (r.to - r.from) / bucketMs[iv] > 2000,
            }, iv))))),
      lineChart({
        labels, values: cur.points.map((p) => p[metric[0]]),
        compare: prev ? prev.points.map((p) => p[metric[0]]) : null,
        format: metric[2], title: metric[1] + " per " + interval, integer: metric[2] === num,
      }),
      compare ? h("p.legend", h("span.key.cur"), " this period ", h("span.key.prev"), " previous period") : null);
    performance.mark("dashboard-chart");
  }).catch((e) => replace(chart, notice("error", "Time series: " + e.message)));

  // The live figure waits for the tiles and the chart: the API runs two
  // statistics requests of a user at once, and those come first.
  Promise.allSettled([summary, series]).then(refreshLive);
  const timer = setInterval(refreshLive, 15000);
  stops.push(() => clearInterval(timer));

  const boards = panels.map(([key, title, dims]) => {
    const card = h("section.card.panel", { "aria-label": title });
    grid.append(card);
    return breakdownPanel(card, q, params, key, title, dims);
  });

  await Promise.allSettled([summary, series, ...boards]);
  performance.mark("dashboard-ready");
  return () => stops.forEach((f) => f());
}

function withInterval(params, interval) {
  const p = new URLSearchParams(params);
  p.set("interval", interval);
  return p;
}

function previousRange(params, r, interval) {
  const p = withInterval(params, interval);
  p.set("from", new Date(r.from - (r.to - r.from)).toISOString());
  p.set("to", new Date(r.from).toISOString());
  return p;
}

function label(t, interval) {
  const d = new Date(t).toISOString();
  if (interval === "minute" || interval === "hour") return d.slice(5, 16).replace("T", " ");
  return d.slice(0, 10);
}

// tile is one KPI; estimated marks a figure the API took from its rollups'
// visitor sketches (measured within 1.5% for totals and series, up to 4.4% for breakdowns).
function tile(q, [key, name, format], cur, prev, selected, estimated) {
  let change = "–", cls = "flat";
  if (prev > 0) {
    const r = (cur - prev) / prev;
    change = (r >= 0 ? "▲ " : "▼ ") + Math.abs(r * 100).toFixed(0) + "%";
    const good = key === "bounce_rate" ? r < 0 : r > 0;
    cls = r === 0 ? "flat" : good ? "up" : "down";
  } else if (cur > 0) {
    change = "new";
  }
  return h("button.tile", {
    type: "button", "aria-pressed": String(selected), "data-metric": key,
    title: "Previous period: " + format(prev || 0), onclick: () => go(withParam(q, { metric: key })),
  },
  h("span.label", name), h("span.value", { title: estimated ? "an estimate from the rollups, measured within 1.5% for totals and series, up to 4.4% for breakdowns" : null }, (estimated ? "≈ " : "") + format(cur)),
  h("span.change." + cls, change, h("span.sr", " against the previous period")));
}

function chips(q, filters) {
  if (!filters.length) return null;
  return h("div.chips", { "aria-label": "Filters" },
    filters.map(([k, v]) => {
      const name = k.replace(/^filter\./, "").replace(/^prop\./, "property ");
      const n = new URLSearchParams(q);
      n.delete(k);
      return h("span.chip", name + " is ", h("strong", v === "" ? "(none)" : v),
        h("button.chip-x", { type: "button", "aria-label": "Remove filter " + name, onclick: () => go("/ui/?" + n.toString()) }, "×"));
    }),
    filters.length > 1 ? h("button.link", {
      type: "button", onclick: () => {
        const n = new URLSearchParams(q);
        for (const [k] of filters) n.delete(k);
        go("/ui/?" + n.toString());
      },
    }, "Clear all") : null);
}

function rangePicker(q, r) {
  const preset = q.get("range") || "7d";
  const sel = h("select#range", { "aria-label": "Date range", onchange: (e) => go(withParam(q, { range: e.target.value, interval: null })) },
    presets.map(([k, name]) => h("option", { value: k, selected: k === preset }, name)));
  if (preset !== "custom") return sel;
  const from = h("input#from", { type: "date", value: isoDate(r.from), "aria-label": "From" });
  const to = h("input#to", { type: "date", value: isoDate(r.to - DAY), "aria-label": "To" });
  const apply = () => go(withParam(q, { from: from.value, to: to.value, interval: null }));
  from.addEventListener("change", apply);
  to.addEventListener("change", apply);
  return h("span.range", sel, from, "–", to);
}

async function breakdownPanel(card, q, params, key, title, dims) {
  const tabKey = "tab." + key;
  const dim = dims.find((d) => d[0] === q.get(tabKey)) || dims[0];
  const prop = q.get("property") || "";
  const head = h("div.panel-head", h("h2", title),
    h("div.tabs", { role: "tablist" }, dims.map((d) =>
      h("button.tab", { type: "button", role: "tab", "aria-selected": String(d === dim), onclick: () => go(withParam(q, { [tabKey]: d[0] === dims[0][0] ? null : d[0] })) }, d[1]))));
  const body = h("div.rows", h("p.muted", "Loading…"));
  replace(card, head, body);
  if (key === "locations") {
    // The default GeoIP database (DB-IP Lite, CC BY 4.0) asks for this
    // link wherever its results are shown.
    card.append(h("p.muted", h("a", { href: "https://db-ip.com", target: "_blank", rel: "noopener" }, "IP Geolocation by DB-IP")));
  }
  const p = new URLSearchParams(params);
  p.set("limit", "10");
  if (dim[0] === "property") {
    const input = h("input#property-key", { value: prop, placeholder: "property key, e.g. plan", "aria-label": "Property key" });
    const form = h("form.inline-form", { onsubmit: (e) => { e.preventDefault(); go(withParam(q, { property: input.value || null })); } },
      input, h("button.secondary", { type: "submit" }, "Show"));
    head.append(form);
    if (!prop) {
      replace(body, h("p.muted", "Name a property key to see its values."));
      return;
    }
    p.set("dimension", "property");
    p.set("property", prop);
  } else {
    p.set("dimension", dim[0]);
  }
  try {
    const b = await get("/stats/breakdown", p);
    if (!b.rows.length) {
      replace(body, h("p.muted", "No data for this range and filter."));
      return;
    }
    const max = Math.max(...b.rows.map((x) => x.visitors), 1);
    // Entry and exit rows filter by the page itself.
    const filterKey = dim[0] === "property" ? "prop." + prop : "filter." + (dim[0].endsWith("_page") ? "page" : dim[0]);
    const counted = dim[0].endsWith("_page") ? "Sessions" : "Events";
    replace(body,
      h("div.row.header", h("span", dim[1]), h("span.n", { title: b.visitors_estimated ? "estimates from the rollups, measured within 1.5% for totals and series, up to 4.4% for breakdowns" : null }, b.visitors_estimated ? "≈ Visitors" : "Visitors"), h("span.n", counted)),
      b.rows.map((row) => h("button.row", {
        type: "button", "data-dim": dim[0], "data-value": row.value,
        title: "Filter everything by " + dim[1].toLowerCase() + " = " + (row.value || "(none)"),
        onclick: () => go(withParam(q, { [filterKey]: row.value })),
      },
      h("span.bar", { "data-w": Math.round((100 * row.visitors) / max) }),
      h("span.v", row.value === "" ? "(none)" : row.value),
      h("span.n", num(row.visitors)), h("span.n", num(row.events)))));
    // Bar widths through the CSSOM: the CSP forbids inline style attributes.
    for (const bar of body.querySelectorAll(".bar")) bar.style.width = bar.dataset.w + "%";
  } catch (e) {
    replace(body, notice("error", e.message));
  }
}
