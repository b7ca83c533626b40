package processor

// These tests run the processor for real: each test starts its own
// in-memory Kafka-protocol cluster (kfake), so its topics and offsets are
// its own, and all tests share one embedded ClickHouse (chDB) that TestMain
// opens, because a process may open only one chDB data path. Tests keep
// their rows apart by source_id (newSource) and their offsets apart by
// consumer group.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/store"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/schemas"
)

var (
	// testStore is the embedded ClickHouse every test stores into.
	testStore *store.Embedded
	// testRaw is a second handle on the same data path for queries the
	// Store interface does not offer (count() with and without FINAL).
	testRaw *chdb.DB
	// testSeq makes source ids and group names unique in the process, so
	// -count=N reruns against the same store do not collide.
	testSeq atomic.Int64
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	lib, err := testkit.FindCHDBLib()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: package processor:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "trackstream-processor-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	testStore, err = store.OpenEmbedded(ctx, lib, dir, slog.New(slog.DiscardHandler), store.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: open embedded ClickHouse (%s): %v\n", lib, err)
		return 1
	}
	defer testStore.Close()
	// store.OpenEmbedded keeps its data under <dataDir>/clickhouse; the
	// engine allows several handles on that one path.
	testRaw, err = chdb.Open(lib, filepath.Join(dir, "clickhouse"), 1)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: second handle on the embedded ClickHouse: %v\n", err)
		return 1
	}
	defer testRaw.Close()
	return m.Run()
}

