package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/internal/testkit/browser"
	"github.com/trackstream/trackstream/internal/testkit/client"
	"github.com/trackstream/trackstream/processor"
)

// The GUI in a real browser (Debian's Chromium through chromedp) against
// the all role on loopback: log in, create a source, send events through
// the collector, see them on the dashboard, filter by clicking a
// breakdown row, open an event and its session, build a funnel, replay a
// dead letter, check a viewer sees no admin controls, and prove that
// hostile event data is inert: no script runs and nothing is fetched
// from a planted address.
//
// TRACKSTREAM_GUI_SCREENSHOTS=<dir> also writes a PNG of each screen
// there (task gui:screenshots). TRACKSTREAM_GUI_SEED=<n> first stores n
// extra events, to measure the dashboard over a larger table.

const (
	firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	chromeUA  = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)

// guiEnv is one running trackstream and one browser tab.
type guiEnv struct {
	t       *testing.T
	tab     context.Context
	admin   string        // http://host:port of the admin listener
	ingest  string        // http://host:port of the collector
	api     *client.Admin // the admin API, for setup and checks
	shots   string
	planted *httptest.Server
	hits    *atomic.Int64
	extra   int // events stored by extraEvents
}

func (e *guiEnv) seeded() int { return e.extra }

// extraEvents stores TRACKSTREAM_GUI_SEED more events of src (type
// seed-view, so the test's known answers about page-views stand), spread
// over the day so far and 2000 sessions, to measure the dashboard over a
// larger table.
func (e *guiEnv) extraEvents(src string) {
	e.t.Helper()
	n, _ := strconv.Atoi(os.Getenv("TRACKSTREAM_GUI_SEED"))
	if n <= 0 {
		return
	}
	before := count(e.t, e.api, src)
	started := time.Now()
	day := time.Now().UTC().Truncate(24 * time.Hour)
	span := time.Since(day)
	const batch = 500
	for sent := 0; sent < n; sent += batch {
		events := make([]map[string]any, min(batch, n-sent))
		for i := range events {
			k := sent + i
			at := day.Add(time.Duration(int64(span) / int64(n) * int64(k)))
			events[i] = map[string]any{"id": "seed-" + strconv.Itoa(k), "type": "seed-view", "time": at.Format(time.RFC3339Nano),
				"properties": map[string]any{"n": k % 100}}
		}
		r := sent / batch
		e.post(chromeUA, map[string]any{
			"source": map[string]string{"id": src}, "session": map[string]string{"id": "seed-s-" + strconv.Itoa(r%2000)},
			"profile": map[string]string{"id": "seed-p-" + strconv.Itoa(r%700)},
			"context": map[string]any{"page": map[string]string{"url": "https://shop.example/seed/" + strconv.Itoa(r%50)}},
			"events":  events,
		}, len(events))
	}
	testkit.Eventually(e.t, 20*time.Minute, "the seeded events stored", func() bool { return count(e.t, e.api, src) == before+uint64(n) })
	e.extra = n
	e.t.Logf("seeded %d events in %s", n, time.Since(started).Round(time.Second))
}

