package store

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/jsonread"
	"github.com/trackstream/trackstream/internal/testkit"
)

// TestIngestIntegerRangeMatchesJSONColumn: the integers ingest lets through
// (jsonread's Only64BitIntegers) are exactly those the JSON column
// stores: the extremes are stored as they were sent, one step beyond is
// refused by both.
func TestIngestIntegerRangeMatchesJSONColumn(t *testing.T) {
	ctx := context.Background()
	s, err := OpenEmbedded(ctx, testkit.CHDBLib(t), t.TempDir(), quiet, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	row := func(id, props string) []Row {
		at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
		return []Row{{Event: event.Event{SourceID: "src-range", ID: id, Type: "t", Time: at, ReceivedAt: at, Properties: json.RawMessage(props)}}}
	}
	ingestTakes := func(props string) bool {
		_, _, err := jsonread.Validate([]byte(props), jsonread.Limits{MaxDepth: 4, Only64BitIntegers: true})
		return err == nil
	}

	extremes := `{"max":18446744073709551615,"min":-9223372036854775808}`
	if !ingestTakes(extremes) {
		t.Fatalf("ingest refuses %s", extremes)
	}
	if err := s.InsertRows(ctx, "range-ok", row("ok", extremes)); err != nil {
		t.Fatalf("the JSON column refuses %s: %v", extremes, err)
	}
	if got := query(t, s, "SELECT properties.max, properties.min FROM trackstream.events WHERE source_id = 'src-range'"); got != "18446744073709551615\t-9223372036854775808\n" {
		t.Fatalf("stored %q", got)
	}
	for i, props := range []string{`{"n":18446744073709551616}`, `{"n":-9223372036854775809}`, `{"n":[1,100000000000000000000000000000]}`} {
		if ingestTakes(props) {
			t.Errorf("ingest takes %s", props)
		}
		if err := s.InsertRows(ctx, "range-bad-"+strconv.Itoa(i), row("bad", props)); !errors.Is(err, ErrRejected) {
			t.Errorf("insert of %s: %v, want the JSON column to reject it", props, err)
		}
	}
}
