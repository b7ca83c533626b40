package processor

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/store"
	"github.com/trackstream/trackstream/internal/testkit"
)

// clientEvents are n events of source as ingest makes them from a client
// that stamps its events and their send time: the time is the client's,
// corrected for skew (receive time minus send time), here 2 ms of network
// delay after at.
func clientEvents(source string, n int, at time.Time) []event.Event {
	out := makeEvents(source, n)
	for i := range out {
		client := at.Add(-time.Duration(i) * time.Second).UTC().Truncate(time.Millisecond)
		sent := client.Add(time.Second)
		out[i].ClientTime, out[i].SentAt = &client, &sent
		out[i].ReceivedAt = sent.Add(2 * time.Millisecond)
		out[i].Time = out[i].ReceivedAt.Add(-sent.Sub(client))
	}
	return out
}

// resend is what ingest makes of a client's resend of events a minute
// later: another send and receive time, so another corrected time (5 ms
// of delay instead of 2).
func resend(events []event.Event) []event.Event {
	out := slices.Clone(events)
	for i := range out {
		sent := out[i].SentAt.Add(time.Minute)
		out[i].SentAt = &sent
		out[i].ReceivedAt = sent.Add(5 * time.Millisecond)
		out[i].Time = out[i].ReceivedAt.Add(-sent.Sub(*out[i].ClientTime))
	}
	return out
}

// lookups is the ids the processor looked up in ClickHouse.
func (r *runner) lookups(t testing.TB) float64 {
	t.Helper()
	return r.counter(t, "trackstream_processor_dedup_lookup_ids_total")
}

// Copies within the window are dropped and new events stored without a
// single ClickHouse lookup; a record keyed otherwise than its event is
// looked up. Mutations tried: decides always false (lookups), has never
// hitting (copies stored twice), no key check (the odd record decided).
func TestWindowDropsCopiesWithoutLookups(t *testing.T) {
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 2, log)
	source, group := newSource(t), newGroup(t)
	const n = 100
	events := clientEvents(source, n, time.Now())
	k.produceEvents(t, events)

	sink := &recordingSink{}
	r := k.start(t, testConfig(group, 30, 100*time.Millisecond), sink, nil)
	k.waitStored(t, group, source, n)
	if got := r.lookups(t); got != 0 {
		t.Errorf("%v ids looked up for new events within the window, want 0", got)
	}

	k.produceEvents(t, resend(events))
	eventually(t, time.Minute, "the resent events dropped", func() (bool, string) {
		c := r.counter(t, "trackstream_processor_copies_dropped_total")
		return c == n, fmt.Sprintf("%v copies dropped", c)
	})
	k.waitStored(t, group, source, n)
	if got := r.lookups(t); got != 0 {
		t.Errorf("%v ids looked up for copies within the window, want 0", got)
	}
	if got := countRows(t, source, false); got != n {
		t.Errorf("count() without FINAL = %d, want %d: a copy was stored", got, n)
	}
	if got := r.gauge(t, "trackstream_processor_dedup_window_ids"); got < n {
		t.Errorf("dedup_window_ids = %v, want at least the %d stored", got, n)
	}

	// An event whose record key is not its own (another producer, another
	// partitioner): its copies could be on another partition.
	odd := clientEvents(source+"-odd", 1, time.Now())
	rec := eventRecord(t, odd[0])
	rec.Key = []byte("someone-else")
	k.produce(t, rec)
	k.waitStored(t, group, source+"-odd", 1)
	if got := r.lookups(t); got != 1 {
		t.Errorf("%v ids looked up, want 1: the record keyed otherwise", got)
	}
}

