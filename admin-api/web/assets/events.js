// Events explorer (newest first, cursor paging, an event's full JSON, a
// live tail of one source), a session's detail and a profile's timeline.
// Event data is attacker-controlled (the collector is public): it is only
// ever shown as text, and never becomes a link target.

import { h, replace, notice, field, json, when, duration, num } from "./dom.js";
import { get } from "./api.js";
import { go, link } from "./app.js";
import { sourcePicker } from "./sources.js";
import { presets, rangeOf } from "./dashboard.js";

const searchKeys = ["source", "type", "profile", "session", "bots"];

function apiQuery(q) {
  const p = new URLSearchParams();
  for (const k of searchKeys) if (q.get(k)) p.set(k, q.get(k));
  for (const [k, v] of q.entries()) if (k.startsWith("prop.") || k.startsWith("filter.")) p.append(k, v);
  const r = rangeOf(q);
  p.set("from", new Date(r.from).toISOString());
  if (!q.get("live")) p.set("to", new Date(Math.min(r.to, Date.now() + 60000)).toISOString());
  return p;
}

export async function eventsScreen(main, q) {
  const live = q.get("live") === "1";
  const detail = h("aside.detail#event-detail", { "aria-live": "polite" }, h("p.muted", "Select an event to see all of it."));
  const tbody = h("tbody");
  const more = h("div.more");
  const status = h("p.muted#events-status");
  const stops = [];
  replace(main,
    h("div.toolbar", h("h1", "Events"), live ? h("span.badge.ok", h("span.pulse", "● "), "live") : null),
    searchForm(q),
    status,
    h("div.split",
      h("div.table-wrap", h("table.events",
        h("thead", h("tr", h("th", "Time (UTC)"), h("th", "Type"), h("th", "Page"), h("th", "Visitor"), h("th", "Source"))),
        tbody), more),
      detail));

  const seen = new Set();
  const addRows = (events, atTop) => {
    const rows = [];
    for (const e of events) {
      const key = e.source_id + "\u0000" + e.event_id;
      if (seen.has(key)) continue;
      seen.add(key);
      rows.push(eventRow(e, detail));
    }
    if (atTop) tbody.prepend(...rows);
    else tbody.append(...rows);
    return rows.length;
  };

  const params = apiQuery(q);
  const loadPage = async (cursor) => {
    const p = new URLSearchParams(params);
    p.set("limit", "50");
    if (cursor) p.set("cursor", cursor);
    const r = await get("/events", p);
    addRows(r.events, false);
    replace(more, r.next_cursor ? h("button.secondary#load-more", { type: "button", onclick: () => loadPage(r.next_cursor) }, "Load older events") : null);
    status.textContent = seen.size === 0 ? "" : num(seen.size) + " events shown, newest first.";
    return r;
  };
  try {
    await loadPage("");
    if (seen.size === 0) {
      replace(status, live
        ? "Waiting for events… new ones appear here every two seconds."
        : "No events match. Widen the date range or remove a filter.");
    }
  } catch (e) {
    replace(status, notice("error", e.message));
  }
  if (live) {
    const t = setInterval(async () => {
      try {
        const p = new URLSearchParams(params);
        p.set("limit", "50");
        const r = await get("/events", p);
        const n = addRows(r.events.slice().reverse(), true);
        if (n) status.textContent = num(seen.size) + " events shown, newest first; live.";
      } catch (e) {
        replace(status, notice("error", "Live tail: " + e.message));
      }
    }, 2000);
    stops.push(() => clearInterval(t));
  }
  return () => stops.forEach((f) => f());
}

function searchForm(q) {
  const type = h("input#search-type", { value: q.get("type") || "", placeholder: "page-view" });
  const profile = h("input#search-profile", { value: q.get("profile") || "" });
  const session = h("input#search-session", { value: q.get("session") || "" });
  const prop = h("input#search-prop", {
    value: [...q.entries()].filter(([k]) => k.startsWith("prop.")).map(([k, v]) => k.slice(5) + "=" + v).join(" "),
    placeholder: "plan=pro",
  });
  const range = h("select#search-range", presets.filter(([k]) => k !== "custom").map(([k, name]) =>
    h("option", { value: k, selected: k === (q.get("range") || "7d") }, name)));
  let source = q.get("source") || "";
  const live = h("input#search-live", { type: "checkbox", checked: q.get("live") === "1" });
  return h("form.card.search", {
    onsubmit: (e) => {
      e.preventDefault();
      const n = new URLSearchParams();
      if (source) n.set("source", source);
      if (type.value) n.set("type", type.value.trim());
      if (profile.value) n.set("profile", profile.value.trim());
      if (session.value) n.set("session", session.value.trim());
      for (const kv of prop.value.split(/\s+/).filter(Boolean)) {
        const i = kv.indexOf("=");
        if (i > 0) n.append("prop." + kv.slice(0, i), kv.slice(i + 1));
      }
      if (range.value !== "7d") n.set("range", range.value);
      if (live.checked) n.set("live", "1");
      go("/ui/events?" + n.toString());
    },
  },
  h("div.form-row",
    field("Source", sourcePicker(source, (v) => (source = v))),
    field("Event type", type), field("Profile id", profile), field("Session id", session),
    field("Properties", prop), field("Range", range)),
  h("div.actions",
    h("button#search", { type: "submit" }, "Search"),
    h("label.inline", live, " Live tail (new events every 2 s)")));
}

