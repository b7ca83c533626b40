package store

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/jsonread"
	"github.com/trackstream/trackstream/internal/testkit"
)

// TestIngestNumberRangeMatchesPropertyReads: properties are stored as
// JSON text (migration 0007) and read with JSONExtract, which cannot
// parse an object holding an integer beyond 64 bits, a number beyond
// Float64 or a lone surrogate escape: every key of such an object reads
// as absent. The values ingest lets through (jsonread's
// Only64BitIntegers) are exactly those the reads return as sent: the
// integer extremes come back as sent, one step beyond (and the other
// values JSONExtract cannot parse) ingest refuses.
func TestIngestNumberRangeMatchesPropertyReads(t *testing.T) {
	ctx := context.Background()
	s, err := OpenEmbedded(ctx, testkit.CHDBLib(t), t.TempDir(), quiet, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	ingestTakes := func(props string) bool {
		_, _, err := jsonread.Validate([]byte(props), jsonread.Limits{MaxDepth: 4, Only64BitIntegers: true})
		return err == nil
	}
	// read stores props and returns what the admin API's property read
	// (admin-api/stats_sql.go, builder.property) makes of keys max and min.
	read := func(i int, props string) string {
		at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
		id := "r" + strconv.Itoa(i)
		r := []Row{{Event: event.Event{SourceID: "src-range", ID: id, Type: "t", Time: at, ReceivedAt: at, Properties: json.RawMessage(props)}}}
		if err := s.InsertRows(ctx, "range-"+id, r); err != nil {
			t.Fatalf("store %s: %v", props, err)
		}
		return query(t, s, "SELECT toString(JSONExtract(properties, 'max', 'Dynamic')), toString(JSONExtract(properties, 'min', 'Dynamic')) FROM trackstream.events WHERE source_id = 'src-range' AND event_id = '"+id+"'")
	}

	extremes := `{"max":18446744073709551615,"min":-9223372036854775808}`
	if !ingestTakes(extremes) {
		t.Fatalf("ingest refuses %s", extremes)
	}
	if got := read(0, extremes); got != "18446744073709551615\t-9223372036854775808\n" {
		t.Fatalf("%s reads as %q", extremes, got)
	}
	for i, props := range []string{
		`{"max":18446744073709551616,"min":1}`, `{"max":1,"min":-9223372036854775809}`,
		`{"max":1,"min":2,"n":[1,100000000000000000000000000000]}`, `{"max":1,"min":2,"n":1e400}`, `{"max":1,"min":2,"s":"\ud800"}`,
	} {
		if got := read(i+1, props); got == "1\t2\n" || got == "18446744073709551616\t1\n" || got == "1\t-9223372036854775809\n" {
			t.Errorf("%s reads as %q: JSONExtract parses it now; ingest may take it", props, got)
		}
		if ingestTakes(props) {
			t.Errorf("ingest takes %s, whose keys the property reads cannot see", props)
		}
	}
}
