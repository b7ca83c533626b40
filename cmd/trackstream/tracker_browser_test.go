package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/trackstream/trackstream/internal/broker"
	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/internal/testkit/browser"
	"github.com/trackstream/trackstream/internal/testkit/client"
)

// trackerPage is the site page of the browser test: the tracker from one
// collector (the all role), sending to another (an ingest replica), on a
// third origin; a call queued before the script loads; a tagged button;
// a link to another host. It counts the tracker's beacons in
// sessionStorage (the browser reports no network event for a beacon sent
// as the page unloads).
const trackerPage = `<!doctype html><title>Shop</title>
<script>
const beacon = navigator.sendBeacon.bind(navigator);
navigator.sendBeacon = (u, b) => { sessionStorage.beacons = +(sessionStorage.beacons || 0) + 1; return beacon(u, b) };
window.ts=window.ts||function(){(ts.q=ts.q||[]).push(arguments)};ts('track','queued-before-load',{n:1});
</script>
<script defer src="{{script}}" data-source="{{source}}" data-api="{{api}}" data-local data-webdriver></script>
<button id="cta" data-ts-event="cta-click" data-ts-prop-place="hero">Buy</button>
<a id="out" href="{{outbound}}">elsewhere</a>`

// requestLog records what the page sent to the collector, from the
// browser's own network events.
type requestLog struct {
	mu       sync.Mutex
	api      string
	byID     map[network.RequestID]network.ResourceType
	sent     map[network.ResourceType]int // POSTs by kind (Fetch, Ping)
	failed   int                          // POSTs that got no answer
	answered map[int]int                  // POSTs by status
	options  int                          // preflights
}

func (l *requestLog) listen(ev any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		if !strings.HasPrefix(e.Request.URL, l.api) {
			return
		}
		switch e.Request.Method {
		case http.MethodOptions:
			l.options++
		case http.MethodPost:
			l.byID[e.RequestID] = e.Type
			l.sent[e.Type]++
		}
	case *network.EventLoadingFailed:
		if _, ok := l.byID[e.RequestID]; ok {
			l.failed++
		}
	case *network.EventResponseReceived:
		if _, ok := l.byID[e.RequestID]; ok {
			l.answered[int(e.Response.Status)]++
		}
	}
}

func (l *requestLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("POSTs by kind %v, by status %v, %d without an answer, %d preflights", l.sent, l.answered, l.failed, l.options)
}

// TestTrackerInBrowser: headless Chromium runs the tracker on a page of
// another origin than the collectors: page views (SPA navigation
// included), a call queued before load, a custom event, a tagged click,
// an outage of the collector while the page sends, and an outbound click
// whose events leave by beacon as the page unloads. Every event is stored
// exactly once, as the admin API counts and lists them.
func TestTrackerInBrowser(t *testing.T) {
	tab := browser.New(t, browser.Options{})

	cfg := testConfig(t, t.TempDir())
	all, _ := startAll(t, cfg)
	adm := login(t, all.adminAddr)
	src := createSource(t, adm, "browser site")

	// The page sends to an ingest replica of its own, on a port that stays
	// the same across its restart.
	replicaAddr := testkit.FreeAddr(t)
	replicaCfg := cfg
	replicaCfg.Kafka = embeddedKafka(cfg, all)
	replicaCfg.Ingest.Addr = replicaAddr
	replicaCfg.OpsAddr = "127.0.0.1:0"
	replica := startIngestReplica(t, replicaCfg)
	api := "http://" + replicaAddr + "/track"
	testkit.Eventually(t, 10*time.Second, "the replica knows the source", func() bool {
		code, _ := post(t, api, `{"source":{"id":"`+src+`"},"events":[{"type":"probe"}]}`)
		return code == http.StatusOK
	})
	probes := count(t, adm, src) // the probe(s) above, once stored
	testkit.Eventually(t, 30*time.Second, "the probe stored", func() bool { probes = count(t, adm, src); return probes > 0 })

	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.URL.Path == "/landing" {
			fmt.Fprint(w, `<!doctype html><title>Elsewhere</title><p>another site</p>`)
			return
		}
		port := r.Host[strings.LastIndex(r.Host, ":")+1:]
		fmt.Fprint(w, strings.NewReplacer(
			"{{script}}", "http://"+all.ingestAddr+"/ts.js",
			"{{source}}", src,
			"{{api}}", api,
			"{{outbound}}", "http://localhost:"+port+"/landing", // another host: outbound
		).Replace(trackerPage))
	}))
	t.Cleanup(site.Close)

	log := &requestLog{api: api, byID: map[network.RequestID]network.ResourceType{}, sent: map[network.ResourceType]int{}, answered: map[int]int{}}
	if err := chromedp.Listen(tab, log.listen); err != nil {
		t.Fatal(err)
	}
	stored := func(want int, what string) {
		t.Helper()
		testkit.Eventually(t, 60*time.Second, fmt.Sprintf("%d events stored (%s)", want, what), func() bool {
			return count(t, adm, src) == uint64(probes)+uint64(want)
		}, log.String)
	}
	eval := func(js string) {
		t.Helper()
		if _, err := chromedp.Run(tab, chromedp.Evaluate[any](js)); err != nil {
			t.Fatalf("%s: %v", js, err)
		}
	}
	queued := func() int {
		t.Helper()
		n, err := chromedp.Run(tab, chromedp.Evaluate[int](`(sessionStorage.ts_q || '').split('\n').filter(b => b).length`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Page views, the call queued before load, a custom event, a click.
	if err := chromedp.Do(tab, chromedp.Navigate(site.URL+"/")); err != nil {
		t.Fatal(err)
	}
	stored(2, "page view and queued call")
	eval(`history.pushState({}, '', '/spa/a'); ts.track('signup', {plan: 'pro'})`)
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS("#cta"))); err != nil {
		t.Fatal(err)
	}
	stored(5, "SPA page view, custom event, tagged click")

	// Outage: the replica stops while the page sends; its batches wait in
	// the page's queue and are sent again once it is back.
	replica.stop()
	failedBefore := log.failedCount()
	eval(`history.pushState({}, '', '/spa/b'); ts.track('during-outage', {n: 1})`)
	testkit.Eventually(t, 30*time.Second, "a batch queued during the outage", func() bool { return queued() == 1 }, log.String)
	eval(`ts.track('during-outage', {n: 2})`)
	testkit.Eventually(t, 30*time.Second, "a second batch queued during the outage", func() bool { return queued() == 2 }, log.String)
	restarted := time.Now()
	replica = startIngestReplica(t, replicaCfg)
	stored(8, "the outage's events, resent")
	testkit.Eventually(t, 30*time.Second, "the queue emptied", func() bool { return queued() == 0 }, log.String)
	t.Logf("outage: 3 events in 2 batches queued, %d sends failed, all stored %.1f s after the collector was back; %s",
		log.failedCount()-failedBefore, time.Since(restarted).Seconds(), log)

	// Leaving: an event and an outbound click, sent by beacon on pagehide.
	eval(`ts.track('before-leave')`)
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS("#out"))); err != nil {
		t.Fatal(err)
	}
	stored(10, "the beacon sent on leaving")

	// Back on the site's origin (a page without the tracker), its
	// sessionStorage says how many beacons the page sent.
	if err := chromedp.Do(tab, chromedp.Navigate(site.URL+"/landing")); err != nil {
		t.Fatal(err)
	}
	beacons, err := chromedp.Run(tab, chromedp.Evaluate[string](`sessionStorage.beacons || '0'`))
	if err != nil {
		t.Fatal(err)
	}
	kept, err := chromedp.Run(tab, chromedp.Evaluate[string](`sessionStorage.ts_p || ''`))
	if err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	options := log.options
	log.mu.Unlock()
	if beacons != "1" || options != 0 {
		t.Fatalf("%s beacons; %s: want the last batch sent by one beacon and no preflight", beacons, log)
	}
	if profile := checkTrackerEvents(t, adm, src); kept != profile {
		t.Fatalf("the page keeps profile %q, the events were stored under %q", kept, profile)
	}
}

