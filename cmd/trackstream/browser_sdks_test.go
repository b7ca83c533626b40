package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/internal/testkit/browser"
)

// The pages of the browser SDK test: each SDK from npm, set up to send to
// the collector with settings given inline, so it fetches nothing from its
// vendor's CDN ({{options}} adds the SDK's batching settings).
// window.send(from, to) sends track calls n = from..to-1.
const (
	segmentPage = `<!doctype html><title>Segment</title>
<script src="/segment/analytics-next/bundles/index.js"></script>
<script>
const analytics = AnalyticsNext.AnalyticsBrowser.load({
  writeKey: '{{source}}',
  cdnURL: location.origin + '/segment',
  cdnSettings: {integrations: {'Segment.io': {apiKey: '{{source}}', apiHost: '{{collectorHost}}/v1', protocol: 'http'{{options}}}}},
});
analytics.page();
analytics.identify('user-7', {plan: 'pro'});
window.send = (from, to) => { for (let n = from; n < to; n++) analytics.track('Order Completed', {n}) };
window.send(0, 5);
</script>`

	rudderPage = `<!doctype html><title>RudderStack</title>
<script src="/rudder/index.js"></script>
<script>
const analytics = new rudderanalytics.RudderAnalytics();
analytics.load('{{source}}', '{{collector}}', {
  getSourceConfig: () => ({source: {id: 'site', name: 'site', workspaceId: 'test', enabled: true, config: {}, destinations: []}}),
  polyfillIfRequired: false,
  queueOptions: {maxRetryDelay: 5000{{options}}},
});
analytics.page();
analytics.identify('user-7', {plan: 'pro'});
window.send = (from, to) => { for (let n = from; n < to; n++) analytics.track('Order Completed', {n}) };
window.send(0, 5);
</script>`
)

// offLoopback records the requests the browser made to anywhere but
// loopback, and counts the POSTs to the collector that got no answer.
type offLoopback struct {
	mu        sync.Mutex
	collector string
	posts     map[network.RequestID]bool
	paths     map[string]int // POSTs to the collector by path
	failed    int
	elsewhere []string
}

func (o *offLoopback) listen(ev any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		u, err := url.Parse(e.Request.URL)
		if err != nil || (u.Scheme != "data" && u.Scheme != "blob" && u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost") {
			o.elsewhere = append(o.elsewhere, e.Request.URL)
		}
		if strings.HasPrefix(e.Request.URL, o.collector) && e.Request.Method == http.MethodPost {
			o.posts[e.RequestID] = true
			o.paths[u.Path]++
		}
	case *network.EventLoadingFailed:
		if o.posts[e.RequestID] {
			o.failed++
		}
	}
}

// TestBrowserSDKs: Segment's analytics-next and RudderStack's
// analytics-js, from npm, in headless Chromium on a page of another origin
// than the collector: a page call, an identify and track calls, then more
// track calls while the collector is stopped, sent again by the SDK's own
// retry once it is back. Every event is stored exactly once, and the
// browser makes no request off loopback.
func TestBrowserSDKs(t *testing.T) {
	modules := npmClients(t)
	cfg := testConfig(t, t.TempDir())
	all, _ := startAll(t, cfg)
	adm := login(t, all.adminAddr)

	for _, sdk := range []struct{ name, page, options, path string }{
		{"segment", segmentPage, "", "/v1/t"},
		{"segment batching", segmentPage, ", deliveryStrategy: {strategy: 'batching', config: {size: 4, timeout: 300}}", "/v1/b"},
		{"rudderstack", rudderPage, "", "/v1/track"},
		{"rudderstack batching", rudderPage, ", batch: {enabled: true, maxItems: 4, flushInterval: 300}", "/v1/batch"},
	} {
		t.Run(sdk.name, func(t *testing.T) {
			tab := browser.New(t, browser.Options{})
			src := createSource(t, adm, sdk.name+" site")

			replicaCfg := cfg
			replicaCfg.Kafka = embeddedKafka(cfg, all)
			replicaCfg.Ingest.Addr = testkit.FreeAddr(t)
			replicaCfg.OpsAddr = "127.0.0.1:0"
			replica := startIngestReplica(t, replicaCfg)
			collector := "http://" + replicaCfg.Ingest.Addr
			waitSourceKnown(t, replicaCfg.Ingest.Addr, src)

			page := strings.NewReplacer("{{source}}", src, "{{collectorHost}}", replicaCfg.Ingest.Addr, "{{collector}}", collector, "{{options}}", sdk.options).Replace(sdk.page)
			site := httptest.NewServer(sdkSite(modules, page))
			t.Cleanup(site.Close)
			net := &offLoopback{collector: collector, posts: map[network.RequestID]bool{}, paths: map[string]int{}}
			if err := chromedp.Listen(tab, net.listen); err != nil {
				t.Fatal(err)
			}
			stored := func(want int, what string) {
				t.Helper()
				testkit.Eventually(t, 90*time.Second, fmt.Sprintf("%d events stored (%s)", want, what), func() bool {
					return count(t, adm, src) == uint64(want)
				})
			}
			if err := chromedp.Do(tab, chromedp.Navigate(site.URL+"/")); err != nil {
				t.Fatal(err)
			}
			stored(7, "page, identify, 5 tracks")

			replica.stop()
			net.mu.Lock()
			failedBefore := net.failed
			net.mu.Unlock()
			if _, err := chromedp.Run(tab, chromedp.Evaluate[any](`window.send(5, 10)`)); err != nil {
				t.Fatal(err)
			}
			testkit.Eventually(t, 60*time.Second, "the SDK trying to send during the outage", func() bool {
				net.mu.Lock()
				defer net.mu.Unlock()
				return net.failed > failedBefore
			})
			restarted := time.Now()
			replica = startIngestReplica(t, replicaCfg)
			stored(12, "the outage's tracks, sent again")
			net.mu.Lock()
			t.Logf("%s: %d sends failed during the outage; all stored %.1f s after the collector was back", sdk.name, net.failed-failedBefore, time.Since(restarted).Seconds())
			elsewhere, paths := net.elsewhere, fmt.Sprint(net.paths)
			sentTo := net.paths[sdk.path]
			net.mu.Unlock()
			if sentTo == 0 {
				t.Fatalf("the SDK sent to %s, want track calls on %s", paths, sdk.path)
			}
			checkSDKEvents(t, adm, src, 10, false, "page", "identify")
			if len(elsewhere) > 0 {
				t.Fatalf("the browser made requests off loopback: %v", elsewhere)
			}
		})
	}
}

// sdkSite serves the test page and the SDKs' files from node_modules.
func sdkSite(modules, page string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/segment/analytics-next/bundles/", http.StripPrefix("/segment/analytics-next/bundles/",
		http.FileServer(http.Dir(filepath.Join(modules, "@segment", "analytics-next", "dist", "umd")))))
	mux.HandleFunc("/rudder/index.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(modules, "@rudderstack", "analytics-js", "dist", "npm", "modern", "bundled", "umd", "index.js"))
	})
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	})
	return mux
}
