// Users and API tokens (admins only; the API refuses viewers anyway).

import { h, replace, notice, field, copyButton, when } from "./dom.js";
import { get, post, patch, del } from "./api.js";
import { go, session } from "./app.js";

export async function adminScreen(main) {
  const [users, tokens] = await Promise.all([get("/users"), get("/tokens")]);
  const msg = h("div", { "aria-live": "polite" });
  const reload = () => go(location.pathname, { replaceState: true });
  const act = (f) => async () => {
    try {
      await f();
      reload();
    } catch (e) {
      replace(msg, notice("error", e.message));
    }
  };
  replace(main,
    h("div.toolbar", h("h1", "Users & API tokens")),
    msg,
    h("section.card",
      h("h2", "Users"),
      h("div.table-wrap", h("table#users",
        h("thead", h("tr", h("th", "Name"), h("th", "Role"), h("th", "Status"), h("th", "Password changed"), h("th", "Actions"))),
        h("tbody", users.users.map((u) => h("tr",
          h("td", u.name), h("td", u.role), h("td", u.disabled ? "disabled" : "active"), h("td", when(u.password_changed_at)),
          h("td.actions", u.name === session.me.user ? h("span.muted", "you") : [
            h("button.secondary", { type: "button", onclick: act(() => patch("/users/" + encodeURIComponent(u.name), { role: u.role === "admin" ? "viewer" : "admin" })) },
              u.role === "admin" ? "Make viewer" : "Make admin"),
            h("button.secondary", { type: "button", onclick: act(() => patch("/users/" + encodeURIComponent(u.name), { disabled: !u.disabled })) },
              u.disabled ? "Enable" : "Disable"),
            h("button.secondary", {
              type: "button", onclick: act(async () => {
                const pw = prompt("New password for " + u.name + " (at least 12 characters):");
                if (pw) await post("/users/" + encodeURIComponent(u.name) + "/password", { password: pw });
              }),
            }, "Set password"),
          ])))))),
      userForm(msg, reload)),
    h("section.card",
      h("h2", "API tokens"),
      h("p.muted", "For automation: send Authorization: Bearer <token>. A token never does more than its owner."),
      h("div#new-token"),
      h("div.table-wrap", h("table#tokens",
        h("thead", h("tr", h("th", "Name"), h("th", "Owner"), h("th", "Scope"), h("th", "Created"), h("th", "Expires"), h("th", "Status"), h("th", "Actions"))),
        h("tbody", tokens.tokens.map((t) => h("tr",
          h("td", t.name), h("td", t.owner), h("td", t.scope), h("td", when(t.created_at)), h("td", t.expires_at ? when(t.expires_at) : "never"),
          h("td", t.revoked ? "revoked" : "active"),
          h("td", t.revoked ? null : h("button.secondary", { type: "button", onclick: act(() => { if (confirm("Revoke token " + t.name + "?")) return del("/tokens/" + encodeURIComponent(t.id)); }) }, "Revoke"))))))),
      tokenForm(msg, main)));
}

function userForm(msg, reload) {
  const name = h("input#new-user-name", { required: true, autocomplete: "off" });
  const role = h("select#new-user-role", h("option", { value: "viewer" }, "viewer"), h("option", { value: "admin" }, "admin"));
  const pw = h("input#new-user-password", { type: "password", required: true, autocomplete: "new-password" });
  return h("form.create", {
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        await post("/users", { name: name.value, role: role.value, password: pw.value });
        reload();
      } catch (err) {
        replace(msg, notice("error", err.message));
      }
    },
  }, h("h3", "Add a user"), h("div.form-row", field("Name", name), field("Role", role), field("Password", pw, "at least 12 characters"), h("button#create-user", { type: "submit" }, "Add user")));
}

function tokenForm(msg, main) {
  const name = h("input#new-token-name", { required: true, placeholder: "grafana" });
  const scope = h("select#new-token-scope", h("option", { value: "read" }, "read"), h("option", { value: "admin" }, "admin"));
  const exp = h("select#new-token-expiry", [["720h", "30 days"], ["2160h", "90 days"], ["8760h", "1 year"], ["", "never"]].map(([v, l]) => h("option", { value: v }, l)));
  return h("form.create", {
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        const t = await post("/tokens", { name: name.value, scope: scope.value, expires_in: exp.value });
        replace(main.querySelector("#new-token"), h("div.card.secret", { role: "status" },
          h("h3", "Token " + t.name + " (shown once)"),
          h("div.copy-row", h("code#token-secret", t.token), copyButton(t.token))));
        name.value = "";
      } catch (err) {
        replace(msg, notice("error", err.message));
      }
    },
  }, h("h3", "Create a token"), h("div.form-row", field("Name", name), field("Scope", scope), field("Expires", exp), h("button#create-token", { type: "submit" }, "Create token")));
}