func (l *requestLog) failedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// checkTrackerEvents lists the source's events through the admin API: each
// one the page made, once, all of one visitor and session. It returns the
// visitor's profile id.
func checkTrackerEvents(t *testing.T, adm *client.Admin, source string) string {
	t.Helper()
	var out struct {
		Events []struct {
			EventID    string `json:"event_id"`
			Type       string
			Path       string
			SessionID  string `json:"session_id"`
			ProfileID  string `json:"profile_id"`
			Properties map[string]any
		}
	}
	listEvents(t, adm, source, &out)
	got := map[string]int{}
	ids := map[string]bool{}
	sessions, profiles := map[string]bool{}, map[string]bool{}
	for _, e := range out.Events {
		if e.Type == "probe" {
			continue
		}
		key := e.Type
		switch e.Type {
		case "page-view":
			key += " " + e.Path
		case "during-outage":
			key += fmt.Sprint(" ", e.Properties["n"])
		case "cta-click":
			key += fmt.Sprint(" ", e.Properties["place"])
		}
		got[key]++
		if ids[e.EventID] {
			t.Errorf("event id %s listed twice", e.EventID)
		}
		ids[e.EventID] = true
		sessions[e.SessionID], profiles[e.ProfileID] = true, true
	}
	want := map[string]int{
		"page-view /": 1, "page-view /spa/a": 1, "page-view /spa/b": 1, "queued-before-load": 1, "signup": 1,
		"cta-click hero": 1, "during-outage 1": 1, "during-outage 2": 1, "before-leave": 1, "outbound-link": 1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events stored %v, want %v", got, want)
	}
	if len(sessions) != 1 || len(profiles) != 1 || sessions[""] || profiles[""] {
		t.Fatalf("sessions %v profiles %v: want one of each", sessions, profiles)
	}
	for p := range profiles {
		return p
	}
	return ""
}

// ingestReplica is an ingest role started in this process.
type ingestReplica struct {
	t    *testing.T
	cfg  config.Config
	n    *node
	once sync.Once
}

// startIngestReplica starts the ingest role alone (against the Kafka of
// cfg.Kafka.Brokers) and stops it at cleanup unless stopped before.
// embeddedKafka is the Kafka section of a distributed replica that joins
// the all node's embedded broker: its address and its SASL secret.
func embeddedKafka(cfg config.Config, all *node) config.Kafka {
	k := cfg.Kafka
	k.Brokers = all.kafkaAddrs
	k.SASLMechanism, k.SASLUsername, k.SASLPasswordFile = config.SASLScramSHA256, broker.User, broker.SecretFile(cfg.DataDir)
	return k
}

func startIngestReplica(t *testing.T, cfg config.Config) *ingestReplica {
	t.Helper()
	n, err := start(context.Background(), config.Set{config.RoleIngest}, cfg, testkit.Logger(t, slog.LevelWarn), io.Discard)
	if err != nil {
		t.Fatalf("start ingest on %s: %v", cfg.Ingest.Addr, err)
	}
	r := &ingestReplica{t: t, cfg: cfg, n: n}
	t.Cleanup(r.stop)
	return r
}

func (r *ingestReplica) stop() {
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ShutdownTimeout)
		defer cancel()
		if err := r.n.stop(ctx); err != nil {
			r.t.Errorf("stop ingest: %v", err)
		}
	})
}
