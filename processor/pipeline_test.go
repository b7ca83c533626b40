package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/store"
	"github.com/trackstream/trackstream/internal/testkit"
)

// readDLQ reads want dead letters from the DLQ topic of k.
func (k *testKafka) readDLQ(t *testing.T, want int) []*kgo.Record {
	t.Helper()
	dlq, err := kgo.NewClient(append(kafka.ClientOpts(k.addrs, k.log),
		kgo.ConsumeTopics(kafka.DLQTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	var parked []*kgo.Record
	eventually(t, 10*time.Second, fmt.Sprintf("%d dead letters read back", want), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		parked = append(parked, dlq.PollFetches(ctx).Records()...)
		return len(parked) >= want, fmt.Sprintf("%d read", len(parked))
	})
	return parked
}

func headers(r *kgo.Record) map[string]string {
	h := map[string]string{}
	for _, x := range r.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}

// Rows that decode but that the store refuses (here: properties that are
// not a JSON object: an array and a number) are isolated
// by splitting the batch: they go to the DLQ with the reason and origin,
// every other row of the batch is stored exactly once, and the partition
// is committed past them.
func TestRejectedRowsAreSplitOutToTheDLQ(t *testing.T) {
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 1, log)
	source, group := newSource(t), newGroup(t)
	events := makeEvents(source, 40)
	events[7].Properties = json.RawMessage(`[1,2]`)
	events[31].Properties = json.RawMessage(`1e400`)
	recs := k.produceEvents(t, events)

	sink := &recordingSink{}
	r := k.start(t, testConfig(group, 40, time.Minute), sink, nil)
	k.waitStored(t, group, source, 38)

	if got := countRows(t, source, false); got != 38 {
		t.Errorf("count() without FINAL = %d, want 38: a half of the split batch was stored twice or lost", got)
	}
	if got := r.counter(t, "trackstream_processor_dead_letters_total", "reason", ReasonRejected); got != 2 {
		t.Errorf("dead letters rejected_by_clickhouse = %v, want 2", got)
	}
	if got := r.counter(t, "trackstream_processor_batch_splits_total"); got < 2 {
		t.Errorf("batch splits = %v, want at least 2", got)
	}
	parked := k.readDLQ(t, 2)
	for i, want := range []*kgo.Record{recs[7], recs[31]} {
		h := headers(parked[i])
		if h[HeaderReasonCode] != ReasonRejected || !strings.Contains(h[HeaderReason], "clickhouse rejected") {
			t.Errorf("dead letter %d: reason %q (%s), want %s", i, h[HeaderReason], h[HeaderReasonCode], ReasonRejected)
		}
		if h[HeaderOffset] != fmt.Sprint(want.Offset) || h[HeaderPartition] != fmt.Sprint(want.Partition) || string(parked[i].Value) != string(want.Value) {
			t.Errorf("dead letter %d: origin %s@%s, want the record at %d@%d", i, h[HeaderPartition], h[HeaderOffset], want.Partition, want.Offset)
		}
	}
	for _, c := range sink.snapshot() {
		if !tokenPattern.MatchString(c.token) {
			t.Errorf("split token %q is not a valid token", c.token)
		}
	}
}

// While ClickHouse is down, inserts fail and are retried, nothing is
// committed, and the consumer lag grows as events keep arriving; once it
// is back the backlog drains and every event is stored exactly once.
func TestInsertOutageLagGrowsThenDrains(t *testing.T) {
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 2, log)
	source, group := newSource(t), newGroup(t)
	sink := &recordingSink{}
	sink.down.Store(true)
	cfg := testConfig(group, 100, 50*time.Millisecond)
	cfg.InsertBackoffMax, cfg.LagInterval = 100*time.Millisecond, 100*time.Millisecond
	r := k.start(t, cfg, sink, nil)

	first := makeEvents(source, 50)
	k.produceEvents(t, first)
	eventually(t, 10*time.Second, "inserts failing", func() (bool, string) {
		n := r.counter(t, "trackstream_processor_insert_retries_total")
		return n >= 3, fmt.Sprintf("%v retries", n)
	})
	eventually(t, 10*time.Second, "lag of the first 50", func() (bool, string) {
		l := r.gauge(t, "trackstream_processor_consumer_lag_records")
		return l == 50, fmt.Sprintf("lag %v", l)
	})
	more := makeEvents(source, 250)[50:]
	k.produceEvents(t, more)
	eventually(t, 10*time.Second, "lag grown to 250", func() (bool, string) {
		l := r.gauge(t, "trackstream_processor_consumer_lag_records")
		return l == 250, fmt.Sprintf("lag %v", l)
	})
	if got := countEvents(t, source); got != 0 {
		t.Fatalf("%d events stored while ClickHouse was down", got)
	}

	sink.down.Store(false)
	k.waitStored(t, group, source, 250)
	eventually(t, 10*time.Second, "lag drained", func() (bool, string) {
		l := r.gauge(t, "trackstream_processor_consumer_lag_records")
		return l == 0, fmt.Sprintf("lag %v", l)
	})
	if got := countRows(t, source, false); got != 250 {
		t.Errorf("count() without FINAL = %d, want 250", got)
	}
	if got := r.counter(t, "trackstream_processor_dead_letters_total"); got != 0 {
		t.Errorf("%v dead letters: an outage must not park events", got)
	}
}

