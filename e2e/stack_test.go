package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/e2e/internal/kafkanode"
	"github.com/trackstream/trackstream/e2e/internal/proc"
	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/kafka"
)

// adminPassword is the admin password of the store process; strong enough
// for the password policy.
const adminPassword = "e2e-Kafka-Fault-Suite-7f3c9a"

// Tuning of the processes under test, chosen so faults show quickly.
const (
	produceTimeout = 3 * time.Second // ingest's wait for Kafka's ack before 503
	ingestBuffer   = 16 << 20        // ingest producer buffer bound, bytes
	batchAge       = 300 * time.Millisecond
	readyTimeout   = 90 * time.Second // a process's start until /readyz = 200
	// processorWorkers is the number of consumer group members the
	// processor,admin-api process runs (TRACKSTREAM_PROCESSOR_WORKERS).
	processorWorkers = 2
	// ingestRSSBound is the resident memory an ingest replica must stay
	// under, whatever the load: the producer buffer plus the runtime and
	// requests in flight.
	ingestRSSBound = 256 << 20
)

// stack is everything the scenarios run against.
type stack struct {
	t       *testing.T
	dir     string
	bin     string
	chdbLib string
	broker  *kafkanode.Node
	ingest  []*proc.Process
	ingURLs []string
	store   *proc.Process
	// storeEnv is the store process's base settings, for restarts with
	// other worker counts.
	storeEnv []string
	adminURL string
	token    string
}

// long reports whether the long loads were asked for.
func long() bool { return os.Getenv("TRACKSTREAM_E2E_LONG") == "1" }

// pick returns short or, with TRACKSTREAM_E2E_LONG=1, long.
func pick[T any](short, long_ T) T {
	if long() {
		return long_
	}
	return short
}

// requireTools fails (never skips) when the broker jars, java or libchdb
// are missing, saying how to get them.
func requireTools(t *testing.T) (jars, lib string) {
	t.Helper()
	jars = kafkanode.DefaultJarsDir()
	if err := kafkanode.CheckJars(jars); err != nil {
		t.Fatalf("the end-to-end suite needs a real Apache Kafka: %v", err)
	}
	lib = os.Getenv("TRACKSTREAM_CHDB_LIB")
	if lib == "" {
		lib = config.DefaultCHDBLib()
	}
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("the end-to-end suite needs libchdb (embedded ClickHouse) at %s (%v): run `go tool -modfile=tools/go.mod task chdb:fetch`", lib, err)
	}
	return jars, lib
}

// newStack builds trackstream, starts the broker, creates the topics, and
// starts two ingest replicas and the processor,admin-api process.
func newStack(t *testing.T) *stack {
	t.Helper()
	jars, lib := requireTools(t)
	ctx := t.Context()
	s := &stack{t: t, dir: t.TempDir(), chdbLib: lib}

	start := time.Now()
	if bin := os.Getenv("TRACKSTREAM_E2E_BIN"); bin != "" {
		s.bin = bin
	} else {
		root, err := proc.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		if s.bin, err = proc.Build(ctx, root, s.dir); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("trackstream built in %s", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	b, err := kafkanode.Start(ctx, kafkanode.Config{JarsDir: jars, Dir: filepath.Join(s.dir, "kafka")})
	if err != nil {
		t.Fatal(err)
	}
	s.broker = b
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Logf("stop broker: %v", err)
		}
		if t.Failed() {
			t.Logf("broker log tail:\n%s", b.LogTail(40))
		}
	})
	var topics []kafkanode.Topic
	for _, tp := range kafka.Topics(6) {
		topics = append(topics, kafkanode.Topic{Name: tp.Name, Partitions: tp.Partitions, Configs: tp.Configs})
	}
	if err := b.CreateTopics(ctx, topics...); err != nil {
		t.Fatal(err)
	}
	t.Logf("apache kafka %s ready on %s in %s", kafkanode.Version, b.Addr(), time.Since(start).Round(time.Millisecond))

	start = time.Now()
	s.storeEnv = []string{
		"TRACKSTREAM_KAFKA_BROKERS=" + b.Addr(),
		"TRACKSTREAM_DATA_DIR=" + filepath.Join(s.dir, "store"),
		"TRACKSTREAM_CHDB_LIB=" + lib,
		"TRACKSTREAM_ADMIN_PASSWORD=" + adminPassword,
		"TRACKSTREAM_ADMIN_ADDR=" + freeAddr(t),
		"TRACKSTREAM_OPS_ADDR=" + freeAddr(t),
		"TRACKSTREAM_LOG_LEVEL=warn",
		"TRACKSTREAM_SHUTDOWN_TIMEOUT=20s",
		"TRACKSTREAM_PROCESSOR_BATCH_AGE=" + batchAge.String(),
	}
	s.adminURL = "http://" + envValue(s.storeEnv, "TRACKSTREAM_ADMIN_ADDR")
	s.store = s.startStore(processorWorkers)
	t.Logf("processor,admin-api ready in %s", time.Since(start).Round(time.Millisecond))
	s.token = s.login()

	start = time.Now()
	for i := range 2 {
		p, url := s.startIngest(fmt.Sprintf("ingest-%d", i+1), ingestBuffer)
		s.ingest = append(s.ingest, p)
		s.ingURLs = append(s.ingURLs, url)
	}
	t.Logf("2 ingest replicas ready in %s", time.Since(start).Round(time.Millisecond))
	return s
}