// measureFirstPaint loads the dashboard afresh and reports, from the
// navigation's start, the first contentful paint, when the KPI tiles and
// the chart had their data, when every panel had its data (performance
// mark dashboard-ready), and how long each statistics request took.
func (e *guiEnv) measureFirstPaint(path string) {
	e.t.Helper()
	e.open(path, "dashboard")
	got := e.eval(`JSON.stringify({fcp_ms: Math.round((performance.getEntriesByName("first-contentful-paint")[0] || {}).startTime || -1), ` +
		`tiles_ms: Math.round(performance.getEntriesByName("dashboard-tiles")[0].startTime), ` +
		`chart_ms: Math.round(performance.getEntriesByName("dashboard-chart")[0].startTime), ` +
		`dashboard_ready_ms: Math.round(performance.getEntriesByName("dashboard-ready")[0].startTime), ` +
		`api_ms: Object.fromEntries(performance.getEntriesByType("resource").filter(r => r.name.includes("/api/v1/stats/")).map(r => [new URL(r.name).pathname.slice(14) + (new URL(r.name).searchParams.get("dimension") ? "/" + new URL(r.name).searchParams.get("dimension") : ""), Math.round(r.duration)])), ` +
		`transferred_bytes: performance.getEntriesByType("resource").filter(r => r.name.includes("/ui/")).reduce((a, r) => a + r.transferSize, 0)})`)
	stored := count(e.t, e.api, strings.TrimPrefix(strings.Split(path, "&")[0], "/ui/?source="))
	e.t.Logf("dashboard over %d stored events: %s", stored, got)
	if e.shots != "" {
		line := fmt.Sprintf("{\"stored_events\": %d, \"measured\": %s}\n", stored, got)
		if err := os.WriteFile(filepath.Join(e.shots, "gui-first-paint.json"), []byte(line), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
}

func TestGUI(t *testing.T) {
	if testing.Short() {
		t.Skip("GUI browser test: skipped under -short")
	}
	cfg := testConfig(t, t.TempDir())
	n, _ := startAll(t, cfg)
	e := &guiEnv{t: t, admin: "http://" + n.adminAddr, ingest: "http://" + n.ingestAddr, shots: os.Getenv("TRACKSTREAM_GUI_SCREENSHOTS")}
	e.hits = new(atomic.Int64)
	e.planted = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		t.Logf("planted listener was asked for %s %s", r.Method, r.URL)
	}))
	defer e.planted.Close()
	e.api = login(t, n.adminAddr)
	limit := 10 * time.Minute
	if os.Getenv("TRACKSTREAM_GUI_SEED") != "" {
		limit = time.Hour // storing a million events takes minutes on a small machine
	}
	e.tab = browser.New(t, browser.Options{Width: 1280, Height: 900, Timeout: limit})
	e.watchCSP()

	// Log in through the form; the session cookie is not readable by scripts.
	e.open("/ui/", "login")
	e.shot("login")
	e.typeInto("#password", testPassword)
	e.click("#login")
	e.waitReady("dashboard")
	e.shot("dashboard-empty")
	if c := e.eval(`document.cookie`); c != "" {
		t.Errorf("document.cookie = %q; the session cookie must be HttpOnly", c)
	}

	// Create a browser source; its page teaches and waits for the first event.
	e.open("/ui/sources", "sources")
	e.typeInto("#new-source-name", "GUI test site")
	e.click("#create-source")
	e.waitReady("sources")
	e.waitText("#first-event", "Waiting for the first event")
	e.shot("source-new")
	src := strings.TrimPrefix(e.eval(`location.pathname`), "/ui/sources/")
	if !strings.HasPrefix(src, "src_") {
		t.Fatalf("after creating a source the page is %q", src)
	}

	// Events through the collector: Firefox visits /home and /pricing and
	// signs up; Chrome visits /home; one visitor sends hostile values.
	waitSourceKnown(t, n.ingestAddr, src)
	e.track(src, firefoxUA, "s-ff-1", "p-ff-1", "https://shop.example/home", "page-view", "signup")
	e.track(src, firefoxUA, "s-ff-2", "p-ff-2", "https://shop.example/pricing", "page-view")
	e.track(src, chromeUA, "s-ch-1", "p-ch-1", "https://shop.example/home", "page-view")
	e.trackHostile(src)
	const stored = 5
	testkit.Eventually(t, 30*time.Second, "5 events stored", func() bool { return count(t, e.api, src) == stored })
	e.waitText("#first-event", "events received")
	e.extraEvents(src)

	// The dashboard of the source: tiles, chart, breakdowns.
	dash := "/ui/?source=" + src + "&range=today"
	e.open(dash, "dashboard")
	e.measureFirstPaint(dash)
	e.shot("dashboard")
	e.poll(`!!document.querySelector('[data-metric="events"]')`, "the KPI tiles")
	if got := e.eval(`document.querySelector('[data-metric="events"] .value').textContent`); e.seeded() == 0 && got != fmt.Sprint(stored) {
		t.Errorf("events tile = %q, want %d", got, stored)
	}
	// Today in hours: a point per hour, the busiest one holding the events.
	if got := e.eval(`String(document.querySelectorAll('svg.chart circle.point').length)`); got != "24" {
		t.Errorf("the chart has %s points, want 24 (one per hour of today)", got)
	}
	if got := e.eval(`[...document.querySelectorAll('svg.chart circle.point title')].map(t => t.textContent).join("|")`); e.seeded() == 0 && !strings.Contains(got, ": 4") {
		t.Errorf("no hour of the chart shows the 4 visitors: %q", got)
	}
	if got := e.eval(`[...document.querySelectorAll('button.row[data-dim="browser"]')].map(b => b.dataset.value).sort().join(",")`); !strings.Contains(got, "Chrome") || !strings.Contains(got, "Firefox") {
		t.Fatalf("browser breakdown rows = %q, want Chrome and Firefox", got)
	}

	// The default GeoIP database's licence (CC BY 4.0) asks for a link
	// where its results are shown.
	if got := e.eval(`[...document.querySelectorAll('section[aria-label="Locations"] a')].map(a => a.href + " " + a.textContent).join("|")`); got != "https://db-ip.com/ IP Geolocation by DB-IP" {
		t.Errorf("the Locations panel's links = %q, want the DB-IP attribution", got)
	}

	// Click the Firefox row: the URL, a chip and every panel follow.
	e.click(`button.row[data-dim="browser"][data-value="Firefox"]`)
	e.waitReady("dashboard")
	if u := e.eval(`location.search`); !strings.Contains(u, "filter.browser=Firefox") {
		t.Errorf("after the click the URL query is %q", u)
	}
	if chip := e.eval(`document.querySelector('.chip') ? document.querySelector('.chip').textContent : ""`); !strings.Contains(chip, "browser is Firefox") {
		t.Errorf("filter chip = %q", chip)
	}
	if got := e.eval(`document.querySelector('[data-metric="events"] .value').textContent`); got != "3" {
		t.Errorf("events tile under browser=Firefox = %q, want 3", got)
	}
	if got := e.eval(`[...document.querySelectorAll('button.row[data-dim="browser"]')].map(b => b.dataset.value).join(",")`); got != "Firefox" {
		t.Errorf("browser panel under the filter = %q, want only Firefox", got)
	}
	if got := e.eval(`[...document.querySelectorAll('button.row[data-dim="page"]')].map(b => b.dataset.value).sort().join(",")`); got != "/home,/pricing" {
		t.Errorf("pages panel under browser=Firefox = %q, want /home,/pricing", got)
	}
	if got := e.eval(`[...document.querySelectorAll('button.row[data-dim="type"]')].map(b => b.dataset.value + "=" + b.querySelectorAll(".n")[1].textContent).sort().join(",")`); got != "page-view=2,signup=1" {
		t.Errorf("event types under browser=Firefox = %q, want page-view=2,signup=1", got)
	}
	e.shot("dashboard-filtered")

	// At phone width nothing runs off the side of the page.
	if err := chromedp.Do(e.tab, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	e.open(dash, "dashboard")
	if got := e.eval(`String(document.documentElement.scrollWidth <= window.innerWidth)`); got != "true" {
		t.Errorf("at 390 px the dashboard is %s px wide", e.eval(`String(document.documentElement.scrollWidth)`))
	}
	e.shot("dashboard-phone")
	if err := chromedp.Do(e.tab, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	e.open(dash+"&filter.browser=Firefox", "dashboard")
	e.click(".chip-x")
	e.waitReady("dashboard")
	if n := e.eval(`String(document.querySelectorAll('.chip').length)`); n != "0" {
		t.Errorf("after removing the chip %s chips remain", n)
	}

	// Entry pages count sessions: two of the four began on /home.
	e.open(dash+"&tab.pages=entry_page", "dashboard")
	if got := e.eval(`[...document.querySelectorAll('button.row[data-dim="entry_page"]')].filter(b => b.dataset.value === "/home").map(b => b.querySelectorAll(".n")[1].textContent).join()`); e.seeded() == 0 && got != "2" {
		t.Errorf("sessions entering on /home = %q, want 2", got)
	}

	// Events explorer: open the signup event by keyboard (Enter on the
	// focused row), then its session.
	e.open("/ui/events?source="+src+"&type=signup", "events")
	e.typeInto("tr.clickable", "\r")
	e.waitText("#event-detail", `"type": "signup"`)
	e.shot("events")
	e.click(`#event-detail a[href^="/ui/sessions/"]`)
	e.waitReady("sessions")
	if got := e.eval(`String(document.querySelectorAll('#session-events li').length)`); got != "2" {
		t.Errorf("session s-ff-1 lists %s events, want 2", got)
	}
	e.shot("session")
	e.open("/ui/profiles/p-ff-1?source="+src, "profiles")
	e.shot("profile")

	// A funnel built in the form: page-view then signup.
	e.open("/ui/funnels", "funnels")
	e.eval(`(() => { const s = document.querySelectorAll('input.step'); s[0].value = 'page-view'; s[1].value = 'signup'; return ''; })()`)
	e.click("#funnel-run")
	e.waitReady("funnels")
	e.waitText("#funnel-result", "2. signup")
	if got := e.eval(`[...document.querySelectorAll('.fhead span')].map(s => s.textContent.split(' ')[0]).join(",")`); got != "4,1" {
		t.Errorf("funnel visitors per step = %q, want 4,1 (four visitors viewed a page, one signed up)", got)
	}
	// With a property condition: only the hostile visitor's page view has
	// a note, so one visitor starts and none signs up.
	e.open("/ui/funnels?step=page-view&step=signup&prop.note="+url.QueryEscape(strings.Join(hostilePayloads(e.planted.URL), " ")), "funnels")
	if got := e.eval(`[...document.querySelectorAll('.fhead span')].map(s => s.textContent.split(' ')[0]).join(",")`); got != "1,0" {
		t.Errorf("funnel with prop.note = %q, want 1,0", got)
	}
	e.shot("funnels")

	// The live tail shows an event sent after it opened.
	e.open("/ui/events?source="+src+"&live=1", "events")
	e.track(src, chromeUA, "s-live", "p-live", "https://shop.example/live", "page-view")
	e.waitText("table.events", "p-live")
	e.shot("events-live")

	// A dead letter, replayed from the GUI, is stored.
	e.parkDeadLetter(n.kafkaOpts, src)
	e.open("/ui/dlq", "dlq")
	e.click(`#dead-letters input[type="checkbox"]`)
	e.shot("dlq")
	e.click("#replay-selected")
	e.waitText("main", "Replayed 1")
	testkit.Eventually(t, 30*time.Second, "the replayed event stored", func() bool { return count(t, e.api, src) == stored+2+uint64(e.seeded()) })

	// Pipeline health, through the API and on its screen.
	code, body := call(t, e.api, "GET", "/api/v1/system/health", nil)
	var health struct {
		Status string
		Kafka  struct {
			Reachable bool
			Produced  int64 `json:"events_produced"`
			Dead      int64 `json:"dead_letters"`
		}
		Storage struct {
			Freshness *float64 `json:"freshness_seconds"`
		}
		Counters struct {
			IngestVisible bool `json:"ingest_visible"`
			Accepted      float64
		}
	}
	if err := json.Unmarshal(body, &health); err != nil {
		t.Fatalf("system health: %v: %s", err, body)
	}
	if code != http.StatusOK || health.Status != "ok" || !health.Kafka.Reachable || health.Kafka.Produced < stored || health.Kafka.Dead != 1 ||
		health.Storage.Freshness == nil || !health.Counters.IngestVisible || health.Counters.Accepted < stored {
		t.Errorf("system health: %d %s", code, body)
	}
	e.open("/ui/health", "health")
	e.waitText("#health", "Produced to Kafka")
	e.shot("health")
	e.open("/ui/admin", "admin")
	e.shot("admin")
	e.open("/ui/sources/"+src, "sources")
	e.shot("source")

	// The hostile visitor's event on every screen that shows event data.
	e.open("/ui/?source="+src+"&range=today&tab.events=property&property=note", "dashboard")
	e.open("/ui/events?source="+src+"&session=s-evil", "events")
	e.click("tr.clickable")
	e.waitText("#event-detail", "<script>")
	e.shot("hostile-event")
	e.click(`#event-detail a[href^="/ui/sessions/"]`)
	e.waitReady("sessions")
	e.click("#session-events button.row")
	e.waitText("#event-detail", "onerror")
	e.checkInert()

	// A viewer sees no admin controls.
	e.createViewer()
	e.click("#logout")
	e.waitReady("login")
	e.eval(`document.querySelector('#username').value = ''`)
	e.typeInto("#username", "vera")
	e.typeInto("#password", viewerPassword)
	e.click("#login")
	e.waitReady("dashboard")
	if links := e.eval(`[...document.querySelectorAll('header nav a')].map(a => a.textContent).join("|")`); strings.Contains(links, "Users") {
		t.Errorf("a viewer's navigation offers %q", links)
	}
	e.open("/ui/sources", "sources")
	e.open("/ui/sources/"+src, "sources")
	e.open("/ui/dlq", "dlq")
	for _, sel := range []string{"#create-source", "#save-source", "#replay-selected", "#create-user", "#create-token"} {
		if got := e.eval(`String(!!document.querySelector('` + sel + `'))`); got != "false" {
			t.Errorf("a viewer sees %s", sel)
		}
	}
	e.open("/ui/admin", "admin")
	e.waitText("main", "Not found")

	// The viewer changes their password: the session ends, the new one works.
	const newPassword = "steady-Comet-58-ribbon"
	e.open("/ui/account", "account")
	e.typeInto("#current-password", viewerPassword)
	e.typeInto("#new-password", newPassword)
	e.click(`main form button[type="submit"]`)
	e.waitReady("login")
	e.eval(`document.querySelector('#username').value = ''`)
	e.typeInto("#username", "vera")
	e.typeInto("#password", newPassword)
	e.click("#login")
	e.waitReady("dashboard")
	e.checkInert()
}

// viewerPassword is the viewer's password in TestGUI.
const viewerPassword = "quiet-Harbor-77-lantern"

func (e *guiEnv) createViewer() {
	code, body := call(e.t, e.api, "POST", "/api/v1/users", map[string]string{"name": "vera", "role": "viewer", "password": viewerPassword})
	if code != http.StatusCreated {
		e.t.Fatalf("create viewer: %d %s", code, body)
	}
}

// open loads path in the tab (a full page load) and waits for screen.
func (e *guiEnv) open(path, screen string) {
	e.t.Helper()
	if err := chromedp.Do(e.tab, chromedp.Navigate(e.admin+path)); err != nil {
		e.t.Fatalf("open %s: %v", path, err)
	}
	e.waitReady(screen)
}

// waitReady waits until the GUI says screen has its data.
func (e *guiEnv) waitReady(screen string) {
	e.t.Helper()
	e.poll(`document.body.dataset.ready === "`+screen+`"`, "screen "+screen)
}

func (e *guiEnv) waitText(sel, text string) {
	e.t.Helper()
	q, _ := json.Marshal(sel)
	want, _ := json.Marshal(text)
	e.poll(`(document.querySelector(`+string(q)+`) || {textContent: ""}).textContent.includes(`+string(want)+`)`, sel+" containing "+text)
}

func (e *guiEnv) poll(expr, what string) {
	e.t.Helper()
	if _, err := chromedp.Run(e.tab, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(45*time.Second))); err != nil {
		body := e.eval(`document.body.innerText.slice(0, 2000)`)
		e.t.Fatalf("waiting for %s: %v\npage %s shows:\n%s", what, err, e.eval(`location.href`), body)
	}
}

