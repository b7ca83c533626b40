// trackstream.js: the browser tracker, documented in docs/tracker.md
((w, d, n, loc) => {
  let script = d.currentScript,
    // configuration: the script tag's data-* attributes
    cfg = script.dataset,
    flag = k => k in cfg,
    api = cfg.api || new URL('/track', script.src),
    hashMode = flag('hash'),
    now = Date.now,
    store, timer, retryTimer, tries = 0, referrer = d.referrer, lastPage,
    pending = [],
    // undefined when absent (or storage is unavailable)
    get = k => store && store['ts_' + k],
    put = (k, v) => { try { v ? store['ts_' + k] = v : delete store['ts_' + k] } catch (e) {} },
    // 128 random bits, as four decimal numbers
    newID = () => crypto.getRandomValues(new Uint32Array(4)).join('-'),
    off = (() => { try { store = flag('persist') ? localStorage : sessionStorage; return localStorage.ts_off } catch (e) {} })() ||
      !flag('local') && /^(localhost|127\.|\[|$)/.test(loc.hostname) ||
      !flag('webdriver') && n.webdriver ||
      flag('dnt') && (n.globalPrivacyControl || n.doNotTrack == '1'),
    session = () => {
      let [id, seen] = (get('s') || '').split('.'), t = now();
      if (!seen || t - seen > 18e5) id = newID();
      put('s', id + '.' + t);
      return id;
    },
    url = () => hashMode ? loc.href : loc.href.split('#')[0],
    // failed batches, one JSON body a line (JSON.stringify writes no raw
    // newline), oldest first, at most ~50 kB
    queue = () => (get('q') || '').split('\n').filter(b => b),
    save = q => put('q', q.join('\n')),
    keep = body => {
      let q = queue().filter(b => b != body);
      q.push(body);
      while (q[1] && q.join().length > 5e4) q.shift();
      save(q);
      clearTimeout(retryTimer);
      // backoff with jitter: 1 s, 2 s, 4 s ... up to 5 min, times 0.5-1.5
      retryTimer = setTimeout(retry, Math.min(3e5, 1e3 * 2 ** tries) * (.5 + Math.random()));
    },
    post = body => fetch(api, { method: 'POST', body, keepalive: body.length < 6e4 })
      .then(r => {
        if (r.status == 429 || r.status > 499) throw 0;
        tries = 0;
        save(queue().filter(b => b != body));
        r.ok ? r.json().then(j => j.profile && put('p', j.profile.id)) : console.warn('trackstream', r.status);
      })
      .catch(() => keep(body)),
    // one more try of every queued batch (tries++ runs once a round)
    retry = () => queue().forEach(post, tries++),
    flush = beacon => {
      clearTimeout(timer);
      if (!pending.length) return;
      // an absent profile or user id is left out ({})
      let body = JSON.stringify({
        source: { id: cfg.source }, session: { id: session() },
        profile: { id: get('p') }, user: { id: get('u') },
        events: pending.splice(0)
      });
      beacon && n.sendBeacon && n.sendBeacon(api, body) || post(body);
    },
    track = (type, properties) => {
      if (off) return;
      session();
      pending.push({ id: newID(), type, time: new Date().toISOString(), properties, context: { page: { url: url(), referrer } } });
      pending.length > 9 ? flush() : (clearTimeout(timer), timer = setTimeout(flush, 1e3));
    },
    page = () => {
      if (url() == lastPage) return;
      track('page-view', { title: d.title });
      referrer = lastPage = url();
    },
    auto = () => flag('manual') || page(),
    click = e => {
      let t = e.target, tag = t.closest('[data-ts-event]'), a = t.closest('a[href]'), props = {}, h;
      if (tag) {
        for (let x of tag.attributes) x.name.startsWith('data-ts-prop-') && (props[x.name.slice(13)] = x.value);
        track(tag.getAttribute('data-ts-event'), props);
      }
      // a link to another host (not mailto: and the like, which have no
      // host), or to a file on this one
      if (a) {
        h = a.href;
        a.host != loc.host ? a.host && track('outbound-link', { url: h }) :
          /\.(pdf|docx?|xlsx?|pptx?|csv|zip|gz|7z|rar|dmg|exe|mp[34])$/i.test(a.pathname) && track('file-download', { url: h });
      }
    },
    ts = (method, ...args) => ts[method](...args),
    on = (target, type, f) => target.addEventListener(type, f),
    history = w.history;
  ts.track = track;
  ts.page = page;
  ts.identify = (id, traits) => { put('u', id); track('identify', traits) };
  ['push', 'replace'].forEach(k => {
    let f = history[k + 'State'];
    history[k + 'State'] = function () { f.apply(this, arguments); auto() };
  });
  on(w, 'popstate', auto);
  hashMode && on(w, 'hashchange', auto);
  on(d, 'click', click);
  on(d, 'auxclick', e => e.button == 1 && click(e)); // middle button: a new tab
  on(w, 'pagehide', () => flush(1));
  on(d, 'visibilitychange', () => d.hidden && flush(1));
  on(w, 'online', retry);
  (w.ts?.q || []).forEach(c => ts(...c));
  w.ts = ts;
  auto();
  retry();
})(window, document, navigator, location);
