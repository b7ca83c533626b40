package browser_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/trackstream/trackstream/internal/testkit/browser"
)

// TestNewRunsScript serves a page whose script writes into the document and
// checks that the browser ran it and reached the loopback server.
func TestNewRunsScript(t *testing.T) {
	hits := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- r.URL.Path
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!doctype html><title>t</title><p id="out">waiting</p><script src="/app.js"></script>`)
		case "/app.js":
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprint(w, `document.getElementById("out").textContent = "ran " + (6 * 7);`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	tab := browser.New(t, browser.Options{})
	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(tab, chromedp.Poll[string](`document.getElementById("out").textContent.startsWith("ran") && document.getElementById("out").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if got != "ran 42" {
		t.Fatalf("page text = %q, want %q", got, "ran 42")
	}
	seen := map[string]bool{}
	for len(hits) > 0 {
		seen[<-hits] = true
	}
	if !seen["/"] || !seen["/app.js"] {
		t.Fatalf("server saw %v, want / and /app.js", seen)
	}
}

func TestExecPathFromEnv(t *testing.T) {
	t.Setenv(browser.PathEnv, "/opt/chrome/chrome")
	if got := browser.ExecPath(); got != "/opt/chrome/chrome" {
		t.Fatalf("ExecPath() = %q with %s set", got, browser.PathEnv)
	}
	t.Setenv(browser.PathEnv, "")
	if got := browser.ExecPath(); got != browser.DefaultPath {
		t.Fatalf("ExecPath() = %q, want %q", got, browser.DefaultPath)
	}
}
