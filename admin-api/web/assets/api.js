// The admin API client. The session lives in an HttpOnly cookie this code
// cannot read; changes carry the CSRF token the login answer and
// /auth/me hand out.

let csrf = "";
let onUnauthorized = () => {};

export class APIError extends Error {
  constructor(status, code, message) {
    super(message || code || "HTTP " + status);
    this.status = status;
    this.code = code;
  }
}

export function setUnauthorizedHandler(f) {
  onUnauthorized = f;
}

export function setCSRF(token) {
  csrf = token || "";
}

// qs builds a query string from an object (arrays repeat the key) or
// URLSearchParams, skipping empty values.
export function qs(params) {
  const u = new URLSearchParams();
  const entries = params instanceof URLSearchParams ? params.entries() : Object.entries(params || {});
  for (const [k, v] of entries) {
    for (const one of Array.isArray(v) ? v : [v]) {
      if (one !== undefined && one !== null && one !== "") u.append(k, one);
    }
  }
  const s = u.toString();
  return s ? "?" + s : "";
}

// The API runs at most 2 statistics or search requests of one user at a
// time (429 too_many_queries beyond) and 4 in all (503): this tab sends
// at most 2 at once, queued in order, and retries a refused one shortly.
const maxQueries = 2;
let running = 0;
const waiting = [];
const isQuery = (path) => /^\/(stats\/|events|profiles\/|sessions\/)/.test(path);

async function gate(f) {
  if (running >= maxQueries) await new Promise((resolve) => waiting.push(resolve));
  running++;
  try {
    return await f();
  } finally {
    running--;
    if (waiting.length) waiting.shift()();
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// api calls /api/v1 + path; body, when given, is sent as JSON.
export async function api(method, path, body, opts = {}) {
  if (method !== "GET" || !isQuery(path)) return call(method, path, body, opts);
  for (let attempt = 1; ; attempt++) {
    try {
      return await gate(() => call(method, path, body, opts));
    } catch (e) {
      if (!(e instanceof APIError) || e.code !== "too_many_queries" || attempt >= 8) throw e;
      await sleep(250 * attempt);
    }
  }
}

async function call(method, path, body, { quiet401 = false } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  const res = await fetch("/api/v1" + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    if (res.status === 401 && !quiet401) onUnauthorized();
    throw new APIError(res.status, data && data.error, data && data.message);
  }
  return data;
}

export const get = (path, params) => api("GET", path + qs(params));
export const post = (path, body) => api("POST", path, body ?? {});
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);
