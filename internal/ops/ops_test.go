package ops

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestOpsEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "trackstream_test_things_total", Help: "x"})
	reg.MustRegister(c)
	c.Add(3)
	var kafkaDown atomic.Bool
	s, err := Listen("127.0.0.1:0", reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	base := "http://" + s.Addr()
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "starting") {
		t.Fatalf("readyz before Started: %d %s", code, body)
	}
	s.Started(Check{
		Name: "kafka", Reason: "unreachable", Fn: func(context.Context) error {
			if kafkaDown.Load() {
				return errors.New("no broker answers")
			}
			return nil
		},
	})

	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "trackstream_test_things_total 3") {
		t.Fatalf("metrics: %d %s", code, body)
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, body := get(t, base+"/debug/pprof/heap?debug=1"); code != 200 || !strings.Contains(body, "heap profile") {
		t.Fatalf("pprof heap: %d %.80s", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Fatalf("readyz: %d %s", code, body)
	}
	kafkaDown.Store(true)
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, `"kafka":"unreachable"`) {
		t.Fatalf("readyz with kafka down: %d %s", code, body)
	}
	kafkaDown.Store(false)
	s.Drain()
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "stopping") {
		t.Fatalf("readyz while draining: %d %s", code, body)
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("healthz while draining %d, want 200 (alive)", code)
	}
}

func TestListenErrorNamesTheSetting(t *testing.T) {
	_, err := Listen("256.0.0.1:1", prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "TRACKSTREAM_OPS_ADDR") {
		t.Fatalf("got %v", err)
	}
}

// Profiles are served to loopback clients only, even when the listener
// binds every interface; metrics and health are not restricted.
func TestPprofIsLoopbackOnly(t *testing.T) {
	s, err := Listen("127.0.0.1:0", prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	for _, tc := range []struct {
		peer, path string
		want       int
	}{
		{"10.1.2.3:5555", "/debug/pprof/heap?debug=1", http.StatusForbidden},
		{"[2001:db8::1]:5555", "/debug/pprof/profile?seconds=1", http.StatusForbidden},
		{"10.1.2.3:5555", "/debug/pprof/trace?seconds=1", http.StatusForbidden},
		{"127.0.0.1:5555", "/debug/pprof/heap?debug=1", http.StatusOK},
		{"[::1]:5555", "/debug/pprof/cmdline", http.StatusOK},
		{"10.1.2.3:5555", "/healthz", http.StatusOK},
	} {
		req := httptest.NewRequest("GET", tc.path, nil)
		req.RemoteAddr = tc.peer
		rec := httptest.NewRecorder()
		s.srv.Handler.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s from %s: %d, want %d", tc.path, tc.peer, rec.Code, tc.want)
		}
	}
}

// A failing check's error (which names hosts, addresses, internals) never
// reaches the /readyz answer: the answer holds the check's fixed reason,
// and the error goes to the log, once while it stays the same.
func TestReadyzAnswersAFixedReasonAndLogsTheError(t *testing.T) {
	var logged strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil))
	s, err := Listen("127.0.0.1:0", prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	const internal = "dial tcp 10.0.7.3:9092: connect: connection refused (broker kafka-0.internal.svc)"
	var down atomic.Bool
	down.Store(true)
	s.Started(
		Check{Name: "kafka", Reason: "unreachable", Fn: func(context.Context) error {
			if down.Load() {
				return errors.New(internal)
			}
			return nil
		}},
		Check{Name: "other", Fn: func(context.Context) error { return errors.New("/var/lib/secret/path: permission denied") }},
	)
	base := "http://" + s.Addr()
	for range 3 {
		code, body := get(t, base+"/readyz")
		if code != 503 || body != `{"failed":{"kafka":"unreachable","other":"not ready"},"ready":false}`+"\n" {
			t.Fatalf("readyz: %d %s", code, body)
		}
	}
	down.Store(false)
	get(t, base+"/readyz")
	mu.Lock()
	out := logged.String()
	mu.Unlock()
	if n := strings.Count(out, "10.0.7.3:9092"); n != 1 {
		t.Errorf("the kafka error was logged %d times over 3 failing probes, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "readiness check passes again") || !strings.Contains(out, "permission denied") {
		t.Errorf("log lacks the recovery or the other check's error:\n%s", out)
	}
}

// lockedWriter serialises writes to w with mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
