// DOM helpers. Every value lands in the page as a text node or a plain
// attribute: there is no path from data to markup (no innerHTML anywhere
// in the GUI), and event handlers are functions, never strings.

const SVG = "http://www.w3.org/2000/svg";

// h builds an element: h("a.link", {href: "/ui/"}, "text", child, [more]).
// Attributes named on* take functions; class and text children are safe
// for any string. null, undefined and false children are skipped.
export function h(spec, attrs, ...children) {
  return build(document.createElement(tagOf(spec)), spec, attrs, children);
}

// s builds an SVG element the same way.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG, tagOf(tag)), tag, attrs, children);
}

function tagOf(spec) {
  return spec.split(/[.#]/)[0] || "div";
}

function build(el, spec, attrs, children) {
  const classes = spec.match(/\.[\w-]+/g);
  if (classes) el.setAttribute("class", classes.map((c) => c.slice(1)).join(" "));
  const id = spec.match(/#[\w-]+/);
  if (id) el.id = id[0].slice(1);
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.setAttribute("class", ((el.getAttribute("class") || "") + " " + v).trim());
    else if (k === "value" || k === "checked" || k === "selected") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// replace puts children into el instead of what it had.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// fmt helpers for figures people read.
export function num(n) {
  if (n === null || n === undefined) return "–";
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return Number(n).toLocaleString("en");
}

export function pct(r) {
  return (r * 100).toFixed(r < 0.1 && r > 0 ? 1 : 0) + "%";
}

export function duration(sec) {
  sec = Math.round(sec || 0);
  if (sec < 60) return sec + "s";
  if (sec < 3600) return Math.floor(sec / 60) + "m " + (sec % 60) + "s";
  return Math.floor(sec / 3600) + "h " + Math.floor((sec % 3600) / 60) + "m";
}

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

// copyButton copies text to the clipboard and says so.
export function copyButton(text, label = "Copy") {
  const b = h("button.secondary", { type: "button" }, label);
  b.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      b.textContent = "Copied";
    } catch {
      b.textContent = "Select and copy by hand";
    }
    setTimeout(() => (b.textContent = label), 2000);
  });
  return b;
}

// field is a labelled form control.
export function field(label, control, hint) {
  return h("label.field", h("span.label", label), control, hint ? h("span.hint", hint) : null);
}

// notice is a message box; kind is "error", "ok" or "info".
export function notice(kind, ...text) {
  return h("div.notice." + kind, { role: kind === "error" ? "alert" : "status" }, ...text);
}

// json renders a value as indented JSON text.
export function json(v) {
  return h("pre.json", JSON.stringify(v, null, 2));
}
