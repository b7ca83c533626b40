package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/internal/testkit/client"
	"github.com/trackstream/trackstream/internal/testkit/kafkanode"
	"github.com/trackstream/trackstream/internal/testkit/proc"
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
	admin    *client.Admin
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
	return jars, testkit.CHDBLib(t)
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
	stateKey := filepath.Join(s.dir, "admin-state.key")
	if err := os.WriteFile(stateKey, []byte(strings.Repeat("e2e-state-key-", 4)), 0o600); err != nil {
		t.Fatal(err)
	}
	s.storeEnv = []string{
		"TRACKSTREAM_ADMIN_STATE_KEY_FILE=" + stateKey,
		"TRACKSTREAM_KAFKA_BROKERS=" + b.Addr(),
		"TRACKSTREAM_DATA_DIR=" + filepath.Join(s.dir, "store"),
		"TRACKSTREAM_CHDB_LIB=" + lib,
		"TRACKSTREAM_ADMIN_PASSWORD=" + adminPassword,
		"TRACKSTREAM_ADMIN_ADDR=" + testkit.FreeAddr(t),
		"TRACKSTREAM_OPS_ADDR=" + testkit.FreeAddr(t),
		"TRACKSTREAM_LOG_LEVEL=warn",
		"TRACKSTREAM_SHUTDOWN_TIMEOUT=20s",
		"TRACKSTREAM_PROCESSOR_BATCH_AGE=" + batchAge.String(),
	}
	s.store = s.startStore(processorWorkers)
	t.Logf("processor,admin-api ready in %s", time.Since(start).Round(time.Millisecond))
	s.admin, err = client.Login(ctx, "http://"+envValue(s.storeEnv, "TRACKSTREAM_ADMIN_ADDR"), "admin", adminPassword)
	if err != nil {
		t.Fatal(err)
	}

	start = time.Now()
	for i := range 2 {
		p, url := s.startIngest(fmt.Sprintf("ingest-%d", i+1), ingestBuffer)
		s.ingest = append(s.ingest, p)
		s.ingURLs = append(s.ingURLs, url)
	}
	t.Logf("2 ingest replicas ready in %s", time.Since(start).Round(time.Millisecond))
	return s
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
	addr, ops := testkit.FreeAddr(s.t), testkit.FreeAddr(s.t)
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

// newSource creates a source and waits until every running ingest replica
// accepts it.
func (s *stack) newSource(name string) string {
	s.t.Helper()
	id, err := s.admin.CreateSource(s.t.Context(), name)
	if err != nil {
		s.t.Fatal(err)
	}
	for i, p := range s.ingest {
		if p.Running() {
			s.waitSourceKnown(s.ingURLs[i], id)
		}
	}
	return id
}

// waitSourceKnown waits until the ingest replica at url accepts source.
func (s *stack) waitSourceKnown(url, source string) {
	s.t.Helper()
	if err := client.WaitSourceKnown(s.t.Context(), url, source, 30*time.Second); err != nil {
		s.t.Fatal(err)
	}
}

// count is the admin API's exact count of distinct events of a source, or
// -1 when it cannot be read right now.
func (s *stack) count(source string) int {
	s.t.Helper()
	n, err := s.admin.Count(s.t.Context(), source)
	if err != nil {
		return -1
	}
	return int(n)
}

// waitStored waits until the admin count of source reaches want, failing
// at once if it ever exceeds most (more distinct events than were sent).
// It returns how long that took.
func (s *stack) waitStored(source string, want, most int, timeout time.Duration) time.Duration {
	s.t.Helper()
	start := time.Now()
	last := -1
	testkit.Eventually(s.t, timeout, fmt.Sprintf("%d events of %s stored", want, source), func() bool {
		last = s.count(source)
		if last > most {
			s.t.Fatalf("source %s counts %d distinct events, more than the %d sent", source, last, most)
		}
		return last >= want
	}, func() string { return fmt.Sprintf("last count %d", last) })
	return time.Since(start)
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
