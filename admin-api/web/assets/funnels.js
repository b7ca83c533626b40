// Funnels: ordered steps (an event type, optionally on one page path),
// visitors reaching each within a window, conversion and drop-off.

import { h, replace, notice, field, num, pct } from "./dom.js";
import { get } from "./api.js";
import { go } from "./app.js";
import { sourcePicker } from "./sources.js";
import { presets, rangeOf } from "./dashboard.js";

export async function funnelScreen(main, q) {
  const steps = q.getAll("step");
  const list = h("ol.steps");
  const addStep = (v = "") => {
    const input = h("input.step", { value: v, placeholder: "signup or page-view@/pricing", "aria-label": "Step" });
    const li = h("li", input, h("button.secondary", { type: "button", "aria-label": "Remove step", onclick: () => li.remove() }, "Remove"));
    list.append(li);
  };
  (steps.length ? steps : ["page-view", ""]).forEach(addStep);
  let source = q.get("source") || "";
  const windowSel = h("select#funnel-window", [["30m", "30 minutes"], ["1h", "1 hour"], ["24h", "1 day"], ["168h", "7 days"]].map(([v, l]) =>
    h("option", { value: v, selected: v === (q.get("window") || "24h") }, l)));
  const range = h("select#funnel-range", presets.filter(([k]) => k !== "custom").map(([k, name]) =>
    h("option", { value: k, selected: k === (q.get("range") || "7d") }, name)));
  const props = h("input#funnel-props", {
    value: [...q.entries()].filter(([k]) => k.startsWith("prop.")).map(([k, v]) => k.slice(5) + "=" + v).join(" "),
    placeholder: "plan=pro",
  });
  const result = h("div#funnel-result", { "aria-live": "polite" });
  replace(main,
    h("div.toolbar", h("h1", "Funnels")),
    h("form.card", {
      onsubmit: (e) => {
        e.preventDefault();
        const n = new URLSearchParams();
        if (source) n.set("source", source);
        for (const i of list.querySelectorAll("input.step")) if (i.value.trim()) n.append("step", i.value.trim());
        n.set("window", windowSel.value);
        for (const kv of props.value.split(/\s+/).filter(Boolean)) {
          const i = kv.indexOf("=");
          if (i > 0) n.append("prop." + kv.slice(0, i), kv.slice(i + 1));
        }
        if (range.value !== "7d") n.set("range", range.value);
        go("/ui/funnels?" + n.toString());
      },
    },
    h("p.muted", "Each step is an event type, or type@/path for a page. A visitor counts at a step when they did every earlier step in order, within the window of the first."),
    list,
    h("div.actions", h("button.secondary#add-step", { type: "button", onclick: () => addStep() }, "Add step")),
    h("div.form-row", field("Source", sourcePicker(source, (v) => (source = v))), field("Window", windowSel), field("Range", range),
      field("Only events with properties", props),
      h("button#funnel-run", { type: "submit" }, "Show funnel"))),
    result);
  if (steps.length < 2) {
    replace(result, notice("info", "Give at least two steps."));
    return;
  }
  const r = rangeOf(q);
  try {
    const p = new URLSearchParams({ window: q.get("window") || "24h", from: new Date(r.from).toISOString(), to: new Date(r.to).toISOString() });
    for (const st of steps) p.append("step", st);
    if (source) p.set("source", source);
    for (const [k, v] of q.entries()) if (k.startsWith("prop.")) p.append(k, v);
    const f = await get("/stats/funnel", p);
    const top = Math.max(f.steps[0].visitors, 1);
    replace(result, h("section.card", h("h2", "Conversion"),
      h("ol.funnel", f.steps.map((s, i) => {
        const bar = h("span.fbar");
        bar.style.width = Math.max(1, (100 * s.visitors) / top) + "%";
        return h("li",
          h("div.fhead", h("strong", (i + 1) + ". " + s.step), h("span", num(s.visitors) + " visitors · " + pct(s.conversion) + " of step 1")),
          h("div.ftrack", bar),
          i > 0 ? h("p.muted.drop", "Drop-off from the previous step: " + pct(1 - s.step_conversion)) : null);
      }))));
  } catch (e) {
    replace(result, notice("error", e.message));
  }
}