func freeAddr(t *testing.T) string {
	t.Helper()
	a, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func envValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// startIngest starts an ingest replica with the given producer buffer.
func (s *stack) startIngest(name string, buffer int) (*proc.Process, string) {
	s.t.Helper()
	addr, ops := freeAddr(s.t), freeAddr(s.t)
	p, err := proc.Start(s.t.Context(), proc.Spec{
		Name: name, Bin: s.bin, Role: "ingest",
		Env: []string{
			"TRACKSTREAM_KAFKA_BROKERS=" + s.broker.Addr(),
			"TRACKSTREAM_DATA_DIR=" + filepath.Join(s.dir, name),
			"TRACKSTREAM_INGEST_ADDR=" + addr,
			"TRACKSTREAM_OPS_ADDR=" + ops,
			"TRACKSTREAM_INGEST_PRODUCE_TIMEOUT=" + produceTimeout.String(),
			fmt.Sprintf("TRACKSTREAM_INGEST_MAX_BUFFERED_BYTES=%d", buffer),
			"TRACKSTREAM_LOG_LEVEL=warn",
			"TRACKSTREAM_SHUTDOWN_TIMEOUT=15s",
		},
		OpsAddr: ops,
	}, readyTimeout)
	if err != nil {
		s.t.Fatal(err)
	}
	s.watch(p)
	return p, "http://" + addr
}

// startStore starts processor,admin-api with the given number of consumer
// group members.
func (s *stack) startStore(workers int) *proc.Process {
	s.t.Helper()
	env := append(append([]string{}, s.storeEnv...), fmt.Sprintf("TRACKSTREAM_PROCESSOR_WORKERS=%d", workers))
	p, err := proc.Start(s.t.Context(), proc.Spec{
		Name: "processor,admin-api", Bin: s.bin, Role: "processor,admin-api",
		Env: env, OpsAddr: envValue(s.storeEnv, "TRACKSTREAM_OPS_ADDR"),
	}, readyTimeout)
	if err != nil {
		s.t.Fatal(err)
	}
	s.watch(p)
	return p
}

// restartStore starts the store process again (after a kill or a stop)
// with the given number of workers and extra settings (fault hooks).
func (s *stack) restartStore(workers int, extraEnv ...string) {
	s.t.Helper()
	env := append([]string{fmt.Sprintf("TRACKSTREAM_PROCESSOR_WORKERS=%d", workers)}, extraEnv...)
	if err := s.store.Restart(s.t.Context(), readyTimeout, env...); err != nil {
		s.t.Fatal(err)
	}
}

// watch kills p at the end of the test and shows its output on failure.
func (s *stack) watch(p *proc.Process) {
	t := s.t
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s output tail:\n%s", p.Name(), p.Tail(60))
		}
		_ = p.Kill()
	})
}

// api calls the admin API and returns the status and body.
func (s *stack) api(method, path, body string) (int, []byte) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.adminURL+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b
}

func (s *stack) login() string {
	s.t.Helper()
	s.token = ""
	code, body := s.api(http.MethodPost, "/api/v1/auth/login", fmt.Sprintf(`{"username":"admin","password":%q}`, adminPassword))
	if code != http.StatusOK {
		s.t.Fatalf("admin login: %d %s", code, body)
	}
	var r struct{ Token string }
	if err := json.Unmarshal(body, &r); err != nil || r.Token == "" {
		s.t.Fatalf("admin login answer %s: %v", body, err)
	}
	return r.Token
}

