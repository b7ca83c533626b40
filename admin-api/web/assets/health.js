// Pipeline health: what is flowing and what is stuck, from
// GET /api/v1/system/health, refreshed every 15 seconds.

import { h, replace, notice, num, when } from "./dom.js";
import { get } from "./api.js";
import { link } from "./app.js";
import { lineChart } from "./chart.js";

export async function healthScreen(main) {
  const body = h("div#health", h("p.muted", "Loading…"));
  replace(main, h("div.toolbar", h("h1", "Pipeline health")), body);
  const load = async () => {
    try {
      render(body, await get("/system/health"));
    } catch (e) {
      replace(body, notice("error", e.message));
    }
  };
  await load();
  const t = setInterval(load, 15000);
  return () => clearInterval(t);
}

function render(body, x) {
  const k = x.kafka, st = x.storage, c = x.counters, r = x.rates;
  const fresh = st.freshness_seconds === null || st.freshness_seconds === undefined ? "nothing stored today" : ago(st.freshness_seconds);
  const hist = x.history || [];
  const deltas = (key) => hist.slice(1).map((p, i) => Math.max(0, p[key] - hist[i][key]));
  const labels = hist.slice(1).map((p) => when(p.t).slice(11, 16));
  replace(body,
    h("div.status." + x.status, { role: "status" },
      h("strong", x.status === "ok" ? "Everything is flowing" : x.status === "degraded" ? "Degraded" : "Down"),
      x.problems.length ? h("ul", x.problems.map((p) => h("li", p))) : null),
    h("div.tiles",
      tile("Accepted", c.ingest_visible ? num(c.accepted) : "–", c.ingest_visible ? (r ? num(r.accepted_per_second) + "/s" : "since start") : "ingest runs in another process"),
      tile("Rejected", c.ingest_visible ? num(c.rejected) : "–", c.ingest_visible ? (r ? num(r.rejected_per_second) + "/s" : "since start") : "see ingest's /metrics"),
      tile("Produced to Kafka", num(k.events_produced), r ? num(r.events_produced_per_second) + "/s" : k.partitions + " partitions"),
      tile("Consumer lag", num(k.lag), "events not yet stored (" + (k.consumer_group || "no group") + ")"),
      tile("Freshness", fresh, st.newest_received_at ? "newest stored event received " + when(st.newest_received_at) : ""),
      tile("Dead letters", num(k.dead_letters), r ? num(r.dead_letters_per_minute) + "/min inflow" : "parked")),
    hist.length > 2 ? h("div.panels",
      h("section.card", h("h2", "Events produced per 15 s"), lineChart({ labels, values: deltas("events_produced"), format: num, integer: true, title: "Events produced per 15 seconds" })),
      h("section.card", h("h2", "Consumer lag"), lineChart({ labels, values: hist.slice(1).map((p) => p.lag), format: num, integer: true, title: "Consumer lag" }))) :
      h("p.muted", "Rates and charts appear after the first minute (a sample every 15 s)."),
    h("div.panels",
      h("section.card", h("h2", "Rejected by reason"), reasons(c.rejected_by_reason, c.ingest_visible, "Rejections are counted by each ingest process; this process runs none.")),
      h("section.card", h("h2", "Dead letters by reason"), reasons(c.dead_letters_by_reason, c.processor_visible, "Counted by each processor; this process runs none."), link("/ui/dlq", "Inspect and replay dead letters")),
      h("section.card", h("h2", "Lag by partition"), Object.keys(k.lag_by_partition || {}).length
        ? h("table", h("tbody", Object.entries(k.lag_by_partition).map(([p, n]) => h("tr", h("td", "partition " + p), h("td.n", num(n))))))
        : h("p.muted", k.reachable ? "No committed offsets yet." : "Kafka is not answering."))),
    h("p.muted", "Counters are since this process started. Kafka errors: ", k.error || "none", ". ClickHouse errors: ", st.error || "none", ". Checked ", when(x.time), "."));
}

function reasons(m, visible, hidden) {
  if (!visible) return h("p.muted", hidden);
  const rows = Object.entries(m || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  if (!rows.length) return h("p.muted", "None since start.");
  return h("table", h("tbody", rows.map(([r, n]) => h("tr", h("td", r || "(none)"), h("td.n", num(n))))));
}

function tile(label, value, sub) {
  return h("div.tile", h("span.label", label), h("span.value", value), h("span.change.flat", sub));
}

function ago(sec) {
  if (sec < 1) return "under 1 s";
  if (sec < 120) return Math.round(sec) + " s ago";
  if (sec < 7200) return Math.round(sec / 60) + " min ago";
  return Math.round(sec / 3600) + " h ago";
}