// A copy of an event stored before the window's start is found by the
// ClickHouse lookup, as is every event without a client time. Mutation
// tried: decides without its time checks (the old copy is stored again).
func TestCopiesBeyondTheWindowAreLookedUp(t *testing.T) {
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 1, log)
	source, group := newSource(t), newGroup(t)

	// Stored three days ago, before a 48 h window.
	old := clientEvents(source, 20, time.Now().Add(-72*time.Hour))
	rows := make([]store.Row, len(old))
	for i := range old {
		rows[i] = store.Row{Event: old[i]}
	}
	if err := testStore.InsertRows(ctxFor(t, 30*time.Second), "test-old-"+source, rows); err != nil {
		t.Fatal(err)
	}
	// Their resends, and events whose time is their receive time (no
	// client time: a resend a day later would have a time a day later).
	noClientTime := makeEvents(source+"-nct", 10)
	k.produceEvents(t, append(resend(old), noClientTime...))

	r := k.start(t, testConfig(group, 100, 100*time.Millisecond), &recordingSink{}, nil)
	k.waitStored(t, group, source, 20)
	k.waitStored(t, group, source+"-nct", 10)
	if got := r.counter(t, "trackstream_processor_copies_dropped_total"); got != 20 {
		t.Errorf("copies_dropped_total = %v, want the 20 old copies", got)
	}
	if got := countRows(t, source, false); got != 20 {
		t.Errorf("count() without FINAL = %d, want 20: a copy older than the window was stored", got)
	}
	if got := r.lookups(t); got != 30 {
		t.Errorf("%v ids looked up, want 30 (20 older than the window, 10 without a client time)", got)
	}
}

// A processor that crashed between insert and commit comes back with its
// window rebuilt from ClickHouse: the replayed batch and a client resend
// sent right after the restart are dropped without a lookup. Mutation
// tried: the rebuild reading no ids (the resend is stored twice).
func TestWindowRebuiltOnAssignmentAfterACrash(t *testing.T) {
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 1, log)
	source, group := newSource(t), newGroup(t)
	const n = 40
	events := clientEvents(source, n, time.Now())
	k.produceEvents(t, events)
	cfg := testConfig(group, n, time.Minute)

	var crashed atomic.Bool
	r1 := k.start(t, cfg, &recordingSink{}, func(p *Processor, cancel context.CancelFunc) {
		w := p.workers[0]
		w.afterInsert = func() {
			if crashed.CompareAndSwap(false, true) {
				w.cl.CloseAllowingRebalance()
				cancel()
			}
		}
	})
	r1.wait(t, 30*time.Second)
	if !crashed.Load() || countEvents(t, source) != n {
		t.Fatalf("the first processor did not insert the batch before its crash (crashed %v, %d stored)", crashed.Load(), countEvents(t, source))
	}

	k.produceEvents(t, resend(events))
	second := &recordingSink{}
	cfg.BatchRows = 2 * n
	r2 := k.start(t, cfg, second, nil)
	k.waitStored(t, group, source, n)
	if calls := second.snapshot(); len(calls) != 0 {
		t.Errorf("second processor inserted %+v, want nothing: the replay and the resend are copies", calls)
	}
	if got := r2.lookups(t); got != 0 {
		t.Errorf("%v ids looked up after the restart, want 0: the rebuilt window decides", got)
	}
	if got := r2.counter(t, "trackstream_processor_dedup_window_rebuilds_total", "result", "ok"); got < 1 {
		t.Errorf("dedup_window_rebuilds_total{result=ok} = %v, want at least 1", got)
	}
	checkStoredOnce(t, source, n)
}

// Over the cap the windows give up hours and those events are looked up:
// nothing is stored twice and the windows hold no more than the cap.
// Mutation tried: a full window skipping an id without moving its start
// (the resend is stored twice).
func TestWindowCapFallsBackToLookups(t *testing.T) {
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 2, log)
	source, group := newSource(t), newGroup(t)
	const n = 50
	// Over three hours, so the cap gives up whole hours.
	events := clientEvents(source, n, time.Now())
	for i := range events {
		shift := -time.Duration(i%3) * time.Hour
		c, s := events[i].ClientTime.Add(shift), events[i].SentAt.Add(shift)
		events[i].ClientTime, events[i].SentAt = &c, &s
		events[i].ReceivedAt, events[i].Time = events[i].ReceivedAt.Add(shift), events[i].Time.Add(shift)
	}
	k.produceEvents(t, events)
	cfg := testConfig(group, 100, 100*time.Millisecond)
	cfg.DedupWindowMaxIDs = 10
	r := k.start(t, cfg, &recordingSink{}, nil)
	k.waitStored(t, group, source, n)

	k.produceEvents(t, resend(events))
	eventually(t, time.Minute, "the resent events dropped", func() (bool, string) {
		c := r.counter(t, "trackstream_processor_copies_dropped_total")
		return c == n, fmt.Sprintf("%v copies dropped", c)
	})
	k.waitStored(t, group, source, n)
	if got := countRows(t, source, false); got != n {
		t.Errorf("count() without FINAL = %d, want %d: a copy was stored", got, n)
	}
	if got := r.gauge(t, "trackstream_processor_dedup_window_ids"); got > 10 {
		t.Errorf("dedup_window_ids = %v over the cap of 10", got)
	}
	if got := r.lookups(t); got == 0 {
		t.Error("no id looked up: over the cap the windows cannot decide every event")
	}
}