func (e *guiEnv) click(sel string) {
	e.t.Helper()
	if err := chromedp.Do(e.tab, chromedp.Click(chromedp.CSS(sel))); err != nil {
		e.t.Fatalf("click %s: %v", sel, err)
	}
}

func (e *guiEnv) typeInto(sel, text string) {
	e.t.Helper()
	if err := chromedp.Do(e.tab, chromedp.SendKeys(chromedp.CSS(sel), text)); err != nil {
		e.t.Fatalf("type into %s: %v", sel, err)
	}
}

func (e *guiEnv) eval(expr string) string {
	e.t.Helper()
	v, err := chromedp.Run(e.tab, chromedp.Evaluate[any](expr))
	if err != nil {
		e.t.Fatalf("evaluate %s: %v", expr, err)
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// shot writes a screenshot of the page when screenshots are asked for.
func (e *guiEnv) shot(name string) {
	e.t.Helper()
	if e.shots == "" {
		return
	}
	png, err := chromedp.Run(e.tab, chromedp.FullScreenshot(100))
	if err != nil {
		e.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(e.shots, "gui-"+name+".png"), png, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// watchCSP counts Content-Security-Policy violations in every page the
// tab loads: an inert page makes none.
func (e *guiEnv) watchCSP() {
	e.t.Helper()
	script := `window.__cspViolations = 0; document.addEventListener("securitypolicyviolation", (ev) => { window.__cspViolations++; console.error("CSP violation", ev.blockedURI, ev.violatedDirective); });`
	install := chromedp.Action[chromedp.Void](func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
		return chromedp.Void{}, err
	})
	if err := chromedp.Do(e.tab, install); err != nil {
		e.t.Fatalf("install the CSP watcher: %v", err)
	}
}

// checkInert proves the hostile event did nothing: no script of it ran
// (it would set window.__pwned or change the title), no request reached
// the planted listener, and the page attempted nothing the CSP blocked.
func (e *guiEnv) checkInert() {
	e.t.Helper()
	if got := e.eval(`String(window.__pwned)`); got != "undefined" {
		e.t.Errorf("a hostile script ran: window.__pwned = %s", got)
	}
	if got := e.eval(`document.title`); got != "trackstream" {
		e.t.Errorf("the title changed to %q", got)
	}
	if got := e.eval(`String(window.__cspViolations)`); got != "0" {
		e.t.Errorf("%s Content-Security-Policy violations", got)
	}
	if n := e.hits.Load(); n != 0 {
		e.t.Errorf("the planted listener got %d requests", n)
	}
}

// track sends one visit: a page event for each type in order.
func (e *guiEnv) track(src, ua, session, profile, page string, types ...string) {
	e.t.Helper()
	events := make([]map[string]any, len(types))
	for i, typ := range types {
		events[i] = map[string]any{"id": session + "-" + typ, "type": typ, "properties": map[string]any{"title": "Shop"}}
	}
	e.post(ua, map[string]any{
		"source": map[string]string{"id": src}, "session": map[string]string{"id": session}, "profile": map[string]string{"id": profile},
		"context": map[string]any{"page": map[string]string{"url": page, "referrer": "https://search.example/?q=shop"}},
		"events":  events,
	}, len(types))
}

// hostilePayloads are values that would run script, load from the planted
// listener at p or restyle the page if the GUI treated them as markup.
func hostilePayloads(p string) []string {
	return []string{
		`<script>window.__pwned=1;fetch("` + p + `/script")</script>`,
		`<img src="` + p + `/img" onerror="window.__pwned=2">`,
		`javascript:window.__pwned=3`,
		`"><svg onload="window.__pwned=4"></svg>`,
		`</pre><style>body{background:url(` + p + `/css)}</style><link rel=stylesheet href="` + p + `/link">`,
		`<iframe src="` + p + `/frame"></iframe><a href="javascript:alert(1)">x</a>`,
	}
}

// trackHostile sends an event whose every shown field tries to run script,
// load a planted URL or restyle the page.
func (e *guiEnv) trackHostile(src string) {
	e.t.Helper()
	payloads := hostilePayloads(e.planted.URL)
	all := strings.Join(payloads, " ")
	e.post(`Mozilla/5.0 (X11; Linux x86_64) `+payloads[3]+` AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15`, map[string]any{
		"source": map[string]string{"id": src}, "session": map[string]string{"id": "s-evil"}, "profile": map[string]string{"id": "p-evil"},
		"context": map[string]any{"page": map[string]string{
			"url":      `https://shop.example/` + url.PathEscape(payloads[1]) + `?q=` + url.QueryEscape(payloads[0]),
			"referrer": e.planted.URL + "/referrer",
			"title":    all,
		}},
		"events": []map[string]any{{"id": "evil-1", "type": "page-view", "properties": map[string]any{
			// A key too (keys cannot hold '.', so no URL in it).
			"note": all, "title": payloads[1], "href": payloads[2], "css": payloads[4], `<script>window["__pwned"]=5</script><img src=x onerror=window["__pwned"]=6>`: payloads[5],
			"nested": map[string]any{"html": payloads[5]},
		}}},
	}, 1)
}

func (e *guiEnv) post(ua string, body map[string]any, want int) {
	e.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", e.ingest+"/track", strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", ua)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Accepted int
		Rejected []any
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Accepted != want {
		e.t.Fatalf("track: status %d, accepted %d of %d, rejected %v, %v", resp.StatusCode, out.Accepted, want, out.Rejected, err)
	}
}

// parkDeadLetter puts one valid event of src into the dead-letter topic
// the way the processor does, so replaying it stores it.
func (e *guiEnv) parkDeadLetter(base []kgo.Opt, src string) {
	e.t.Helper()
	now := time.Now().UTC()
	ev := event.Event{SourceID: src, ID: "parked-1", Type: "page-view", Time: now, ReceivedAt: now, SessionID: "s-parked", UserAgent: chromeUA, URL: "https://shop.example/parked"}
	value, err := json.Marshal(ev)
	if err != nil {
		e.t.Fatal(err)
	}
	cl, err := kgo.NewClient(base...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	rec := &kgo.Record{Topic: kafka.DLQTopic, Key: []byte(src + "/s-parked"), Value: value, Headers: []kgo.RecordHeader{
		{Key: "trackstream-format", Value: []byte("1")},
		{Key: processor.HeaderReason, Value: []byte("rejected by ClickHouse: a test stand-in")},
		{Key: processor.HeaderReasonCode, Value: []byte("rejected_by_clickhouse")},
		{Key: processor.HeaderTopic, Value: []byte(kafka.EventsTopic)},
		{Key: processor.HeaderTime, Value: []byte(now.Format("2006-01-02T15:04:05.000Z07:00"))},
	}}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		e.t.Fatalf("park a dead letter: %v", err)
	}
}
