package adminapi

import (
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// guiBudget is the most the GUI's files may weigh together, gzip-compressed.
const guiBudget = 150 << 10

func TestGUIAssetsWithinBudget(t *testing.T) {
	a, err := loadGUI()
	if err != nil {
		t.Fatal(err)
	}
	size := a.GzipSize()
	t.Logf("GUI assets: %d files, %d bytes gzip", len(a), size)
	if size > guiBudget {
		t.Fatalf("the GUI's files weigh %d bytes gzip, over the budget of %d", size, guiBudget)
	}
}

// TestGUIRendersNoMarkupFromData keeps the GUI free of the APIs that turn
// strings into markup or code, so event data (attacker-controlled) can
// only ever become text. The browser test (cmd/trackstream TestGUI)
// proves the same with a hostile event.
func TestGUIRendersNoMarkupFromData(t *testing.T) {
	banned := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setTimeout\(\s*["'\x60]|\.srcdoc|createContextualFragment|javascript:`)
	err := fs.WalkDir(webFiles, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		b, err := webFiles.ReadFile(p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := banned.FindString(line); m != "" && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				t.Errorf("%s:%d uses %s", p, i+1, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestGUIServing(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		path, wantType string
		want           int
	}{
		{"/ui/", "text/html; charset=utf-8", 200},
		{"/ui/events", "text/html; charset=utf-8", 200},
		{"/ui/sessions/s-1", "text/html; charset=utf-8", 200},
		{"/ui/assets/app.js", "text/javascript; charset=utf-8", 200},
		{"/ui/assets/style.css", "text/css; charset=utf-8", 200},
		{"/ui/assets/nothing.js", "application/json", 404},
	}
	for _, c := range cases {
		r := e.call("GET", c.path, "", "")
		if r.code != c.want || r.header.Get("Content-Type") != c.wantType {
			t.Errorf("GET %s: %d %q, want %d %q", c.path, r.code, r.header.Get("Content-Type"), c.want, c.wantType)
		}
		if c.want == 200 {
			csp := r.header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("GET %s: Content-Security-Policy %q", c.path, csp)
			}
		}
	}
	if r := e.call("GET", "/ui/", "", ""); !strings.Contains(r.raw, `<script type="module" src="/ui/assets/app.js">`) || strings.Contains(r.raw, "<script>") {
		t.Errorf("index.html must load its script from a file and have no inline script:\n%s", r.raw)
	}

	// gzip when asked for, and the same bytes after decompression.
	req, _ := http.NewRequest("GET", e.url+"/ui/assets/app.js", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("app.js with Accept-Encoding gzip: Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	want, _ := webFiles.ReadFile("web/assets/app.js")
	if string(got) != string(want) {
		t.Fatal("gzip answer differs from the file")
	}
	if r := e.call("GET", "/ui/assets/app.js", "", "", "If-None-Match: "+resp.Header.Get("ETag")); r.code != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: %d, want 304", r.code)
	}

	// / leads to the GUI.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp2, err := noRedirect.Get(e.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusFound || resp2.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /: %d Location %q", resp2.StatusCode, resp2.Header.Get("Location"))
	}
}

// TestCookieSession: the GUI's login puts the session in an HttpOnly,
// SameSite=Strict cookie; changes made with it need the CSRF token;
// bearer tokens keep working without one.
func TestCookieSession(t *testing.T) {
	e := newEnv(t)
	r := e.call("POST", "/api/v1/auth/login", "", `{"username":"admin","password":"`+strong+`","cookie":true}`)
	if r.code != http.StatusOK {
		t.Fatalf("cookie login: %d %s", r.code, r.raw)
	}
	if _, ok := r.body["token"]; ok {
		t.Error("a cookie login must not put the session token in the body, where scripts can read it")
	}
	csrf, _ := r.body["csrf_token"].(string)
	setCookie := r.header.Get("Set-Cookie")
	for _, want := range []string{"trackstream_session=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(setCookie, want) {
			t.Errorf("Set-Cookie %q lacks %s", setCookie, want)
		}
	}
	cookie := "Cookie: " + strings.Split(setCookie, ";")[0]
	if len(csrf) != 64 || strings.Contains(setCookie, csrf) {
		t.Fatalf("csrf_token %q", csrf)
	}

	if r := e.call("GET", "/api/v1/auth/me", "", "", cookie); r.code != http.StatusOK || r.body["csrf_token"] != csrf || r.body["user"] != "admin" {
		t.Fatalf("me with the cookie: %d %s", r.code, r.raw)
	}
	body := `{"name":"via cookie"}`
	if r := e.call("POST", "/api/v1/sources", "", body, cookie); r.code != http.StatusForbidden || r.body["error"] != "csrf" {
		t.Errorf("change with the cookie and no CSRF token: %d %s, want 403 csrf", r.code, r.raw)
	}
	if r := e.call("POST", "/api/v1/sources", "", body, cookie, "X-CSRF-Token: "+strings.Repeat("0", 64)); r.code != http.StatusForbidden {
		t.Errorf("change with a wrong CSRF token: %d, want 403", r.code)
	}
	if r := e.call("POST", "/api/v1/sources", "", body, cookie, "X-CSRF-Token: "+csrf, "Origin: https://evil.example"); r.code != http.StatusForbidden {
		t.Errorf("change from a foreign origin: %d, want 403", r.code)
	}
	if r := e.call("POST", "/api/v1/sources", "", body, cookie, "X-CSRF-Token: "+csrf); r.code != http.StatusCreated {
		t.Errorf("change with the cookie and the CSRF token: %d %s", r.code, r.raw)
	}
	// Bearer tokens need no CSRF token (no browser adds them by itself).
	tok := e.login("admin", strong)
	e.mustCall(http.StatusCreated, "POST", "/api/v1/sources", tok, `{"name":"via bearer"}`)
	// An Authorization header is judged alone: a bad one is not rescued by the cookie.
	if r := e.call("GET", "/api/v1/auth/me", "not-a-token", "", cookie); r.code != http.StatusUnauthorized {
		t.Errorf("bad bearer with a good cookie: %d, want 401", r.code)
	}
	// Logout ends the session and clears the cookie.
	r = e.call("POST", "/api/v1/auth/logout", "", "", cookie, "X-CSRF-Token: "+csrf)
	if r.code != http.StatusNoContent || !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d Set-Cookie %q", r.code, r.header.Get("Set-Cookie"))
	}
	if r := e.call("GET", "/api/v1/auth/me", "", "", cookie); r.code != http.StatusUnauthorized {
		t.Errorf("me after logout: %d, want 401", r.code)
	}
}
