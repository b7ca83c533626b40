package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/config"
)

const testPassword = "wobbly-Lantern-42-orbit"

// chdbLib returns the libchdb path the suite uses; the suite needs it and
// fails (not skips) without it, since `task test` always fetches it.
func chdbLib(t *testing.T) string {
	t.Helper()
	lib := os.Getenv(chdb.LibEnv)
	if lib == "" {
		lib = config.DefaultCHDBLib()
	}
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("libchdb not found at %s: run `go tool -modfile=tools/go.mod task chdb:fetch` or set %s", lib, chdb.LibEnv)
	}
	return lib
}

// testConfig is the all role on loopback ports chosen by the kernel.
func testConfig(t *testing.T, dataDir string) config.Config {
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.LogFormat = "text"
	cfg.OpsAddr = "127.0.0.1:0"
	cfg.Ingest.Addr = "127.0.0.1:0"
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.Kafka.EmbeddedPort = 0
	cfg.Kafka.Partitions = 3
	cfg.ClickHouse.CHDBLib = chdbLib(t)
	cfg.Admin.Password = testPassword
	cfg.Processor.BatchAge = 200 * time.Millisecond
	cfg.ShutdownTimeout = 20 * time.Second
	cfg.Ingest.DrainDelay = 0 // no load balancer to drain in tests
	return cfg
}

