// The trackstream GUI: a shell (navigation, login state) and a router over
// location.pathname below /ui/. Each screen is a module whose render
// function fills the main element and may return a stop function (for its
// timers), called when the screen is left.

import { h, replace, notice, field } from "./dom.js";
import { api, setCSRF, setUnauthorizedHandler, APIError } from "./api.js";
import { dashboard } from "./dashboard.js";
import { eventsScreen, sessionScreen, profileScreen } from "./events.js";
import { sourcesScreen } from "./sources.js";
import { adminScreen } from "./admin.js";
import { dlqScreen } from "./dlq.js";
import { funnelScreen } from "./funnels.js";
import { healthScreen } from "./health.js";

const root = document.getElementById("app");
export const session = { me: null };
let stopScreen = null;

const screens = [
  { path: "", label: "Dashboard", render: dashboard },
  { path: "events", label: "Events", render: eventsScreen },
  { path: "funnels", label: "Funnels", render: funnelScreen },
  { path: "sources", label: "Sources", render: sourcesScreen },
  { path: "dlq", label: "Dead letters", render: dlqScreen },
  { path: "health", label: "Pipeline", render: healthScreen },
  { path: "admin", label: "Users & tokens", render: adminScreen, admin: true },
];

// go navigates inside the GUI without a reload.
// state is kept in the history entry only (never in the URL): the
// sources screen hands a new write key to the next screen that way.
export function go(url, { replaceState = false, state = null } = {}) {
  if (replaceState) history.replaceState(state, "", url);
  else history.pushState(state, "", url);
  route();
}

// link is an in-app link: a real href (open in a new tab works) that
// navigates without a reload on a plain click.
export function link(url, ...children) {
  return h("a", {
    href: url,
    onclick: (e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      go(url);
    },
  }, ...children);
}

export const isAdmin = () => session.me && session.me.role === "admin";

function nav(current) {
  const items = screens.filter((s) => !s.admin || isAdmin()).map((s) => {
    const a = link("/ui/" + s.path, s.label);
    if (s.path === current) a.setAttribute("aria-current", "page");
    return h("li", a);
  });
  return h("header.top",
    h("nav", { "aria-label": "Main" },
      h("span.brand", "trackstream"),
      h("ul", items),
      h("span.who",
        link("/ui/account", session.me.user + " (" + session.me.role + ")"),
        h("button.secondary#logout", { type: "button", onclick: logout }, "Log out"))));
}

async function logout() {
  try {
    await api("POST", "/auth/logout", {});
  } catch {
    // the session may have ended already; the login screen follows anyway
  }
  session.me = null;
  setCSRF("");
  go("/ui/login");
}

async function loadMe() {
  try {
    const me = await api("GET", "/auth/me", undefined, { quiet401: true });
    session.me = me;
    setCSRF(me.csrf_token);
    return true;
  } catch (e) {
    if (e instanceof APIError && e.status === 401) return false;
    throw e;
  }
}

export async function route() {
  delete document.body.dataset.ready;
  if (stopScreen) {
    stopScreen();
    stopScreen = null;
  }
  const rest = location.pathname.replace(/^\/ui\/?/, "");
  if (rest === "login") return renderLogin();
  if (!session.me && !(await loadMe())) {
    const back = location.pathname + location.search;
    return go("/ui/login" + (back.startsWith("/ui/login") ? "" : "?next=" + encodeURIComponent(back)), { replaceState: true });
  }
  const [first, ...tail] = rest.split("/").map(decodeURIComponent);
  const main = h("main#main", { tabindex: "-1" });
  let screen = screens.find((s) => s.path === first);
  let render = screen && screen.render;
  if (first === "sessions" && tail[0]) render = (m) => sessionScreen(m, tail[0]);
  if (first === "profiles" && tail[0]) render = (m) => profileScreen(m, tail[0]);
  if (first === "account") render = accountScreen;
  if (screen && screen.admin && !isAdmin()) render = null;
  replace(root, nav(screen ? screen.path : first), main);
  if (!render) {
    replace(main, h("h1", "Not found"), h("p", "There is no such screen, or your role may not see it. "), link("/ui/", "Go to the dashboard"));
    document.body.dataset.ready = first;
    return;
  }
  try {
    stopScreen = (await render(main, new URLSearchParams(location.search))) || null;
  } catch (e) {
    main.append(notice("error", "Could not load this screen: " + e.message));
  }
  // Tests and screenshots wait for this: the screen has its data.
  document.body.dataset.ready = first || "dashboard";
}

function renderLogin() {
  const user = h("input#username", { name: "username", autocomplete: "username", required: true, value: "admin" });
  const pass = h("input#password", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const msg = h("div", { "aria-live": "polite" });
  const form = h("form.card.login", { onsubmit: submit },
    h("h1", "Sign in to trackstream"),
    field("User", user),
    field("Password", pass),
    msg,
    h("button#login", { type: "submit" }, "Sign in"),
    h("p.hint", "The first start printed the admin password once; TRACKSTREAM_ADMIN_PASSWORD sets it."));
  replace(root, h("main#main", form));
  (user.value ? pass : user).focus();
  document.body.dataset.ready = "login";

  async function submit(e) {
    e.preventDefault();
    replace(msg);
    try {
      const r = await api("POST", "/auth/login", { username: user.value, password: pass.value, cookie: true }, { quiet401: true });
      setCSRF(r.csrf_token);
      session.me = { user: r.user, role: r.role };
      const next = new URLSearchParams(location.search).get("next");
      go(next && next.startsWith("/ui/") && !next.startsWith("/ui/login") ? next : "/ui/", { replaceState: true });
    } catch (err) {
      replace(msg, notice("error", err.message));
      pass.select();
    }
  }
}

function accountScreen(main) {
  const cur = h("input#current-password", { type: "password", autocomplete: "current-password", required: true });
  const next = h("input#new-password", { type: "password", autocomplete: "new-password", required: true, minlength: "12" });
  const msg = h("div", { "aria-live": "polite" });
  replace(main,
    h("h1", "Your account"),
    h("p", "Signed in as ", h("strong", session.me.user), " with the ", session.me.role, " role."),
    h("form.card", { onsubmit: submit },
      h("h2", "Change password"),
      field("Current password", cur),
      field("New password", next, "At least 12 characters, not easy to guess. Every session of yours ends, this one included."),
      msg,
      h("button", { type: "submit" }, "Change password")));

  async function submit(e) {
    e.preventDefault();
    try {
      await api("POST", "/auth/password", { current_password: cur.value, new_password: next.value });
      session.me = null;
      go("/ui/login");
    } catch (err) {
      replace(msg, notice("error", err.message));
    }
  }
}

setUnauthorizedHandler(() => {
  session.me = null;
  if (!location.pathname.startsWith("/ui/login")) go("/ui/login?next=" + encodeURIComponent(location.pathname + location.search));
});
window.addEventListener("popstate", route);
route();