// The fault hook the end-to-end suite uses: the process "exits" right
// after its n-th insert, before the commit; the next member re-inserts
// the same batch under the same token and nothing is stored twice.
func TestFaultExitAfterInsert(t *testing.T) {
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 1, log)
	source, group := newSource(t), newGroup(t)
	const n = 30
	k.produceEvents(t, makeEvents(source, n))
	cfg := testConfig(group, n, time.Minute)

	cfg.FaultExitAfterInsert = 1
	var exitCode atomic.Int64
	r1 := k.start(t, cfg, &recordingSink{}, func(p *Processor, cancel context.CancelFunc) {
		p.faults.exit = func(code int) {
			exitCode.Store(int64(code))
			p.workers[0].cl.CloseAllowingRebalance() // dies: no commit, no goodbye
			cancel()
		}
	})
	r1.wait(t, 30*time.Second)
	if exitCode.Load() != 137 {
		t.Fatalf("exit code %d, want 137", exitCode.Load())
	}
	if ok, _ := k.committedAtEnd(t, group); ok {
		t.Fatal("the batch was committed although the process died before its commit")
	}
	cfg.FaultExitAfterInsert = 0
	k.start(t, cfg, &recordingSink{}, nil)
	k.waitStored(t, group, source, n)
	checkStoredOnce(t, source, n)
}

// nopSink accepts every insert and stores nothing.
type nopSink struct{}

func (nopSink) InsertRows(context.Context, string, []store.Row) error { return nil }

func (nopSink) RecentIDs(context.Context, []int32, int, time.Time, time.Time, func(store.RecentID)) error {
	return nil
}

func (nopSink) RecentHours(context.Context, []int32, int, time.Time, time.Time) (map[int64]int, error) {
	return nil, nil
}

func (nopSink) Copies(_ context.Context, rows []store.Row) ([]bool, error) {
	return make([]bool, len(rows)), nil
}

// The insert fault hook fails every insert until its duration has passed
// since the processor started, and nothing is on by default.
func TestFaults(t *testing.T) {
	cfg := config.Default().Processor
	if f := newFaults(cfg, time.Now()); f != nil {
		t.Fatalf("default configuration has fault hooks on: %+v", f)
	}
	start := time.Now()
	cfg.FaultInsertErrorsFor = time.Hour
	if err := newFaults(cfg, start).wrap(nopSink{}).InsertRows(context.Background(), "t", nil); !errors.Is(err, ErrInjected) {
		t.Errorf("insert during the fault window: %v, want ErrInjected", err)
	}
	cfg.FaultInsertErrorsFor = time.Millisecond
	if err := newFaults(cfg, start.Add(-time.Second)).wrap(nopSink{}).InsertRows(context.Background(), "t-ok", nil); err != nil {
		t.Errorf("insert after the fault window: %v", err)
	}
	cfg.FaultInsertErrorsFor, cfg.FaultExitAfterInsert = 0, 3
	if f := newFaults(cfg, start); f == nil || f.exitAfter != 3 {
		t.Errorf("exit hook: %+v, want exitAfter 3", f)
	}
}

