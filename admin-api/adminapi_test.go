package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/password"
	"github.com/trackstream/trackstream/internal/sources"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const strong = "wobbly-Lantern-42-orbit"

func TestAdminPasswordHash(t *testing.T) {
	t.Run("weak configured password refused with the reason", func(t *testing.T) {
		_, err := AdminPasswordHash(t.TempDir(), "password2024", io.Discard)
		if err == nil || !strings.Contains(err.Error(), "commonly used") {
			t.Fatalf("got %v", err)
		}
		_, err = AdminPasswordHash(t.TempDir(), "short", io.Discard)
		if err == nil || !strings.Contains(err.Error(), "at least 12 characters") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("generated once, printed once, only the hash stored", func(t *testing.T) {
		dir := t.TempDir()
		var out bytes.Buffer
		hash, err := AdminPasswordHash(dir, "", &out)
		if err != nil {
			t.Fatal(err)
		}
		var generated string // the password is printed alone on an indented line
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(line, "    ") {
				generated = strings.TrimSpace(line)
			}
		}
		if ok, err := password.Verify(generated, hash); err != nil || !ok {
			t.Fatalf("printed password %q does not match the hash (%v); output:\n%s", generated, err, out.String())
		}
		stored, err := os.ReadFile(filepath.Join(dir, passwordFile))
		if err != nil || strings.TrimSpace(string(stored)) != hash || strings.Contains(string(stored), generated) {
			t.Fatalf("stored %q, %v", stored, err)
		}
		if fi, _ := os.Stat(filepath.Join(dir, passwordFile)); fi.Mode().Perm() != 0o600 {
			t.Fatalf("hash file mode %v, want 0600", fi.Mode().Perm())
		}
		var again bytes.Buffer
		hash2, err := AdminPasswordHash(dir, "", &again)
		if err != nil || hash2 != hash || again.Len() != 0 {
			t.Fatalf("second start: hash changed or printed again (%v): %q", err, again.String())
		}
	})
	t.Run("configured password replaces the stored one", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := AdminPasswordHash(dir, "", io.Discard); err != nil {
			t.Fatal(err)
		}
		hash, err := AdminPasswordHash(dir, strong, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := password.Verify(strong, hash); !ok {
			t.Fatal("configured password does not verify")
		}
		reused, err := AdminPasswordHash(dir, "", io.Discard)
		if err != nil || reused != hash {
			t.Fatalf("restart without the variable did not keep the configured password: %v", err)
		}
	})
}

func TestSessions(t *testing.T) {
	s := newSessions(time.Minute)
	now := time.Now()
	tok := s.issue("admin", now)
	if len(tok) < 43 {
		t.Fatalf("token %q shorter than 256 bits", tok)
	}
	if u, ok := s.lookup(tok, now.Add(30*time.Second)); !ok || u != "admin" {
		t.Fatal("live token refused")
	}
	if _, ok := s.lookup(tok, now.Add(2*time.Minute)); ok {
		t.Fatal("expired token accepted")
	}
	if _, ok := s.lookup(tok+"x", now); ok {
		t.Fatal("altered token accepted")
	}
	for k := range s.byID {
		if bytes.Contains(k[:], []byte(tok)) {
			t.Fatal("token stored in clear")
		}
	}
}

// counterFunc adapts a function to EventCounter for the routes that need
// no ClickHouse in these tests; the real stores are tested in
// internal/store and end to end in cmd/trackstream.
type counterFunc func(ctx context.Context, source string) (uint64, error)

func (f counterFunc) CountEvents(ctx context.Context, source string) (uint64, error) {
	return f(ctx, source)
}

func newTestServer(t *testing.T) (*httptest.Server, *sources.Registry) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	opts := kafka.ClientOpts(c.ListenAddrs(), quiet)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := kafka.EnsureTopics(context.Background(), cl, 1, kafka.Topics(1)); err != nil {
		t.Fatal(err)
	}
	reg := sources.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = reg.Follow(ctx, opts, quiet) }()
	t.Cleanup(cancel)
	hash, err := password.Hash(strong, password.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default().Admin
	srv, err := New(cfg, 5*time.Second, Deps{
		AdminHash: hash, Kafka: cl, Sources: reg,
		Events: counterFunc(func(_ context.Context, source string) (uint64, error) { return uint64(len(source)), nil }),
	}, quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, reg
}

func do(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestEveryRouteButLoginNeedsAToken(t *testing.T) {
	ts, _ := newTestServer(t)
	srv := &Server{}
	for _, r := range srv.routes() {
		method, path, found := strings.Cut(r.pattern, " ")
		if !found {
			method, path = "GET", r.pattern+"anything"
		}
		code, body := do(t, method, ts.URL+path, "", `{}`)
		switch {
		case r.public && code == http.StatusUnauthorized && body["error"] == "unauthorized":
			t.Errorf("%s: public route asks for a token", r.pattern)
		case !r.public && (code != http.StatusUnauthorized || body["error"] != "unauthorized"):
			t.Errorf("%s without a token: %d %v, want 401 unauthorized", r.pattern, code, body)
		}
		if code, _ := do(t, method, ts.URL+path, "forged-token", `{}`); !r.public && code != http.StatusUnauthorized {
			t.Errorf("%s with a forged token: %d, want 401", r.pattern, code)
		}
	}
}

func TestLoginSourcesAndCount(t *testing.T) {
	ts, reg := newTestServer(t)
	for _, body := range []string{
		`{"username":"admin","password":"wrong-password-1"}`,
		`{"username":"root","password":"` + strong + `"}`,
	} {
		code, out := do(t, "POST", ts.URL+"/api/v1/auth/login", "", body)
		if code != http.StatusUnauthorized || out["error"] != "invalid_credentials" {
			t.Fatalf("login %s: %d %v; want the same 401 for a wrong password and an unknown user", body, code, out)
		}
	}
	if code, out := do(t, "POST", ts.URL+"/api/v1/auth/login", "", `{"username":"admin","password":"x","extra":1}`); code != http.StatusBadRequest {
		t.Fatalf("unknown field: %d %v", code, out)
	}
	code, out := do(t, "POST", ts.URL+"/api/v1/auth/login", "", `{"username":"admin","password":"`+strong+`"}`)
	if code != http.StatusOK {
		t.Fatalf("login: %d %v", code, out)
	}
	token := out["token"].(string)

	if code, out := do(t, "POST", ts.URL+"/api/v1/sources", token, `{"name":"  "}`); code != http.StatusBadRequest {
		t.Fatalf("blank name: %d %v", code, out)
	}
	code, out = do(t, "POST", ts.URL+"/api/v1/sources", token, `{"name":"shop"}`)
	if code != http.StatusCreated || !strings.HasPrefix(out["id"].(string), "src_") || out["enabled"] != true {
		t.Fatalf("create: %d %v", code, out)
	}
	id := out["id"].(string)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := reg.Get(id); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("created source never reached the sources topic")
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, out = do(t, "GET", ts.URL+"/api/v1/sources", token, "")
	if code != http.StatusOK || len(out["sources"].([]any)) != 1 {
		t.Fatalf("list: %d %v", code, out)
	}
	code, out = do(t, "GET", ts.URL+"/api/v1/events/count?source=abcd", token, "")
	if code != http.StatusOK || out["count"] != float64(4) {
		t.Fatalf("count: %d %v", code, out)
	}
	if code, _ := do(t, "GET", ts.URL+"/api/v1/events/count", token, ""); code != http.StatusBadRequest {
		t.Fatalf("count without source: %d", code)
	}
	big := `{"name":"` + strings.Repeat("a", maxBodyBytes) + `"}`
	if code, out := do(t, "POST", ts.URL+"/api/v1/sources", token, big); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d %v", code, out)
	}
}