// ---- helpers ----

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9]+`)

// newSource is a source id no other test (or rerun) uses.
func newSource(t testing.TB) string {
	return fmt.Sprintf("src-%s-%d", unsafeName.ReplaceAllString(t.Name(), "-"), testSeq.Add(1))
}

// newGroup is a consumer group no other test uses.
func newGroup(t testing.TB) string {
	return fmt.Sprintf("grp-%s-%d", unsafeName.ReplaceAllString(t.Name(), "-"), testSeq.Add(1))
}

// eventually is testkit.Eventually for a condition that describes its
// state, shown when the wait times out.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	var state string
	testkit.Eventually(t, timeout, what, func() (ok bool) { ok, state = cond(); return ok },
		func() string { return "last state: " + state })
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// makeEvents returns n events of source with distinct ids and visitors (so
// their keys spread over the partitions).
func makeEvents(source string, n int) []event.Event {
	now := time.Now().UTC().Truncate(time.Millisecond)
	out := make([]event.Event, n)
	for i := range out {
		out[i] = event.Event{
			SourceID:   source,
			ID:         fmt.Sprintf("%s-e%05d", source, i),
			Type:       "page-view",
			Time:       now.Add(-time.Duration(i) * time.Millisecond),
			ReceivedAt: now,
			SessionID:  fmt.Sprintf("s%d", i/3),
			ProfileID:  fmt.Sprintf("p%d", i),
			Properties: json.RawMessage(`{"path":"/pricing","n":` + strconv.Itoa(i) + `}`),
			Context:    json.RawMessage(`{"ua":"test"}`),
		}
	}
	return out
}

// eventRecord is e as ingest produces it.
func eventRecord(t testing.TB, e event.Event) *kgo.Record {
	t.Helper()
	v, err := e.Marshal()
	if err != nil {
		t.Fatalf("marshal event %s: %v", e.ID, err)
	}
	return &kgo.Record{
		Topic:   kafka.EventsTopic,
		Key:     e.Key(),
		Value:   v,
		Headers: []kgo.RecordHeader{{Key: event.FormatHeader, Value: []byte(event.FormatVersion)}},
	}
}

// testKafka is one test's Kafka cluster with a client for producing and
// admin requests.
type testKafka struct {
	addrs []string
	cl    *kgo.Client
	adm   *kadm.Client
	log   *slog.Logger
}

func newKafka(t testing.TB, partitions int32, log *slog.Logger) *testKafka {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kafka.ClientOpts(c.ListenAddrs(), log)...)
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	t.Cleanup(cl.Close)
	if err := kafka.EnsureTopics(ctxFor(t, 10*time.Second), cl, 1, kafka.Topics(partitions)); err != nil {
		t.Fatalf("create topics: %v", err)
	}
	return &testKafka{addrs: c.ListenAddrs(), cl: cl, adm: kadm.NewClient(cl), log: log}
}

// produce writes records synchronously and returns them with their
// partitions and offsets filled in.
func (k *testKafka) produce(t testing.TB, recs ...*kgo.Record) []*kgo.Record {
	t.Helper()
	if err := k.cl.ProduceSync(ctxFor(t, 10*time.Second), recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d records: %v", len(recs), err)
	}
	return recs
}

func (k *testKafka) produceEvents(t testing.TB, events []event.Event) []*kgo.Record {
	t.Helper()
	recs := make([]*kgo.Record, len(events))
	for i, e := range events {
		recs[i] = eventRecord(t, e)
	}
	return k.produce(t, recs...)
}

// offsets returns the group's committed offsets and the end offsets of
// topic, by partition; a partition without a commit is absent.
func (k *testKafka) offsets(t testing.TB, group, topic string) (committed, end map[int32]int64, err error) {
	ctx := ctxFor(t, 5*time.Second)
	ends, err := k.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, nil, fmt.Errorf("list end offsets: %w", err)
	}
	if err := ends.Error(); err != nil {
		return nil, nil, fmt.Errorf("list end offsets: %w", err)
	}
	fetched, err := k.adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch offsets of %s: %w", group, err)
	}
	committed, end = map[int32]int64{}, map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
	fetched.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil && o.At >= 0 {
			committed[o.Partition] = o.At
		}
	})
	return committed, end, nil
}

// committedAtEnd reports whether group has committed every partition of the
// events topic up to its end offset.
func (k *testKafka) committedAtEnd(t testing.TB, group string) (bool, string) {
	committed, end, err := k.offsets(t, group, kafka.EventsTopic)
	if err != nil {
		return false, err.Error()
	}
	for p, e := range end {
		if e > 0 && committed[p] != e {
			return false, fmt.Sprintf("committed %v, end %v", committed, end)
		}
	}
	return true, ""
}

// testConfig is the default processor configuration with a test's
// consumer group and batch limits.
func testConfig(group string, rows int, age time.Duration) config.Processor {
	cfg := config.Default().Processor
	cfg.Group, cfg.BatchRows, cfg.BatchAge = group, rows, age
	return cfg
}

// runner is a processor running in its own goroutine.
type runner struct {
	p      *Processor
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// start runs a processor with cfg and sink until the test ends (or stop).
// setup, when not nil, runs before Run, e.g. to set fault hooks.
func (k *testKafka) start(t testing.TB, cfg config.Processor, sink Sink, setup func(p *Processor, cancel context.CancelFunc)) *runner {
	t.Helper()
	reg := prometheus.NewRegistry()
	// A short heartbeat lets members notice rebalances quickly.
	opts := append(kafka.ClientOpts(k.addrs, k.log), kgo.HeartbeatInterval(250*time.Millisecond))
	p, err := New(cfg, opts, sink, k.log, reg)
	if err != nil {
		t.Fatalf("processor.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{p: p, reg: reg, cancel: cancel, done: make(chan struct{})}
	if setup != nil {
		setup(p, cancel)
	}
	go func() {
		defer close(r.done)
		r.err = p.Run(ctx, 20*time.Second)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run's context and waits for Run to return.
func (r *runner) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	r.wait(t, 30*time.Second)
}

// wait waits for Run to return by itself.
func (r *runner) wait(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-r.done:
		if r.err != nil {
			t.Errorf("Run: %v", r.err)
		}
	case <-time.After(timeout):
		t.Fatalf("Run did not return within %s", timeout)
	}
}

// counter is the value of the processor's counter metric name, summed
// over its label values (or of the series whose labels include match, as
// name=value pairs).
func (r *runner) counter(t testing.TB, name string, match ...string) float64 {
	t.Helper()
	return r.metric(t, name, func(m *dto.Metric) float64 { return m.GetCounter().GetValue() }, match...)
}

// gauge is like counter for a gauge.
func (r *runner) gauge(t testing.TB, name string, match ...string) float64 {
	t.Helper()
	return r.metric(t, name, func(m *dto.Metric) float64 { return m.GetGauge().GetValue() }, match...)
}

func (r *runner) metric(t testing.TB, name string, value func(*dto.Metric) float64, match ...string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		sum := 0.0
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(match); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == match[i] && l.GetValue() == match[i+1]
				}
				if !found {
					continue series
				}
			}
			sum += value(m)
		}
		return sum
	}
	if len(match) > 0 {
		return 0
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// insertCall is one InsertEvents call a recordingSink saw.
type insertCall struct {
	token string
	rows  int
	err   error
}

// recordingSink passes inserts to the shared store and records them. The
// first failFirst calls fail; the very first of those stores the rows
// before failing, like a clickhouse-go Send that fails after the server
// took the data.
type recordingSink struct {
	failFirst int
	// down, while set, fails every call without storing anything.
	down atomic.Bool
	// failReads is the number of stored-ids counts (RecentHours) still to
	// fail.
	failReads atomic.Int32

	mu    sync.Mutex
	calls []insertCall
}

func (s *recordingSink) InsertRows(ctx context.Context, token string, events []store.Row) error {
	s.mu.Lock()
	n := len(s.calls)
	s.mu.Unlock()
	fail := n < s.failFirst || s.down.Load()
	var err error
	if !fail || (n == 0 && s.failFirst > 0) {
		err = testStore.InsertRows(ctx, token, events)
	}
	if fail && err == nil {
		err = fmt.Errorf("injected failure of insert call %d", n+1)
	}
	s.mu.Lock()
	s.calls = append(s.calls, insertCall{token: token, rows: len(events), err: err})
	s.mu.Unlock()
	return err
}

// Copies asks the shared store, failing like InsertRows while down.
func (s *recordingSink) Copies(ctx context.Context, rows []store.Row) ([]bool, error) {
	if s.down.Load() {
		return nil, errors.New("injected failure of a stored-events lookup")
	}
	return testStore.Copies(ctx, rows)
}

// RecentIDs reads the shared store, failing like InsertRows while down.
func (s *recordingSink) RecentIDs(ctx context.Context, parts []int32, n int, from, to time.Time, fn func(store.RecentID)) error {
	if s.down.Load() {
		return errors.New("injected failure of a stored-ids read")
	}
	return testStore.RecentIDs(ctx, parts, n, from, to, fn)
}

// RecentHours counts in the shared store, failing like InsertRows while
// down.
func (s *recordingSink) RecentHours(ctx context.Context, parts []int32, n int, from, to time.Time) (map[int64]int, error) {
	if s.down.Load() || s.failReads.Add(-1) >= 0 {
		return nil, errors.New("injected failure of a stored-ids count")
	}
	return testStore.RecentHours(ctx, parts, n, from, to)
}

func (s *recordingSink) snapshot() []insertCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]insertCall(nil), s.calls...)
}

// storedRows is the number of rows successful calls inserted, counting a
// token once: a repeated insert with the same token stores nothing new.
func (s *recordingSink) storedRows() int {
	n, seen := 0, map[string]bool{}
	for _, c := range s.snapshot() {
		if c.err == nil && !seen[c.token] {
			seen[c.token] = true
			n += c.rows
		}
	}
	return n
}

func countEvents(t testing.TB, source string) uint64 {
	t.Helper()
	n, err := testStore.CountEvents(ctxFor(t, 10*time.Second), source)
	if err != nil {
		t.Fatalf("CountEvents: %v", err)
	}
	return n
}

// checkStoredOnce fails t unless the events table holds exactly want rows
// of source without FINAL: no copy of an event reached it, not even one
// that a merge would later collapse.
func checkStoredOnce(t testing.TB, source string, want uint64) {
	t.Helper()
	if got := countRows(t, source, false); got != want {
		t.Errorf("count() without FINAL = %d, want %d", got, want)
	}
}

// countRows is count() of the source's rows, with FINAL (what remains once
// ReplacingMergeTree has collapsed duplicates) or without (every row
// stored; duplicate inserts show here until a merge removes them).
func countRows(t testing.TB, source string, final bool) uint64 {
	t.Helper()
	q := "SELECT count() FROM " + schemas.Database + ".events"
	if final {
		q += " FINAL"
	}
	q += " WHERE source_id = {source:String}"
	out, err := testRaw.QueryParams(ctxFor(t, 10*time.Second), q, "TabSeparated", map[string]string{"source": source})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatalf("%s: answer %q: %v", q, out, err)
	}
	return n
}

// waitStored waits until the group has committed everything produced and
// the store holds want events of source.
func (k *testKafka) waitStored(t testing.TB, group, source string, want uint64) {
	t.Helper()
	eventually(t, time.Minute, "offsets committed to the end", func() (bool, string) { return k.committedAtEnd(t, group) })
	if got := countEvents(t, source); got != want {
		t.Fatalf("CountEvents = %d after the group committed everything, want %d", got, want)
	}
}

// ---- tests ----

// The happy path: events produced over three partitions all end up stored
// once, every batch with its own valid token, and the group's offsets reach
// the end of every partition.
func TestStoresEventsAndCommitsOffsets(t *testing.T) {
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 3, log)
	source, group := newSource(t), newGroup(t)
	const n = 300
	k.produceEvents(t, makeEvents(source, n))

	sink := &recordingSink{}
	k.start(t, testConfig(group, 50, 100*time.Millisecond), sink, nil)
	k.waitStored(t, group, source, n)

	if got := countRows(t, source, false); got != n {
		t.Errorf("count() = %d rows, want %d (nothing was retried, so no row may be stored twice)", got, n)
	}
	calls := sink.snapshot()
	tokens := map[string]bool{}
	for _, c := range calls {
		if c.rows > 50 {
			t.Errorf("batch of %d rows, BatchRows is 50", c.rows)
		}
		if !tokenPattern.MatchString(c.token) {
			t.Errorf("token %q does not match %s", c.token, tokenPattern)
		}
		if tokens[c.token] {
			t.Errorf("token %q used for two batches", c.token)
		}
		tokens[c.token] = true
	}
	if got := sink.storedRows(); got != n {
		t.Errorf("sink got %d rows in %d calls, want %d", got, len(calls), n)
	}
}

// A crash between the insert and the commit: the rows are in ClickHouse
// but the offsets are not committed, so the next member of the group
// consumes the same records again. It finds them stored and drops them
// before insert (however the replay cuts its batches): the table holds
// each event once, even without FINAL.
//
// The crash is simulated with the afterInsert hook: right after the first
// insert it closes the processor's Kafka client (leaving the group without
// committing; autocommit is off) and cancels Run's context. Every commit
// after that fails on the closed client, including the one of Run's final
// flush on the way out (which finds the batch stored and inserts nothing).
// On the broker this looks exactly like a member that died
// after its insert: no commit, partitions handed to the next member.
func TestCrashBetweenInsertAndCommitStoresOnce(t *testing.T) {
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 1, log)
	source, group := newSource(t), newGroup(t)
	const n = 40
	k.produceEvents(t, makeEvents(source, n))
	// One batch of exactly the n records, whichever way the polls split
	// them: BatchRows ends it, BatchAge never does.
	cfg := testConfig(group, n, time.Minute)

	first := &recordingSink{}
	var crashed atomic.Bool
	r1 := k.start(t, cfg, first, func(p *Processor, cancel context.CancelFunc) {
		w := p.workers[0]
		w.afterInsert = func() {
			if crashed.CompareAndSwap(false, true) {
				w.cl.CloseAllowingRebalance()
				cancel()
			}
		}
	})
	r1.wait(t, 30*time.Second)
	if !crashed.Load() {
		t.Fatal("Run returned without reaching afterInsert")
	}
	calls1 := first.snapshot()
	if len(calls1) == 0 {
		t.Fatal("the first processor inserted nothing")
	}
	for _, c := range calls1 {
		if c.err != nil || c.rows != n || c.token != calls1[0].token {
			t.Fatalf("first processor's inserts %+v, want successful inserts of the one batch of %d rows", calls1, n)
		}
	}
	if got := countEvents(t, source); got != n {
		t.Fatalf("after the crash CountEvents = %d, want %d (the insert happened)", got, n)
	}
	committed, end, err := k.offsets(t, group, kafka.EventsTopic)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := committed[0]; ok && c >= end[0] {
		t.Fatalf("after the crash the group has committed %d of %d: the crash came too late to test anything", c, end[0])
	}

	second := &recordingSink{}
	k.start(t, cfg, second, nil)
	k.waitStored(t, group, source, n)

	// The replayed batch is found stored and dropped before insert.
	if calls2 := second.snapshot(); len(calls2) != 0 {
		t.Fatalf("second processor's inserts %+v, want none: every replayed event is already stored", calls2)
	}
	if got := countRows(t, source, true); got != n {
		t.Errorf("count() FINAL = %d, want %d", got, n)
	}
	if got := countRows(t, source, false); got != n {
		t.Errorf("count() without FINAL = %d, want %d: the re-insert with token %s was not deduplicated", got, n, calls1[0].token)
	}
}

// Ingest may produce an event twice (a client retry): same ids, another
// receive time, other offsets and so another token; a DLQ replay produces
// a record again. The processor finds
// the stored events and drops the copies before insert, so the table (and
// every count rollup) holds each event once, even without FINAL.
func TestResentEventsAreCountedOnce(t *testing.T) {
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 2, log)
	source, group := newSource(t), newGroup(t)
	const n = 100
	events := makeEvents(source, n)
	k.produceEvents(t, events)

	sink := &recordingSink{}
	r := k.start(t, testConfig(group, 30, 100*time.Millisecond), sink, nil)
	k.waitStored(t, group, source, n)

	// A client resend: another receive time and corrected time.
	resent := slices.Clone(events)
	for i := range resent {
		resent[i].ReceivedAt = resent[i].ReceivedAt.Add(time.Minute)
		resent[i].Time = resent[i].Time.Add(time.Second)
	}
	k.produceEvents(t, resent)
	// A replay of the original records (what a DLQ replay produces: the
	// same key and value at new offsets).
	k.produceEvents(t, events)
	eventually(t, 20*time.Second, "the resent and replayed events dropped", func() (bool, string) {
		c := r.counter(t, "trackstream_processor_copies_dropped_total")
		return c == 2*n, fmt.Sprintf("%v copies dropped", c)
	})
	k.waitStored(t, group, source, n)

	if got := sink.storedRows(); got != n {
		t.Errorf("the sink stored %d rows, want %d: resent copies reached the insert", got, n)
	}
	checkStoredOnce(t, source, n)
}

// Records that can never be stored go to the DLQ with the reason and their
// origin; their neighbours are stored and the group commits past them.
func TestPoisonRecordsAreParkedInTheDLQ(t *testing.T) {
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 1, log)
	source, group := newSource(t), newGroup(t)
	good := makeEvents(source, 4)

	notJSON := eventRecord(t, good[0])
	notJSON.Value = []byte("not json")
	// A well-formed event, but in a format this build does not know: it
	// must not be stored as if it were version 1.
	unknown := eventRecord(t, makeEvents(source+"-future", 1)[0])
	unknown.Headers = []kgo.RecordHeader{{Key: event.FormatHeader, Value: []byte("9")}}

	recs := k.produce(t,
		eventRecord(t, good[0]), notJSON, eventRecord(t, good[1]),
		eventRecord(t, good[2]), unknown, eventRecord(t, good[3]),
	)

	r := k.start(t, testConfig(group, 100, 100*time.Millisecond), &recordingSink{}, nil)
	k.waitStored(t, group, source, uint64(len(good)))
	if got := countEvents(t, source+"-future"); got != 0 {
		t.Errorf("the record of unknown format 9 was stored (%d events)", got)
	}
	if got := r.counter(t, "trackstream_processor_dead_letters_total"); got != 2 {
		t.Errorf("dead_letters_total = %v, want 2", got)
	}

	// The dead letters are produced before the batch is committed, so
	// with the group at the end they are all in the DLQ.
	dlq, err := kgo.NewClient(append(kafka.ClientOpts(k.addrs, log),
		kgo.ConsumeTopics(kafka.DLQTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	_, end, err := k.offsets(t, group, kafka.DLQTopic)
	if err != nil {
		t.Fatal(err)
	}
	if end[0] != 2 {
		t.Fatalf("DLQ end offset %d, want 2 dead letters", end[0])
	}
	var parked []*kgo.Record
	eventually(t, 10*time.Second, "2 dead letters read back", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		parked = append(parked, dlq.PollFetches(ctx).Records()...)
		return len(parked) >= 2, fmt.Sprintf("%d read", len(parked))
	})

	for i, want := range []struct {
		orig   *kgo.Record
		reason string
	}{
		{recs[1], "undecodable event record: invalid record at byte 0: a record must be a JSON object"},
		{recs[4], `undecodable event record: unknown format version "9"`},
	} {
		got := parked[i]
		h := map[string]string{}
		for _, x := range got.Headers {
			h[x.Key] = string(x.Value)
		}
		if !strings.HasPrefix(h["trackstream-dlq-reason"], want.reason) {
			t.Errorf("dead letter %d: reason %q, want it to start with %q", i, h["trackstream-dlq-reason"], want.reason)
		}
		if h["trackstream-dlq-topic"] != kafka.EventsTopic ||
			h["trackstream-dlq-partition"] != strconv.Itoa(int(want.orig.Partition)) ||
			h["trackstream-dlq-offset"] != strconv.FormatInt(want.orig.Offset, 10) {
			t.Errorf("dead letter %d: origin %s/%s@%s, want %s/%d@%d", i,
				h["trackstream-dlq-topic"], h["trackstream-dlq-partition"], h["trackstream-dlq-offset"],
				kafka.EventsTopic, want.orig.Partition, want.orig.Offset)
		}
		if !bytes.Equal(got.Value, want.orig.Value) || !bytes.Equal(got.Key, want.orig.Key) {
			t.Errorf("dead letter %d: key/value %q/%q, want the original %q/%q", i, got.Key, got.Value, want.orig.Key, want.orig.Value)
		}
	}
}

// A failing insert is retried with the same token until it succeeds, and
// only then committed. The first failed attempt did store the rows (as a
// Send that fails after the server took the data can), so without the
// token the retry would store them twice.
func TestFailedInsertsAreRetriedWithTheSameToken(t *testing.T) {
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 1, log)
	source, group := newSource(t), newGroup(t)
	const n, failures = 30, 3
	k.produceEvents(t, makeEvents(source, n))

	sink := &recordingSink{failFirst: failures}
	r := k.start(t, testConfig(group, n, time.Minute), sink, nil)
	k.waitStored(t, group, source, n)

	calls := sink.snapshot()
	if len(calls) < failures+1 {
		t.Fatalf("%d insert calls, want at least %d", len(calls), failures+1)
	}
	for i, c := range calls[:failures+1] {
		if c.token != calls[0].token || c.rows != n {
			t.Errorf("call %d: token %s with %d rows, want the first call's %s with %d", i+1, c.token, c.rows, calls[0].token, n)
		}
		if failed := c.err != nil; failed != (i < failures) {
			t.Errorf("call %d: error %v, want failure only for the first %d calls", i+1, c.err, failures)
		}
	}
	if got := countRows(t, source, false); got != n {
		t.Errorf("count() without FINAL = %d, want %d: a retry stored the batch again", got, n)
	}
	if got := r.counter(t, "trackstream_processor_insert_errors_total"); got != failures {
		t.Errorf("insert_errors_total = %v, want %d", got, failures)
	}
}

// Two members share four partitions; one stops (and on stop flushes and
// commits what it holds) while events keep arriving, and the other takes
// over its partitions. Every event is stored, and the counts are exact.
func TestTwoProcessorsOneStopsMidway(t *testing.T) {
	testkit.SkipShort(t)
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 4, log)
	source, group := newSource(t), newGroup(t)
	cfg := testConfig(group, 50, 100*time.Millisecond)

	sinkA, sinkB := &recordingSink{}, &recordingSink{}
	a := k.start(t, cfg, sinkA, nil)
	k.start(t, cfg, sinkB, nil)

	// The producer sends chunks of new events until told to stop.
	var produced atomic.Int64
	stopProducing := make(chan struct{})
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		for chunk := 0; ; chunk++ {
			select {
			case <-stopProducing:
				return
			default:
			}
			events := makeEvents(source, 25)
			recs := make([]*kgo.Record, len(events))
			for i := range events {
				events[i].ID = fmt.Sprintf("%s-c%04d-%02d", source, chunk, i)
				events[i].ProfileID = fmt.Sprintf("p%d-%d", chunk, i)
				v, err := events[i].Marshal()
				if err != nil {
					t.Errorf("marshal: %v", err)
					return
				}
				recs[i] = &kgo.Record{Topic: kafka.EventsTopic, Key: events[i].Key(), Value: v,
					Headers: []kgo.RecordHeader{{Key: event.FormatHeader, Value: []byte(event.FormatVersion)}}}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := k.cl.ProduceSync(ctx, recs...).FirstErr()
			cancel()
			if err != nil {
				t.Errorf("produce chunk %d: %v", chunk, err)
				return
			}
			produced.Add(int64(len(recs)))
			time.Sleep(10 * time.Millisecond) // pacing, not synchronisation
		}
	}()
	stopProducer := func() {
		select {
		case <-stopProducing:
		default:
			close(stopProducing)
		}
		<-producerDone
	}
	t.Cleanup(stopProducer)

	// Both members hold partitions once both have stored something.
	eventually(t, time.Minute, "both processors storing", func() (bool, string) {
		ra, rb := sinkA.storedRows(), sinkB.storedRows()
		return ra > 0 && rb > 0, fmt.Sprintf("A stored %d rows, B %d", ra, rb)
	})
	a.stop(t)
	storedByA := sinkA.storedRows()
	afterStop := produced.Load()

	// Events keep coming after A left; B must take all of them.
	eventually(t, time.Minute, "500 more events produced after A stopped", func() (bool, string) {
		p := produced.Load()
		return p >= afterStop+500, fmt.Sprintf("%d produced since A stopped", p-afterStop)
	})
	stopProducer()
	total := produced.Load()
	k.waitStored(t, group, source, uint64(total))

	if got := sinkA.storedRows(); got != storedByA {
		t.Errorf("A stored %d rows after Run returned (had %d)", got, storedByA)
	}
	if got := countRows(t, source, true); got != uint64(total) {
		t.Errorf("count() FINAL = %d, want %d", got, total)
	}
	// Each member committed what it inserted before giving a partition up
	// (rebalances wait for the flush; a stop flushes and commits), so no
	// record was consumed and inserted twice.
	if got := int64(storedByA + sinkB.storedRows()); got != total {
		t.Errorf("A and B inserted %d rows in all, want %d: a partition changed hands with inserted rows uncommitted", got, total)
	}
	if got := countRows(t, source, false); got != uint64(total) {
		t.Errorf("count() without FINAL = %d, want %d: some events were inserted twice", got, total)
	}
	t.Logf("produced %d events; A stored %d rows before stopping, B %d rows", total, storedByA, sinkB.storedRows())
}

// Cancelling Run's context while a batch is buffered (neither full nor
// old) makes Run insert and commit it before returning.
func TestStopFlushesAndCommitsTheBufferedBatch(t *testing.T) {
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 2, log)
	source, group := newSource(t), newGroup(t)
	const n = 25
	k.produceEvents(t, makeEvents(source, n))

	sink := &recordingSink{}
	r := k.start(t, testConfig(group, 100_000, time.Hour), sink, nil)
	eventually(t, 20*time.Second, "all records consumed", func() (bool, string) {
		c := r.counter(t, "trackstream_processor_records_consumed_total")
		return c == n, fmt.Sprintf("%v consumed", c)
	})
	if got := countEvents(t, source); got != 0 {
		t.Fatalf("%d events stored before the stop; the batch should still be buffered", got)
	}
	if ok, _ := k.committedAtEnd(t, group); ok {
		t.Fatal("offsets committed before the stop; the batch should still be buffered")
	}

	r.stop(t)
	if got := countEvents(t, source); got != n {
		t.Errorf("after Run returned CountEvents = %d, want %d", got, n)
	}
	if ok, state := k.committedAtEnd(t, group); !ok {
		t.Errorf("after Run returned the offsets are not committed: %s", state)
	}
	if calls := sink.snapshot(); len(calls) != 1 || calls[0].rows != n {
		t.Errorf("inserts %+v, want one of %d rows", calls, n)
	}
}
