package adminapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/sources"
	"github.com/trackstream/trackstream/internal/testkit"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// strong passes the password policy.
const strong = "wobbly-Lantern-42-orbit"

// clock is a test clock that only moves when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// counterFunc answers CountEvents for the routing tests; the real stores'
// counts are tested in internal/store and end to end in cmd/trackstream.
type counterFunc func(ctx context.Context, source string) (uint64, error)

func (f counterFunc) CountEvents(ctx context.Context, source string) (uint64, error) {
	return f(ctx, source)
}

// testStateKey signs the admin state of every test replica.
var testStateKey = []byte("test-state-key-0123456789abcdef-0123456789")

// cluster is an in-process Kafka (kfake) with trackstream's topics.
type cluster struct {
	opts []kgo.Opt
	cl   *kgo.Client
	// stateKey and adoptUnsigned are the Deps of the next replica
	// started (testStateKey, false unless a test changes them).
	stateKey      []byte
	adoptUnsigned bool
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	opts := kafka.ClientOpts(c.ListenAddrs(), quiet)
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, opts...), kgo.RequiredAcks(kgo.AllISRAcks()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := kafka.EnsureTopics(context.Background(), cl, 1, append(kafka.Topics(1), Topic())); err != nil {
		t.Fatal(err)
	}
	return &cluster{opts: opts, cl: cl, stateKey: testStateKey}
}

// env is a running admin API against a kfake cluster.
type env struct {
	t     *testing.T
	c     *cluster
	srv   *Server
	url   string
	clock *clock
	reg   *sources.Registry
	// logs are the replica's JSON log lines, shown if the test fails.
	logs *testkit.Buffer
}

func testConfig() config.Admin {
	cfg := config.Default().Admin
	cfg.LoginFreeAttempts = 3
	cfg.LoginLockoutAttempts = 6
	return cfg
}

// start runs an admin API replica on c with cfg, bootstrapped with the
// admin password strong, whose event count of a source is the length of
// its id (the routing tests need an answer, not ClickHouse).
func start(t *testing.T, c *cluster, cfg config.Admin, clk *clock) *env {
	t.Helper()
	return startReplica(t, c, cfg, clk, 5*time.Second,
		counterFunc(func(_ context.Context, source string) (uint64, error) { return uint64(len(source)), nil }))
}

// startReplica runs an admin API replica on c with cfg whose statements
// go to events with queryTimeout, bootstrapped with the admin password
// strong.
func startReplica(t *testing.T, c *cluster, cfg config.Admin, clk *clock, queryTimeout time.Duration, events Queries) *env {
	t.Helper()
	if clk == nil {
		clk = &clock{t: time.Now()}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	reg := sources.NewRegistry()
	go func() { _ = reg.Follow(ctx, c.opts, quiet) }()
	logs := &testkit.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("admin API logs:\n%s", logs)
		}
	})
	srv, err := New(cfg, queryTimeout, Deps{Kafka: c.cl, KafkaOpts: c.opts, Sources: reg, Now: clk.now, Events: events, StateKey: c.stateKey, AdoptUnsigned: c.adoptUnsigned},
		slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Run(ctx) }()
	bootCtx, bootCancel := context.WithTimeout(ctx, 30*time.Second)
	defer bootCancel()
	if err := srv.Bootstrap(bootCtx, t.TempDir(), strong, io.Discard); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &env{t: t, c: c, srv: srv, url: ts.URL, clock: clk, reg: reg, logs: logs}
}

func newEnv(t *testing.T) *env { return start(t, newCluster(t), testConfig(), nil) }

type response struct {
	code   int
	body   map[string]any
	raw    string
	header http.Header
}

// call sends a request with an optional bearer token and extra headers
// ("Name: value").
func (e *env) call(method, path, token, body string, headers ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return response{resp.StatusCode, out, string(raw), resp.Header}
}

// login returns a session token of user.
func (e *env) login(user, pw string) string {
	e.t.Helper()
	r := e.call("POST", "/api/v1/auth/login", "", `{"username":"`+user+`","password":"`+pw+`"}`)
	if r.code != http.StatusOK {
		e.t.Fatalf("login %s: %d %s", user, r.code, r.raw)
	}
	return r.body["token"].(string)
}

// mustCall fails unless the answer has status want.
func (e *env) mustCall(want int, method, path, token, body string) map[string]any {
	e.t.Helper()
	r := e.call(method, path, token, body)
	if r.code != want {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, r.code, r.raw, want)
	}
	return r.body
}