// newSource creates a source and waits until every running ingest replica
// accepts it.
func (s *stack) newSource(name string) string {
	s.t.Helper()
	code, body := s.api(http.MethodPost, "/api/v1/sources", fmt.Sprintf(`{"name":%q}`, name))
	if code == http.StatusUnauthorized {
		s.token = s.login()
		code, body = s.api(http.MethodPost, "/api/v1/sources", fmt.Sprintf(`{"name":%q}`, name))
	}
	if code != http.StatusCreated && code != http.StatusOK {
		s.t.Fatalf("create source %s: %d %s", name, code, body)
	}
	var r struct{ ID string }
	if err := json.Unmarshal(body, &r); err != nil || r.ID == "" {
		s.t.Fatalf("create source answer %s: %v", body, err)
	}
	for i, p := range s.ingest {
		if p.Running() {
			s.waitSourceKnown(s.ingURLs[i], r.ID)
		}
	}
	return r.ID
}

// waitSourceKnown polls an ingest replica with a request whose only event
// is invalid: 401 while the source is unknown, 400 once it is known.
// Nothing is stored either way.
func (s *stack) waitSourceKnown(url, source string) {
	s.t.Helper()
	probe := fmt.Sprintf(`{"source":{"id":%q},"events":[{"type":"not a valid type!"}]}`, source)
	waitFor(s.t, 30*time.Second, "ingest "+url+" knows source "+source, func() bool {
		code, _ := post(s.t.Context(), url+"/track", "", []byte(probe))
		return code == http.StatusBadRequest
	})
}

// count is the admin API's exact count of distinct events of a source, or
// -1 when it cannot be read right now.
func (s *stack) count(source string) int {
	s.t.Helper()
	code, body := s.api(http.MethodGet, "/api/v1/events/count?source="+source, "")
	if code == http.StatusUnauthorized {
		s.token = s.login()
		code, body = s.api(http.MethodGet, "/api/v1/events/count?source="+source, "")
	}
	if code != http.StatusOK {
		return -1
	}
	var r struct{ Count int }
	if err := json.Unmarshal(body, &r); err != nil {
		s.t.Fatalf("count answer %s: %v", body, err)
	}
	return r.Count
}

// waitStored waits until the admin count of source reaches want, failing
// at once if it ever exceeds most (more distinct events than were sent).
// It returns how long that took.
func (s *stack) waitStored(source string, want, most int, timeout time.Duration) time.Duration {
	s.t.Helper()
	start := time.Now()
	last := -1
	waitFor(s.t, timeout, fmt.Sprintf("%d events of %s stored", want, source), func() bool {
		last = s.count(source)
		if last > most {
			s.t.Fatalf("source %s counts %d distinct events, more than the %d sent", source, last, most)
		}
		return last >= want
	}, func() string { return fmt.Sprintf("last count %d", last) })
	return time.Since(start)
}

// post sends body to url and returns the status (0 on a transport error)
// and the answer.
func post(ctx context.Context, url, encoding string, body []byte) (int, []byte) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, []byte(err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b
}

// waitFor polls cond every 100 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			for _, d := range detail {
				msg += "; " + d()
			}
			t.Fatalf("timed out after %s waiting for %s%s", timeout, what, msg)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("test ended waiting for %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ingestPeakRSS is the highest peak resident memory of the running ingest
// replicas.
func (s *stack) ingestPeakRSS() int64 {
	var peak int64
	for _, p := range s.ingest {
		if m, err := p.ReadMemory(); err == nil && m.Peak > peak {
			peak = m.Peak
		}
	}
	return peak
}

// healthy brings back whatever a failed scenario left down, so the next
// one starts from a running stack.
func (s *stack) healthy() {
	s.t.Helper()
	ctx := s.t.Context()
	_ = s.broker.Resume() // after a failed pause scenario; an error means not paused or not running
	if s.broker.PID() == 0 {
		if err := s.broker.Restart(ctx); err != nil {
			s.t.Fatal(err)
		}
	}
	for _, p := range s.ingest {
		if !p.Running() {
			if err := p.Restart(ctx, readyTimeout); err != nil {
				s.t.Fatal(err)
			}
		}
	}
	if !s.store.Running() {
		s.restartStore(processorWorkers)
	}
}
