// Sources: list, create (browser or server), settings, key rotation and
// disabling; a new source's page teaches the installation and waits live
// for its first event.

import { h, replace, notice, field, copyButton, when, num } from "./dom.js";
import { get, post, patch } from "./api.js";
import { go, link, isAdmin } from "./app.js";

let cached = null;

// listSources returns the sources, fetched once per page load.
export async function listSources(fresh = false) {
  if (!cached || fresh) cached = get("/sources").then((r) => r.sources);
  return cached;
}

let info = null;
// systemInfo is the API's description of the installation (the public
// collector's URL for snippets).
export function systemInfo() {
  if (!info) info = get("/system/info").catch(() => ({ collector_url: "" }));
  return info;
}

// sourcePicker is a select of every source, "" meaning all of them.
export function sourcePicker(current, onChange) {
  const sel = h("select#source", { "aria-label": "Source", onchange: (e) => onChange(e.target.value) },
    h("option", { value: "" }, "All sources"));
  listSources().then((list) => {
    for (const s of list) sel.append(h("option", { value: s.id, selected: s.id === current }, s.name + (s.enabled ? "" : " (disabled)")));
    if (current && !list.some((s) => s.id === current)) sel.append(h("option", { value: current, selected: true }, current));
  }).catch(() => {});
  return sel;
}

export async function sourcesScreen(main, q) {
  const id = location.pathname.split("/")[3];
  if (id) return sourceDetail(main, decodeURIComponent(id), q);
  const list = await listSources(true);
  replace(main,
    h("div.toolbar", h("h1", "Sources")),
    isAdmin() ? createForm() : null,
    list.length === 0
      ? notice("info", "No sources yet. A source is a site or server that sends events; each gets an id (browser) or a secret write key (server).")
      : h("div.table-wrap", h("table",
        h("thead", h("tr", h("th", "Name"), h("th", "Kind"), h("th", "Id"), h("th", "Status"), h("th", "Created"))),
        h("tbody", list.map((s) => h("tr",
          h("td", link("/ui/sources/" + encodeURIComponent(s.id), s.name)),
          h("td", s.kind), h("td", h("code", s.id)),
          h("td", s.enabled ? "enabled" : "disabled"), h("td", when(s.created_at))))))));
}

function createForm() {
  const name = h("input#new-source-name", { required: true, maxlength: "200", placeholder: "My shop" });
  const kind = h("select#new-source-kind", h("option", { value: "browser" }, "Browser (public id, for websites)"), h("option", { value: "server" }, "Server (secret write key)"));
  const msg = h("div", { "aria-live": "polite" });
  return h("form.card.create", {
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        const s = await post("/sources", { name: name.value, kind: kind.value });
        await listSources(true);
        // The write key is shown once: the next screen gets it through
        // the history entry's state, never the URL.
        go("/ui/sources/" + encodeURIComponent(s.id), { state: { writeKey: s.write_key || "" } });
      } catch (err) {
        replace(msg, notice("error", err.message));
      }
    },
  }, h("h2", "New source"), h("div.form-row", field("Name", name), field("Kind", kind), h("button#create-source", { type: "submit" }, "Create")), msg);
}

async function sourceDetail(main, id, q) {
  const [s, sys] = await Promise.all([get("/sources/" + encodeURIComponent(id)), systemInfo()]);
  const writeKey = (history.state && history.state.writeKey) || "";
  const collector = sys.collector_url || location.protocol + "//" + location.hostname + ":8080";
  const stops = [];
  const count = h("span#first-event", { "aria-live": "polite" }, "checking…");
  const poll = async () => {
    try {
      const c = await get("/events/count", { source: s.id });
      if (c.count > 0) {
        replace(count, h("strong.ok", "✓ " + num(c.count) + " events received. "), link("/ui/?source=" + encodeURIComponent(s.id), "Open the dashboard"));
        return true;
      }
      replace(count, h("span.pulse", "● "), "Waiting for the first event…");
    } catch (e) {
      count.textContent = "Could not check: " + e.message;
    }
    return false;
  };
  poll().then((done) => {
    if (done) return;
    const t = setInterval(async () => { if (await poll()) clearInterval(t); }, 2000);
    stops.push(() => clearInterval(t));
  });

  replace(main,
    h("div.toolbar", h("h1", s.name), h("span.badge", s.kind), h("span.badge" + (s.enabled ? ".ok" : ".bad"), s.enabled ? "enabled" : "disabled"),
      link("/ui/sources", "All sources")),
    writeKey ? h("div.card.secret", { role: "status" },
      h("h2", "Write key (shown once)"),
      h("p", "Store it now: only its digest is kept, and it cannot be shown again. Rotate it if it leaks."),
      h("div.copy-row", h("code#write-key", writeKey), copyButton(writeKey))) : null,
    h("section.card", h("h2", "Install"), snippet(s, collector, writeKey), h("p", "First event: ", count)),
    settingsForm(s),
    h("p.muted", "Id ", h("code", s.id), " · created ", when(s.created_at), " · updated ", when(s.updated_at)));
  // Forget the key, so going back or reloading does not show it again.
  if (writeKey) history.replaceState(null, "", location.pathname);
  return () => stops.forEach((f) => f());
}

