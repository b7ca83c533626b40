// Dead letters: what the pipeline could not store, by reason and time;
// inspect one, replay the selected ones or everything matching the filter.

import { h, replace, notice, field, json, when, num } from "./dom.js";
import { get, post } from "./api.js";
import { go, isAdmin } from "./app.js";

export async function dlqScreen(main, q) {
  const reason = h("input#dlq-reason", { value: q.get("reason") || "", placeholder: "rejected_by_clickhouse" });
  const from = h("input#dlq-from", { type: "datetime-local", value: (q.get("from") || "").slice(0, 16) });
  const to = h("input#dlq-to", { type: "datetime-local", value: (q.get("to") || "").slice(0, 16) });
  const msg = h("div", { "aria-live": "polite" });
  const detail = h("aside.detail#dlq-detail", h("p.muted", "Select a dead letter to inspect it."));
  const params = {};
  for (const k of ["reason", "from", "to"]) if (q.get(k)) params[k] = q.get(k);
  const iso = (v) => (v ? new Date(v + "Z").toISOString() : "");
  replace(main,
    h("div.toolbar", h("h1", "Dead letters")),
    h("p.muted", "Events the processor could never store are parked in trackstream.events.dlq with the reason. Replaying sends them back to the events topic; storage deduplicates by event id, so a replay never counts twice."),
    h("form.card.search", {
      onsubmit: (e) => {
        e.preventDefault();
        const n = new URLSearchParams();
        if (reason.value) n.set("reason", reason.value);
        if (from.value) n.set("from", iso(from.value));
        if (to.value) n.set("to", iso(to.value));
        go("/ui/dlq?" + n.toString());
      },
    }, h("div.form-row", field("Reason contains", reason), field("From (UTC)", from), field("To (UTC)", to), h("button#dlq-search", { type: "submit" }, "Filter"))),
    msg);
  const r = await get("/dlq", { ...params, limit: 100 });
  const boxes = [];
  const tbody = h("tbody", r.dead_letters.map((d) => {
    const box = h("input", { type: "checkbox", value: d.id, "aria-label": "Select " + d.id, disabled: !isAdmin() });
    boxes.push(box);
    const open = async () => showLetter(detail, await get("/dlq/" + d.partition + "/" + d.offset));
    return h("tr", h("td", box),
      h("td", h("button.link", { type: "button", onclick: open, "data-dlq-id": d.id }, d.id)),
      h("td.nowrap", when(d.time)), h("td", d.reason), h("td", num(d.size) + " B"), h("td", d.replayed ? "replayed" : ""));
  }));
  const replay = async (body) => {
    try {
      const res = await post("/dlq/replay", body);
      replace(msg, notice("ok", "Replayed " + num(res.replayed.length) + ", skipped " + num(res.skipped.length) + " (replayed before). ",
        h("button.link", { type: "button", onclick: () => go(location.pathname + location.search, { replaceState: true }) }, "Refresh the list")));
      for (const b of boxes) {
        if (body.ids ? body.ids.includes(b.value) : true) {
          b.checked = false;
          b.closest("tr").lastChild.textContent = "replayed";
        }
      }
    } catch (e) {
      replace(msg, notice("error", e.message));
    }
  };
  main.append(
    r.dead_letters.length === 0
      ? notice("info", "No dead letters" + (Object.keys(params).length ? " match this filter." : ". Everything the pipeline accepted was stored."))
      : h("div.split",
        h("div",
          isAdmin() ? h("div.actions",
            h("button#replay-selected", { type: "button", onclick: () => {
              const ids = boxes.filter((b) => b.checked).map((b) => b.value);
              if (!ids.length) return replace(msg, notice("error", "Select dead letters first."));
              replay({ ids });
            } }, "Replay selected"),
            h("button.secondary#replay-filtered", { type: "button", onclick: () => {
              if (confirm("Replay every dead letter matching this filter (up to 1000)?")) replay({ reason: params.reason || "", from: params.from || "", to: params.to || "", limit: 1000 });
            } }, "Replay all matching")) : null,
          h("div.table-wrap", h("table#dead-letters",
            h("thead", h("tr", h("th", h("span.sr", "Select")), h("th", "Id"), h("th", "Time"), h("th", "Reason"), h("th", "Size"), h("th", ""))),
            tbody)),
          r.next_cursor ? h("p.muted", "More dead letters exist; narrow the filter to see them.") : null),
        detail));
}

function showLetter(detail, d) {
  replace(detail,
    h("h2", d.id),
    h("dl.kv", h("dt", "Reason"), h("dd", d.reason), h("dt", "Time"), h("dd", when(d.time)), h("dt", "Key"), h("dd", d.key || "")),
    h("h3", "Origin"), json(d.origin || {}),
    h("h3", "Value"), d.value !== undefined ? json(d.value) : h("pre.json", d.value_base64 || ""),
    d.truncated ? h("p.muted", "The value is truncated.") : null);
}
