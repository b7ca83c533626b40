package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/internal/testkit/browser"
)

// optionsPage is a page with the tracker under the attributes {{attrs}},
// after the script {{before}}.
const optionsPage = `<!doctype html><title>Options</title>
<script>{{before}}</script>
<script defer src="{{script}}" data-source="{{source}}" {{attrs}}></script>
<a id="dl" href="/files/report.pdf" download>report</a>`

// TestTrackerOptionsInBrowser: the tracker's switches in Chromium. It
// sends nothing to an automated browser unless data-webdriver, after the
// visitor's opt-out, or under Global Privacy Control with data-dnt; with
// data-hash, data-persist and ts.identify it counts hash routes, keeps the
// visitor in localStorage and names the user; a file link is a download;
// a batch the collector refuses (4xx) is dropped with a console warning,
// not queued.
func TestTrackerOptionsInBrowser(t *testing.T) {
	tab := browser.New(t, browser.Options{})
	cfg := testConfig(t, t.TempDir())
	all, _ := startAll(t, cfg)
	adm := login(t, all.adminAddr)
	src := createSource(t, adm, "options site")
	waitSourceKnown(t, all.ingestAddr, src)

	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		source := src
		if q.Get("source") != "" {
			source = q.Get("source")
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, strings.NewReplacer(
			"{{before}}", q.Get("before"), "{{attrs}}", q.Get("attrs"),
			"{{script}}", "http://"+all.ingestAddr+"/ts.js", "{{source}}", source,
		).Replace(optionsPage))
	}))
	t.Cleanup(site.Close)

	var warnings sync.Map // console warnings, by text
	if err := chromedp.Listen(tab, func(ev any) {
		if e, ok := ev.(*runtime.EventConsoleAPICalled); ok && e.Type == runtime.ConsoleAPICalledTypeWarning {
			var text []string
			for _, a := range e.Args {
				text = append(text, string(a.Value))
			}
			warnings.Store(strings.Join(text, " "), true)
		}
	}); err != nil {
		t.Fatal(err)
	}
	open := func(path string, params map[string]string) {
		t.Helper()
		v := url.Values{}
		for k, p := range params {
			v.Set(k, p)
		}
		if err := chromedp.Do(tab, chromedp.Navigate(site.URL+path+"?"+v.Encode())); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(tab, chromedp.Poll[bool](`document.readyState == 'complete' && !!window.ts`)); err != nil {
			t.Fatal(err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(tab, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}

	// Switched off: a call does not even start a session (the tracker
	// keeps nothing and sends nothing).
	for name, params := range map[string]map[string]string{
		"automated browser":       {"attrs": "data-local"},
		"opt-out":                 {"attrs": "data-local data-webdriver", "before": "localStorage.ts_off = '1'"},
		"Global Privacy Control":  {"attrs": "data-local data-webdriver data-dnt", "before": "Object.defineProperty(navigator, 'globalPrivacyControl', {value: true})"},
		"localhost (127.0.0.1)":   {"attrs": "data-webdriver"},
		"Do Not Track (data-dnt)": {"attrs": "data-local data-webdriver data-dnt", "before": "Object.defineProperty(navigator, 'doNotTrack', {value: '1'})"},
	} {
		open("/off", params)
		if got := eval(`ts.track('nothing'); String(sessionStorage.ts_s)`); got != "undefined" {
			t.Errorf("%s: the tracker started session %s, want it off", name, got)
		}
		eval(`localStorage.clear(); sessionStorage.clear(); ''`)
	}

	// Refused by the collector: dropped with a warning, not queued.
	open("/refused", map[string]string{"attrs": "data-local data-webdriver", "source": "src_unknown"})
	testkit.Eventually(t, 30*time.Second, "a console warning of the 401", func() bool {
		found := false
		warnings.Range(func(k, _ any) bool {
			found = found || strings.Contains(k.(string), "trackstream") && strings.Contains(k.(string), "401")
			return !found
		})
		return found
	})
	if q := eval(`String(sessionStorage.ts_q)`); q != "undefined" {
		t.Errorf("a refused batch was queued: %s", q)
	}
	eval(`sessionStorage.clear(); ''`)

	// Hash routes, a persistent visitor, a user, a download.
	open("/shop", map[string]string{"attrs": "data-local data-webdriver data-hash data-persist"})
	eval(`location.hash = '#/cart'; ''`)
	testkit.Eventually(t, 30*time.Second, "the hash route counted", func() bool { return count(t, adm, src) >= 1 })
	eval(`ts.identify('user-42', {plan: 'pro'}); ''`)
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS("#dl"))); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, "4 events stored", func() bool { return count(t, adm, src) == 4 })
	testkit.Eventually(t, 10*time.Second, "the visitor kept in localStorage", func() bool {
		return eval(`String(localStorage.ts_p)`) != "undefined"
	})
	kept := eval(`localStorage.ts_p`)
	if s := eval(`String(sessionStorage.ts_s)`); s != "undefined" {
		t.Errorf("with data-persist the session is in sessionStorage (%s), want localStorage", s)
	}

	code, body := call(t, adm, "GET", "/api/v1/events?bots=include&limit=100&source="+url.QueryEscape(src), nil)
	if code != http.StatusOK {
		t.Fatalf("list events: %d %s", code, body)
	}
	var out struct {
		Events []struct {
			Type       string
			URL        string `json:"url"`
			UserID     string `json:"user_id"`
			ProfileID  string `json:"profile_id"`
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	var got []string
	for _, e := range out.Events {
		u, _ := url.Parse(e.URL)
		got = append(got, fmt.Sprintf("%s %s#%s user=%s", e.Type, u.Path, u.Fragment, e.UserID))
		if e.ProfileID != kept {
			t.Errorf("event %s stored under profile %q; the page keeps %q", e.Type, e.ProfileID, kept)
		}
	}
	slices.Sort(got)
	want := []string{
		"file-download /shop#/cart user=user-42",
		"identify /shop#/cart user=user-42",
		"page-view /shop# user=",
		"page-view /shop#/cart user=",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events stored\n %q\nwant\n %q", got, want)
	}
}
