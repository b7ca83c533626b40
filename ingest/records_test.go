package ingest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/event"
)

// recordEvent is an accepted event whose properties hold a string of n
// copies of fill.
func recordEvent(id string, fill byte, n int) event.Event {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	return event.Event{
		SourceID: "src_test", ID: id, Type: "page-view", Time: at, ReceivedAt: at, ProfileID: "p-" + id,
		Properties: json.RawMessage(`{"s":"` + strings.Repeat(string(fill), n) + `"}`),
	}
}

// TestRecordSetReuseKeepsNothingOfEarlierRequests: a set reused for a
// smaller request holds exactly what a new set would, and its keys and
// values are capped at their length, so nothing of the earlier request's
// bytes (still in the buffer past them) can be read or sent.
func TestRecordSetReuseKeepsNothingOfEarlierRequests(t *testing.T) {
	rs := new(recordSet)
	if err := rs.encode([]event.Event{recordEvent("a", 'A', 3000), recordEvent("b", 'B', 3000)}); err != nil {
		t.Fatal(err)
	}
	small := []event.Event{recordEvent("c", 'c', 10)}
	if err := rs.encode(small); err != nil {
		t.Fatal(err)
	}
	fresh := new(recordSet)
	if err := fresh.encode(small); err != nil {
		t.Fatal(err)
	}
	if len(rs.recs) != 1 {
		t.Fatalf("the reused set holds %d records, want 1", len(rs.recs))
	}
	r := rs.recs[0]
	if !bytes.Equal(r.Key, fresh.recs[0].Key) || !bytes.Equal(r.Value, fresh.recs[0].Value) {
		t.Fatalf("reused set encoded %s / %s, a new one %s / %s", r.Key, r.Value, fresh.recs[0].Key, fresh.recs[0].Value)
	}
	if cap(r.Key) != len(r.Key) || cap(r.Value) != len(r.Value) {
		t.Fatalf("key or value reaches past its end into the buffer (len %d cap %d, len %d cap %d)", len(r.Key), cap(r.Key), len(r.Value), cap(r.Value))
	}
	if bytes.Contains(r.Value, []byte("AAA")) || bytes.Contains(r.Value, []byte("BBB")) {
		t.Fatalf("the record holds bytes of the earlier request: %s", r.Value)
	}
}

// TestRecordSetReleasedAfterTheLastAnswer: a request's records go back
// to the pool only once Kafka has answered for every one of them, however
// the request ended, and never while one is still in franz-go's hands.
func TestRecordSetReleasedAfterTheLastAnswer(t *testing.T) {
	rs := new(recordSet)
	if err := rs.encode([]event.Event{recordEvent("a", 'a', 10), recordEvent("b", 'b', 10)}); err != nil {
		t.Fatal(err)
	}
	w := newAckWait(rs)
	w.done(&rs.recs[0], nil)
	if len(rs.recs) != 2 || rs.recs[1].Value == nil {
		t.Fatal("the set was released while a record still waited for its answer")
	}
	select {
	case <-w.acked:
		t.Fatal("acked before the last answer")
	default:
	}
	w.done(&rs.recs[1], nil)
	<-w.acked
	if len(rs.recs) != 0 || len(rs.buf) != 0 {
		t.Fatalf("the set was not released after the last answer: %d records, %d bytes", len(rs.recs), len(rs.buf))
	}
}

// TestRecordSetTooLargeNotPooled: a set whose buffer grew for a request of
// unusual size is not kept for the next one.
func TestRecordSetTooLargeNotPooled(t *testing.T) {
	rs := new(recordSet)
	if err := rs.encode([]event.Event{recordEvent("a", 'a', 2*maxPooledRecordBytes)}); err != nil {
		t.Fatal(err)
	}
	rs.release()
	if len(rs.recs) != 1 {
		t.Fatal("a set larger than maxPooledRecordBytes was emptied for the pool")
	}
}

// TestPooledTimerCarriesNoExpiry: a timer that fired unread before it
// went back to the pool does not fire at once for the next request.
func TestPooledTimerCarriesNoExpiry(t *testing.T) {
	first := getTimer(time.Millisecond)
	time.Sleep(20 * time.Millisecond) // fired, never read
	putTimer(first)
	next := getTimer(time.Hour)
	defer putTimer(next)
	select {
	case <-next.C:
		t.Fatal("a pooled timer delivered the expiry of its previous use")
	case <-time.After(20 * time.Millisecond):
	}
}
