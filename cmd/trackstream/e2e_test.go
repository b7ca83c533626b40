package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/internal/testkit/client"
)

const testPassword = "wobbly-Lantern-42-orbit"

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
	cfg.ClickHouse.CHDBLib = testkit.CHDBLib(t)
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
	log := testkit.Logger(t, slog.LevelWarn)
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
	testkit.Eventually(t, 30*time.Second, "readyz 200", func() bool { return client.Ready(t.Context(), n.ops.Addr()) })
	return n, stop
}

func TestAllEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	n, stop := startAll(t, cfg)
	ingestURL := "http://" + n.ingestAddr + "/track"

	anon := &client.Admin{URL: "http://" + n.adminAddr}
	if code, _ := call(t, anon, "POST", "/api/v1/auth/login", `{"username":"admin","password":"wrong-password-123"}`); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: status %d, want 401", code)
	}
	adm := login(t, n.adminAddr)
	if code, _ := call(t, anon, "GET", "/api/v1/events/count?source=x", nil); code != http.StatusUnauthorized {
		t.Fatalf("count without a token: status %d, want 401", code)
	}
	badToken := &client.Admin{URL: anon.URL, Token: "not-a-token"}
	if code, _ := call(t, badToken, "GET", "/api/v1/events/count?source=x", nil); code != http.StatusUnauthorized {
		t.Fatalf("count with a bad token: status %d, want 401", code)
	}
	if len(adm.Token) < 22 {
		t.Fatalf("token %q too short for 128 bits", adm.Token)
	}
	src := createSource(t, adm, "e2e site")

	requests := make([]string, 10)
	for r := range requests {
		requests[r] = trackBody(src, r, 100)
	}
	// The new source reaches ingest through the sources topic within seconds.
	waitSourceKnown(t, n.ingestAddr, src)
	sendAll(t, ingestURL, requests)
	testkit.Eventually(t, 30*time.Second, "1000 events counted", func() bool { return count(t, adm, src) == 1000 })

	// The same requests again: found stored and dropped before insert,
	// counted once.
	sendAll(t, ingestURL, requests)
	testkit.Eventually(t, 30*time.Second, "the resent events dropped as copies", func() bool {
		return metric(t, n.ops.Addr(), "trackstream_processor_copies_dropped_total") >= 1000
	})
	if got := metric(t, n.ops.Addr(), "trackstream_processor_rows_inserted_total"); got != 1000 {
		t.Fatalf("rows inserted %v after the resend, want 1000: a copy reached the insert", got)
	}
	if got := count(t, adm, src); got != 1000 {
		t.Fatalf("after resending the same events: count %d, want 1000", got)
	}

	// A restart keeps the events and the source (data dir).
	stop()
	n2, _ := startAll(t, cfg)
	adm2 := login(t, n2.adminAddr)
	if got := count(t, adm2, src); got != 1000 {
		t.Fatalf("after restart: count %d, want 1000", got)
	}
	testkit.Eventually(t, 10*time.Second, "ingest knows the source after restart", func() bool {
		code, _ := post(t, "http://"+n2.ingestAddr+"/track", requests[0])
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
		code, resp := post(t, url, body)
		if code != http.StatusOK {
			t.Fatalf("request %d: status %d: %s", i, code, resp)
		}
		var out struct {
			Accepted int
			Rejected []any
		}
		if err := json.Unmarshal(resp, &out); err != nil {
			t.Fatalf("request %d: answer %s: %v", i, resp, err)
		}
		if out.Accepted != 100 || len(out.Rejected) != 0 {
			t.Fatalf("request %d: %s", i, resp)
		}
	}
}

// post sends a tracking request and returns the status and answer.
func post(t *testing.T, url, body string) (int, []byte) {
	t.Helper()
	code, resp, err := client.Post(t.Context(), url, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return code, resp
}

// call makes an admin API call and returns the status and answer.
func call(t *testing.T, a *client.Admin, method, path string, body any) (int, []byte) {
	t.Helper()
	code, resp, err := a.Do(t.Context(), method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return code, resp
}

// login logs in as admin on the admin listener at addr.
func login(t *testing.T, addr string) *client.Admin {
	t.Helper()
	a, err := client.Login(t.Context(), "http://"+addr, "admin", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func createSource(t *testing.T, a *client.Admin, name string) string {
	t.Helper()
	id, err := a.CreateSource(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// waitSourceKnown waits until the ingest listener at addr accepts source.
func waitSourceKnown(t *testing.T, addr, source string) {
	t.Helper()
	if err := client.WaitSourceKnown(t.Context(), "http://"+addr, source, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, a *client.Admin, source string) uint64 {
	t.Helper()
	n, err := a.Count(t.Context(), source)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// listEvents decodes the admin API's list of a source's events (bots
// included, at most 100) into out.
func listEvents(t *testing.T, a *client.Admin, source string, out any) {
	t.Helper()
	if err := a.Call(t.Context(), "GET", "/api/v1/events?bots=include&limit=100&source="+url.QueryEscape(source), nil, out); err != nil {
		t.Fatalf("list events: %v", err)
	}
}

// metric reads an unlabelled metric from the ops listener.
func metric(t *testing.T, opsAddr, name string) float64 {
	t.Helper()
	v, err := client.Metric(t.Context(), opsAddr, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(testkit.FreeAddr(t))
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
	log := testkit.Logger(t, slog.LevelWarn)
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
	testkit.Eventually(t, 15*time.Second, "ingest ready", func() bool { return client.Ready(t.Context(), n.ops.Addr()) })
	code, body := call(t, &client.Admin{URL: "http://" + n.ingestAddr}, "POST", "/api/v1/auth/login", `{}`)
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
