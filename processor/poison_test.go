package processor

import (
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/schemas"
)

// A steady stream of rows ClickHouse refuses, mixed with good ones (every
// other record is poison), costs each batch a bounded number of inserts:
// at most 2*maxRejectedSplits+1 rejected and maxRejectedSplits+1
// successful ones, however many of its rows are bad. Every good record is
// stored or parked with the replayable reason rejected_unisolated, every
// poison record is parked, nothing is stored twice, and the good record
// sent after the poison stream is stored.
func TestPoisonStreamCostsBoundedInsertsPerBatch(t *testing.T) {
	log := testkit.Logger(t, slog.LevelInfo)
	k := newKafka(t, 1, log)
	source, group := newSource(t), newGroup(t)
	const batches, batchRows = 4, 128
	events := makeEvents(source, batches*batchRows+1)
	poison := map[string]bool{}
	for i := 0; i < batches*batchRows; i += 2 {
		events[i].Properties = json.RawMessage(`[1e400]`)
		poison[events[i].ID] = true
	}
	k.produceEvents(t, events)
	good := len(events) - len(poison)

	sink := &recordingSink{}
	r := k.start(t, testConfig(group, batchRows, 200*time.Millisecond), sink, nil)
	eventually(t, 60*time.Second, "offsets committed to the end", func() (bool, string) { return k.committedAtEnd(t, group) })

	// Calls per batch: split tokens extend their batch's token.
	failed, succeeded := map[string]int{}, map[string]int{}
	for _, c := range sink.snapshot() {
		root, _, _ := strings.Cut(c.token, ".")
		if c.err != nil {
			failed[root]++
		} else {
			succeeded[root]++
		}
	}
	if len(failed) < batches {
		t.Fatalf("%d batches had rejected inserts, want at least %d (every batch holds poison)", len(failed), batches)
	}
	for root, n := range failed {
		if n > 2*maxRejectedSplits+1 || succeeded[root] > maxRejectedSplits+1 {
			t.Errorf("batch %s: %d rejected and %d successful inserts, want at most %d and %d",
				root, n, succeeded[root], 2*maxRejectedSplits+1, maxRejectedSplits+1)
		}
	}

	parked := k.readDLQ(t, len(poison))
	unisolated := 0
	for _, rec := range parked {
		h := headers(rec)
		ev, err := event.Unmarshal(h[event.FormatHeader], rec.Value)
		if err != nil {
			t.Fatalf("dead letter at %s: %v", h[HeaderOffset], err)
		}
		e := ev.ID
		switch {
		case h[HeaderReasonCode] == ReasonUnisolated && !poison[e]:
			unisolated++
			if !strings.Contains(h[HeaderReason], "replay") {
				t.Errorf("unisolated dead letter %s: reason %q does not say it can be replayed", e, h[HeaderReason])
			}
		case h[HeaderReasonCode] == ReasonRejected && !poison[e]:
			t.Errorf("good event %s parked as %s", e, ReasonRejected)
		}
	}
	stored := countRows(t, source, false)
	if want := uint64(good - unisolated); stored != want {
		t.Errorf("%d rows stored, want %d (%d good events, %d parked unisolated)", stored, want, good, unisolated)
	}
	if got := r.counter(t, "trackstream_processor_dead_letters_total"); int(got) != len(poison)+unisolated {
		t.Errorf("dead letters = %v, want %d poison + %d unisolated", got, len(poison), unisolated)
	}
	if got := countEvents(t, source); got != stored {
		t.Errorf("CountEvents = %d, want %d: a row was stored twice", got, stored)
	}
	last := events[len(events)-1].ID
	if n := countID(t, source, last); n != 1 {
		t.Errorf("the good event sent after the poison stream (%s) is stored %d times, want 1", last, n)
	}
}

// countID is the number of stored rows of source with event id id.
func countID(t *testing.T, source, id string) uint64 {
	t.Helper()
	q := "SELECT count() FROM " + schemas.Database + ".events WHERE source_id = {source:String} AND event_id = {id:String}"
	out, err := testRaw.QueryParams(ctxFor(t, 10*time.Second), q, "TabSeparated", map[string]string{"source": source, "id": id})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatalf("%s: answer %q: %v", q, out, err)
	}
	return n
}
