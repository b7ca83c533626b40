package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/testkit"
)

// RecentIDs puts every stored event on the partition Kafka's default
// partitioner gives its record key (franz-go's, which ingest and the
// admin API's DLQ replay produce with), for every kind of visitor id and
// for id bytes that need escaping, and keeps to the time range asked.
func TestRecentIDsMatchTheRecordPartitioner(t *testing.T) {
	ctx := context.Background()
	s, err := OpenEmbedded(ctx, testkit.CHDBLib(t), t.TempDir(), quiet, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()

	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var rs []Row
	for i := range 200 {
		e := event.Event{SourceID: "src-recent", ID: fmt.Sprintf("id-%d\t\x00é", i), Type: "track", Time: at.Add(time.Duration(i) * time.Minute), ReceivedAt: at}
		switch i % 5 {
		case 0:
			e.ProfileID, e.AnonymousID = fmt.Sprintf("p-%d", i), "a"
		case 1:
			e.AnonymousID, e.UserID = fmt.Sprintf("a-%d", i), "u"
		case 2:
			e.UserID, e.SessionID = fmt.Sprintf("u-%d", i), "s"
		case 3:
			e.SessionID = fmt.Sprintf("s-%d\n", i)
		}
		rs = append(rs, Row{Event: e})
	}
	if err := s.InsertRows(ctx, "recent-1", rs); err != nil {
		t.Fatal(err)
	}

	const n = 7
	part := kgo.StickyKeyPartitioner(nil).ForTopic("events")
	want := map[string]int32{}
	for _, r := range rs {
		e := r.Event
		want[e.ID] = int32(part.Partition(&kgo.Record{Key: e.Key()}, n))
	}
	got := map[string]RecentID{}
	// [10:00, 12:00): the first 120 events.
	from, to := at, at.Add(2*time.Hour)
	if err := s.RecentIDs(ctx, []int32{0, 1, 2, 3, 4, 5, 6}, n, from, to, func(r RecentID) { got[r.ID] = r }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 120 {
		t.Fatalf("RecentIDs over two hours returned %d events, want 120", len(got))
	}
	for i, r := range rs[:120] {
		g, ok := got[r.Event.ID]
		switch {
		case !ok:
			t.Fatalf("event %d (%q) missing", i, r.Event.ID)
		case g.Source != "src-recent" || g.TimeMs != r.Event.Time.UnixMilli():
			t.Errorf("event %d: got %+v, want source src-recent at %d ms", i, g, r.Event.Time.UnixMilli())
		case g.Partition != want[r.Event.ID]:
			t.Errorf("event %d (key %q): partition %d, the record partitioner says %d", i, r.Event.Key(), g.Partition, want[r.Event.ID])
		}
	}

	// RecentHours counts the same events by hour.
	hours, err := s.RecentHours(ctx, []int32{0, 1, 2, 3, 4, 5, 6}, n, from, to)
	if err != nil {
		t.Fatal(err)
	}
	h10 := at.Unix() / 3600
	if len(hours) != 2 || hours[h10] != 60 || hours[h10+1] != 60 {
		t.Fatalf("RecentHours = %v, want 60 events in each of hours %d and %d", hours, h10, h10+1)
	}

	// Only the partitions asked for.
	var only []int32
	if err := s.RecentIDs(ctx, []int32{3, 5}, n, from, to, func(r RecentID) { only = append(only, r.Partition) }); err != nil {
		t.Fatal(err)
	}
	wantOnly := 0
	for _, r := range rs[:120] {
		if p := want[r.Event.ID]; p == 3 || p == 5 {
			wantOnly++
		}
	}
	if len(only) != wantOnly || slices.ContainsFunc(only, func(p int32) bool { return p != 3 && p != 5 }) {
		t.Fatalf("partitions 3 and 5: got %d events on %v, want %d", len(only), only, wantOnly)
	}
}