// startAll starts the all role in this process and stops it at cleanup
// unless the test stopped it first.
func startAll(t *testing.T, cfg config.Config) (*node, func()) {
	t.Helper()
	log := testLogger(t)
	n, err := start(context.Background(), config.Set{config.RoleAll}, cfg, log, io.Discard)
	if err != nil {
		t.Fatalf("start all: %v", err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := n.stop(ctx); err != nil {
			t.Errorf("stop all: %v", err)
		}
	}
	t.Cleanup(stop)
	waitFor(t, 30*time.Second, "readyz 200", func() bool {
		resp, err := http.Get("http://" + n.ops.Addr() + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return n, stop
}

// testLogger logs to t until the test ends; clients still closing in the
// background after that (see Processor.Run) are not allowed to log to a
// finished test.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func TestAllEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	n, stop := startAll(t, cfg)
	admin := "http://" + n.adminAddr
	ingestURL := "http://" + n.ingestAddr + "/track"

	if code, _ := call(t, "POST", admin+"/api/v1/auth/login", "", `{"username":"admin","password":"wrong-password-123"}`); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: status %d, want 401", code)
	}
	token := login(t, admin)
	if code, _ := call(t, "GET", admin+"/api/v1/events/count?source=x", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("count without a token: status %d, want 401", code)
	}
	if code, _ := call(t, "GET", admin+"/api/v1/events/count?source=x", "not-a-token", ""); code != http.StatusUnauthorized {
		t.Fatalf("count with a bad token: status %d, want 401", code)
	}
	code, body := call(t, "POST", admin+"/api/v1/sources", token, `{"name":"e2e site"}`)
	if code != http.StatusCreated {
		t.Fatalf("create source: %d %s", code, body)
	}
	var src struct{ ID string }
	mustJSON(t, body, &src)

	requests := make([]string, 10)
	for r := range requests {
		requests[r] = trackBody(src.ID, r, 100)
	}
	// The new source reaches ingest through the sources topic within seconds.
	waitFor(t, 10*time.Second, "ingest knows the new source", func() bool {
		code, _ := call(t, "POST", ingestURL, "", requests[0])
		return code != http.StatusUnauthorized
	})
	sendAll(t, ingestURL, requests)
	waitFor(t, 30*time.Second, "1000 events counted", func() bool { return count(t, admin, token, src.ID) == 1000 })

	// The same requests again: stored again, counted once.
	sendAll(t, ingestURL, requests)
	waitFor(t, 30*time.Second, "the resent events inserted", func() bool {
		return metric(t, n.ops.Addr(), "trackstream_processor_rows_inserted_total") >= 2000
	})
	if got := count(t, admin, token, src.ID); got != 1000 {
		t.Fatalf("after resending the same events: count %d, want 1000", got)
	}

	// A restart keeps the events and the source (data dir).
	stop()
	n2, _ := startAll(t, cfg)
	admin2 := "http://" + n2.adminAddr
	token2 := login(t, admin2)
	if got := count(t, admin2, token2, src.ID); got != 1000 {
		t.Fatalf("after restart: count %d, want 1000", got)
	}
	waitFor(t, 10*time.Second, "ingest knows the source after restart", func() bool {
		code, _ := call(t, "POST", "http://"+n2.ingestAddr+"/track", "", requests[0])
		return code == http.StatusOK
	})
}

// trackBody is request r of a run: n events with ids e-r-i, spread over a
// few profiles.
func trackBody(sourceID string, r, n int) string {
	events := make([]map[string]any, n)
	for i := range events {
		events[i] = map[string]any{
			"id": fmt.Sprintf("e-%d-%d", r, i), "type": "page-view",
			"properties": map[string]any{"path": fmt.Sprintf("/p/%d", i%17), "n": i},
		}
	}
	b, _ := json.Marshal(map[string]any{
		"source":  map[string]string{"id": sourceID},
		"session": map[string]string{"id": fmt.Sprintf("s-%d", r)},
		"profile": map[string]string{"id": fmt.Sprintf("p-%d", r%4)},
		"context": map[string]any{"page": map[string]string{"url": "https://example.com/"}},
		"events":  events,
	})
	return string(b)
}

func sendAll(t *testing.T, url string, requests []string) {
	t.Helper()
	for i, body := range requests {
		code, resp := call(t, "POST", url, "", body)
		if code != http.StatusOK {
			t.Fatalf("request %d: status %d: %s", i, code, resp)
		}
		var out struct {
			Accepted int
			Rejected []any
		}
		mustJSON(t, resp, &out)
		if out.Accepted != 100 || len(out.Rejected) != 0 {
			t.Fatalf("request %d: %s", i, resp)
		}
	}
}

func login(t *testing.T, admin string) string {
	t.Helper()
	code, body := call(t, "POST", admin+"/api/v1/auth/login", "", `{"username":"admin","password":"`+testPassword+`"}`)
	if code != http.StatusOK {
		t.Fatalf("login: %d %s", code, body)
	}
	var out struct{ Token string }
	mustJSON(t, body, &out)
	if len(out.Token) < 22 {
		t.Fatalf("token %q too short for 128 bits", out.Token)
	}
	return out.Token
}

func count(t *testing.T, admin, token, source string) uint64 {
	t.Helper()
	code, body := call(t, "GET", admin+"/api/v1/events/count?source="+source, token, "")
	if code != http.StatusOK {
		t.Fatalf("count: %d %s", code, body)
	}
	var out struct{ Count uint64 }
	mustJSON(t, body, &out)
	return out.Count
}

// metric reads an unlabelled metric from the ops listener.
func metric(t *testing.T, opsAddr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + opsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("metric %s not exposed", name)
	return 0
}

func call(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// waitFor polls ok until it holds; on timeout it fails, showing logs if
// given.
func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool, logs ...fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			for _, l := range logs {
				t.Log(l.String())
			}
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// The ingest role never touches ClickHouse: it starts and gets ready with
// no libchdb at all, against an external Kafka-protocol broker.
func TestIngestRoleNeedsNoClickHouse(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cfg := testConfig(t, t.TempDir())
	cfg.ClickHouse.CHDBLib = "/nonexistent/libchdb.so"
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	log := testLogger(t)
	n, err := start(context.Background(), config.Set{config.RoleIngest}, cfg, log, io.Discard)
	if err != nil {
		t.Fatalf("ingest role failed to start without libchdb: %v", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.stop(ctx); err != nil {
			t.Error(err)
		}
	}()
	if n.adminAddr != "" {
		t.Fatalf("the ingest role opened an admin listener on %s", n.adminAddr)
	}
	waitFor(t, 15*time.Second, "ingest ready", func() bool {
		resp, err := http.Get("http://" + n.ops.Addr() + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	code, body := call(t, "POST", "http://"+n.ingestAddr+"/api/v1/auth/login", "", `{}`)
	if code != http.StatusNotFound {
		t.Fatalf("admin login on the public listener: %d %s, want 404", code, body)
	}
}

// Several processor workers in one process share the registry: each has
// its own Kafka client metrics, told apart by a worker label.
func TestProcessorWorkersShareOneRegistry(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Processor.Workers = 3
	n, _ := startAll(t, cfg)
	resp, err := http.Get("http://" + n.ops.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for w := range 3 {
		if !strings.Contains(string(body), fmt.Sprintf(`worker="%d"`, w)) {
			t.Fatalf("no Kafka client metrics of worker %d", w)
		}
	}
}