// A member joining the group takes partitions over with their windows
// rebuilt from ClickHouse: copies of events the first member stored are
// dropped by either member without a lookup. Mutation tried: the rebuild
// reading no ids (the copies on the joiner's partition are stored twice).
func TestWindowRebuiltOnRebalance(t *testing.T) {
	testkit.SkipShort(t)
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 2, log)
	source, group := newSource(t), newGroup(t)
	const n = 60
	events := clientEvents(source, n, time.Now())
	k.produceEvents(t, events)
	cfg := testConfig(group, 100, 100*time.Millisecond)
	a := k.start(t, cfg, &recordingSink{}, nil)
	k.waitStored(t, group, source, n)

	b := k.start(t, cfg, &recordingSink{}, nil)
	eventually(t, time.Minute, "the joiner owns a partition with its window built", func() (bool, string) {
		ok := b.counter(t, "trackstream_processor_dedup_window_rebuilds_total", "result", "ok")
		return ok >= 1, fmt.Sprintf("joiner: %v rebuilds", ok)
	})

	k.produceEvents(t, resend(events))
	eventually(t, time.Minute, "the resent events dropped", func() (bool, string) {
		ca, cb := a.counter(t, "trackstream_processor_copies_dropped_total"), b.counter(t, "trackstream_processor_copies_dropped_total")
		return ca+cb == n, fmt.Sprintf("%v copies dropped by the first member, %v by the joiner", ca, cb)
	})
	k.waitStored(t, group, source, n)
	if got := b.counter(t, "trackstream_processor_copies_dropped_total"); got == 0 {
		t.Error("the joiner dropped no copy: the test did not exercise its rebuilt window")
	}
	if la, lb := a.lookups(t), b.lookups(t); la+lb != 0 {
		t.Errorf("%v + %v ids looked up, want 0: the windows decide", la, lb)
	}
	checkStoredOnce(t, source, n)
}

// A window whose build on assignment failed is built again between
// batches, so the partition is not left to lookups until its next
// assignment. Mutation tried: no retry scheduled (every id looked up).
func TestFailedWindowBuildIsRetried(t *testing.T) {
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 1, log)
	source, group := newSource(t), newGroup(t)
	const n = 30
	events := clientEvents(source, n, time.Now())
	k.produceEvents(t, events)
	sink := &recordingSink{}
	sink.failReads.Store(1)
	r := k.start(t, testConfig(group, 100, 100*time.Millisecond), sink, func(p *Processor, _ context.CancelFunc) {
		p.workers[0].dd.retryAfter = 0
	})
	k.waitStored(t, group, source, n)
	k.produceEvents(t, resend(events))
	eventually(t, time.Minute, "the resent events dropped", func() (bool, string) {
		c := r.counter(t, "trackstream_processor_copies_dropped_total")
		return c == n, fmt.Sprintf("%v copies dropped", c)
	})
	if got := r.counter(t, "trackstream_processor_dedup_window_rebuilds_total", "result", "partial"); got != 1 {
		t.Errorf("rebuilds_total{result=partial} = %v, want the 1 failed build", got)
	}
	if got := r.counter(t, "trackstream_processor_dedup_window_rebuilds_total", "result", "ok"); got < 1 {
		t.Errorf("rebuilds_total{result=ok} = %v, want the retry", got)
	}
	if got := r.lookups(t); got != 0 {
		t.Errorf("%v ids looked up, want 0: the retried build decides", got)
	}
	checkStoredOnce(t, source, n)
}