function visitor(e) {
  return e.profile_id || e.anonymous_id || e.user_id || e.session_id || "";
}

function eventRow(e, detail) {
  const open = () => {
    for (const r of document.querySelectorAll("tr.selected")) r.classList.remove("selected");
    tr.classList.add("selected");
    showEvent(detail, e);
  };
  const tr = h("tr.clickable", {
    tabindex: "0", "data-event-id": e.event_id,
    onclick: open, onkeydown: (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); } },
  },
  h("td.nowrap", when(e.time)), h("td", h("code", e.type)), h("td.clip", e.path || e.url || e.name || ""),
  h("td.clip", visitor(e)), h("td.clip", e.source_id));
  return tr;
}

// showEvent fills the detail panel with one event: its key fields, links
// to its session and profile (built from ids, as in-app paths), and the
// whole event as JSON text.
export function showEvent(detail, e) {
  const day = 86400000;
  const t = Date.parse(e.time) || Date.now();
  const around = "?source=" + encodeURIComponent(e.source_id) + "&from=" + new Date(t - day).toISOString() + "&to=" + new Date(t + day).toISOString();
  replace(detail,
    h("h2", e.type),
    h("dl.kv",
      kv("Time", when(e.time)), kv("Received", when(e.received_at)), kv("Event id", e.event_id), kv("Source", e.source_id),
      kv("URL", e.url), kv("Referrer", e.referrer), kv("Country", e.country), kv("Browser", [e.browser, e.os, e.device].filter(Boolean).join(" · ")),
      e.bot ? kv("Bot", "yes") : null),
    h("p.links",
      e.session_id ? link("/ui/sessions/" + encodeURIComponent(e.session_id) + around, "Session " + e.session_id.slice(0, 24)) : null,
      e.profile_id ? link("/ui/profiles/" + encodeURIComponent(e.profile_id) + "?source=" + encodeURIComponent(e.source_id), "Profile timeline") : null),
    json(e));
}

function kv(k, v) {
  if (!v) return null;
  return [h("dt", k), h("dd", v)];
}

export async function sessionScreen(main, id) {
  const q = new URLSearchParams(location.search);
  const p = new URLSearchParams();
  for (const k of ["source", "from", "to"]) if (q.get(k)) p.set(k, q.get(k));
  if (!p.get("from")) p.set("from", new Date(Date.now() - 30 * 86400000).toISOString());
  const s = await get("/sessions/" + encodeURIComponent(id), p);
  const detail = h("aside.detail#event-detail", h("p.muted", "Select an event to see all of it."));
  replace(main,
    h("div.toolbar", h("h1", "Session"), h("code", id)),
    h("div.tiles",
      stat("Duration", duration(s.duration)), stat("Events", num(s.event_count)), stat("Pageviews", num(s.pageviews)),
      stat("Entry page", s.entry_page || "–"), stat("Exit page", s.exit_page || "–")),
    h("p", "From ", when(s.first), " to ", when(s.last), ". ",
      s.profile_id ? link("/ui/profiles/" + encodeURIComponent(s.profile_id), "Profile timeline") : null,
      s.truncated ? " Only the first 1000 events are shown." : null),
    h("div.split",
      h("ol.timeline#session-events", s.events.map((e) => h("li",
        h("button.row", { type: "button", onclick: () => showEvent(detail, e) },
          h("span.nowrap", when(e.time).slice(11)), " ", h("code", e.type), " ", h("span.clip", e.path || e.name || ""))))),
      detail));
}

export async function profileScreen(main, id) {
  const q = new URLSearchParams(location.search);
  const p = new URLSearchParams();
  if (q.get("source")) p.set("source", q.get("source"));
  p.set("from", new Date(Date.now() - 90 * 86400000).toISOString());
  p.set("limit", "200");
  const r = await get("/profiles/" + encodeURIComponent(id) + "/events", p);
  const detail = h("aside.detail#event-detail", h("p.muted", "Select an event to see all of it."));
  const bySession = new Map();
  for (const e of r.events) {
    const k = e.session_id || "(no session)";
    if (!bySession.has(k)) bySession.set(k, []);
    bySession.get(k).push(e);
  }
  replace(main,
    h("div.toolbar", h("h1", "Profile"), h("code", id)),
    h("p", num(r.events.length), " events in the last 90 days, newest first", r.next_cursor ? " (the newest 200)" : "", "."),
    h("div.split",
      h("div#profile-sessions", [...bySession].map(([sid, events]) => h("section.card",
        h("h2", sid === "(no session)" ? sid : link("/ui/sessions/" + encodeURIComponent(sid) + (q.get("source") ? "?source=" + encodeURIComponent(q.get("source")) : ""), "Session " + sid)),
        h("ol.timeline", events.map((e) => h("li", h("button.row", { type: "button", onclick: () => showEvent(detail, e) },
          h("span.nowrap", when(e.time)), " ", h("code", e.type), " ", h("span.clip", e.path || e.name || "")))))))),
      detail));
}

function stat(label, value) {
  return h("div.tile", h("span.label", label), h("span.value", value));
}