// Events are stored with the enrichment columns derived from their user
// agent, URL and referrer.
func TestEventsAreEnriched(t *testing.T) {
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 1, log)
	source, group := newSource(t), newGroup(t)
	events := makeEvents(source, 2)
	events[0].UserAgent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1"
	events[0].URL = "https://shop.example/p/1?utm_source=news&gclid=abc"
	events[0].Referrer = "https://www.google.de/"
	events[1].UserAgent = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	k.produceEvents(t, events)
	cfg := testConfig(group, 2, 100*time.Millisecond)
	cfg.Enrich = []string{config.EnrichUserAgent, config.EnrichURL, config.EnrichReferrer}
	k.start(t, cfg, &recordingSink{}, nil)
	k.waitStored(t, group, source, 2)

	out, err := testRaw.QueryParams(ctxFor(t, 10*time.Second),
		"SELECT browser, os, device_type, is_bot, url_host, url_path, utm_source, click_id_type, referrer_host, referrer_medium FROM trackstream.events WHERE source_id = {s:String} ORDER BY event_id",
		"TabSeparated", map[string]string{"s": source})
	if err != nil {
		t.Fatal(err)
	}
	want := "Safari\tiOS\tmobile\tfalse\tshop.example\t/p/1\tnews\tgclid\twww.google.de\tsearch\n" +
		"\t\t\ttrue\t\t\t\t\t\tdirect\n"
	if string(out) != want {
		t.Errorf("enriched columns:\n%q\nwant\n%q", out, want)
	}
}

// A second member joins a group mid-stream and takes over partitions the
// first one held: the first flushes and commits before giving them up,
// so no event is inserted twice and none is lost.
func TestProcessorJoiningMidStream(t *testing.T) {
	testkit.SkipShort(t)
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 4, log)
	source, group := newSource(t), newGroup(t)
	cfg := testConfig(group, 40, 100*time.Millisecond)
	sinkA, sinkB := &recordingSink{}, &recordingSink{}
	k.start(t, cfg, sinkA, nil)

	events := makeEvents(source, 1200)
	for i := 0; i < 600; i += 50 {
		k.produceEvents(t, events[i:i+50])
	}
	eventually(t, 20*time.Second, "A storing", func() (bool, string) {
		return sinkA.storedRows() > 0, fmt.Sprintf("A stored %d", sinkA.storedRows())
	})
	k.start(t, cfg, sinkB, nil)
	for i := 600; i < 1200; i += 50 {
		k.produceEvents(t, events[i:i+50])
		time.Sleep(20 * time.Millisecond) // pacing, not synchronisation
	}
	k.waitStored(t, group, source, 1200)
	eventually(t, 20*time.Second, "B took partitions", func() (bool, string) {
		return sinkB.storedRows() > 0, fmt.Sprintf("B stored %d", sinkB.storedRows())
	})
	if got := sinkA.storedRows() + sinkB.storedRows(); got != 1200 {
		t.Errorf("A and B inserted %d rows, want 1200: a partition changed hands with rows inserted but uncommitted", got)
	}
	if got := countRows(t, source, false); got != 1200 {
		t.Errorf("count() without FINAL = %d, want 1200", got)
	}
}

// One processor runs cfg.Workers consumer group members: they share the
// partitions and one set of metrics (franz-go's told apart by a worker
// label), every event is stored once, and a stop stops them all.
func TestWorkersShareOneProcessor(t *testing.T) {
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 4, log)
	source, group := newSource(t), newGroup(t)
	cfg := testConfig(group, 50, 100*time.Millisecond)
	cfg.Workers = 3
	sink := &recordingSink{}
	r := k.start(t, cfg, sink, nil)
	if got := len(r.p.workers); got != 3 {
		t.Fatalf("%d workers, want 3", got)
	}
	const n = 600
	k.produceEvents(t, makeEvents(source, n))
	k.waitStored(t, group, source, n)
	if got := r.counter(t, "trackstream_processor_records_consumed_total"); got != n {
		t.Errorf("records consumed %v, want %d (one counter for all workers)", got, n)
	}
	if got := r.counter(t, "trackstream_processor_rows_inserted_total"); got != float64(sink.storedRows()) {
		t.Errorf("rows inserted %v, the sink stored %d", got, sink.storedRows())
	}
	for _, w := range []string{"0", "1", "2"} {
		if got := r.counter(t, "trackstream_processor_kafka_connects_total", "worker", w); got == 0 {
			t.Errorf("no franz-go connection metric of worker %s", w)
		}
	}
	r.stop(t)
}