function snippet(s, collector, writeKey) {
  if (s.kind === "server") {
    const key = writeKey || "<write key>";
    const text = "curl -X POST " + collector + "/v1/track \\\n  -u '" + key + ":' -H 'Content-Type: application/json' \\\n" +
      "  -d '{\"event\":\"Signed Up\",\"userId\":\"user-1\",\"properties\":{\"plan\":\"pro\"}}'";
    return h("div", h("p", "Send events from your server with the write key as the HTTP Basic username (what Segment libraries do):"),
      h("pre.snippet#snippet", text), copyButton(text, "Copy command"));
  }
  const tag = '<script defer src="' + collector + '/ts.js" data-source="' + s.id + '"></script>';
  const curl = "curl -X POST " + collector + "/track -H 'Content-Type: application/json' \\\n" +
    "  -d '{\"source\":{\"id\":\"" + s.id + "\"},\"session\":{\"id\":\"s-1\"},\"events\":[{\"type\":\"page-view\",\"context\":{\"page\":{\"url\":\"https://example.com/\"}}}]}'";
  return h("div",
    h("p", "Paste this into every page, before </body>:"), h("pre.snippet#snippet", tag), copyButton(tag, "Copy snippet"),
    h("p", "Or send a test event now:"), h("pre.snippet", curl), copyButton(curl, "Copy command"));
}

function settingsForm(s) {
  const admin = isAdmin();
  const dis = !admin;
  const name = h("input#source-name", { value: s.name, disabled: dis, maxlength: "200" });
  const origins = h("textarea#source-origins", { rows: "3", disabled: dis, placeholder: "https://shop.example\nhttps://*.example.com" });
  origins.value = (s.allowed_origins || []).join("\n");
  const ip = h("select#source-ip", { disabled: dis }, ["truncate", "keep", "drop"].map((v) => h("option", { value: v, selected: s.ip_policy === v }, v)));
  const unknown = h("select#source-unknown", { disabled: dis }, ["accept", "reject"].map((v) => h("option", { value: v, selected: s.unknown_event_types === v }, v)));
  const rate = h("input#source-rate", { type: "number", min: "0", max: "1000000", value: String(s.rate_limit), disabled: dis });
  const msg = h("div", { "aria-live": "polite" });
  const save = async (e) => {
    e.preventDefault();
    try {
      await patch("/sources/" + encodeURIComponent(s.id), {
        name: name.value, allowed_origins: origins.value.split(/\s+/).filter(Boolean),
        ip_policy: ip.value, unknown_event_types: unknown.value, rate_limit: Number(rate.value),
      });
      await listSources(true);
      replace(msg, notice("ok", "Saved. Every collector applies it within seconds."));
    } catch (err) {
      replace(msg, notice("error", err.message));
    }
  };
  const action = (label, path, confirmText, after) => h("button.secondary", {
    type: "button",
    onclick: async () => {
      if (!confirm(confirmText)) return;
      try {
        const r = await post("/sources/" + encodeURIComponent(s.id) + path, {});
        await listSources(true);
        after(r);
      } catch (err) {
        replace(msg, notice("error", err.message));
      }
    },
  }, label);
  return h("form.card", { onsubmit: save },
    h("h2", "Settings"),
    field("Name", name),
    field("Allowed origins", origins, "One per line. Empty allows every origin. Browsers from other origins are refused with 403."),
    h("div.form-row",
      field("IP addresses", ip, "truncate: IPv4 /24, IPv6 /48 (default)"),
      field("Unknown event types", unknown, "types without a schema"),
      field("Rate limit", rate, "requests per second per collector; 0 is unlimited")),
    msg,
    admin ? h("div.actions",
      h("button#save-source", { type: "submit" }, "Save"),
      s.kind === "server" ? action("Rotate write key", "/rotate-key", "Rotate the write key? The old key stops working at once.", (r) => {
        go(location.pathname, { replaceState: true, state: { writeKey: r.write_key } });
      }) : null,
      s.enabled ? action("Disable", "/disable", "Disable this source? Collectors refuse its events.", () => go(location.pathname, { replaceState: true }))
        : h("button.secondary", { type: "button", onclick: async () => { await patch("/sources/" + encodeURIComponent(s.id), { enabled: true }); await listSources(true); go(location.pathname, { replaceState: true }); } }, "Enable"))
      : h("p.muted", "Only admins change sources."));
}
