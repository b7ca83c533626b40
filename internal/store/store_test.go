package store

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/event"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func chdbLib(t *testing.T) string {
	t.Helper()
	lib := os.Getenv(chdb.LibEnv)
	if lib == "" {
		lib = chdb.DefaultLibPath()
	}
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("libchdb not found at %s: run `go tool -modfile=tools/go.mod task chdb:fetch` or set %s", lib, chdb.LibEnv)
	}
	return lib
}

func events(source string, n int, receivedAt time.Time) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		out[i] = event.Event{
			SourceID: source, ID: fmt.Sprintf("e-%d", i), Type: "page-view",
			Time: receivedAt.Add(-time.Second), ReceivedAt: receivedAt,
			ProfileID: "p-1", Properties: json.RawMessage(`{"big":12345678901234567890,"s":"it's \"quoted\""}`),
		}
	}
	return out
}

// rawRows counts stored rows of a source without any dedup.
func rawRows(t *testing.T, s *Embedded, source string) int {
	t.Helper()
	out, err := s.db.QueryParams(context.Background(), "SELECT count() FROM trackstream.events WHERE source_id = {s:String}", "TabSeparated", map[string]string{"s": chdb.EscapeParam(source)})
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEmbeddedStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenEmbedded(ctx, chdbLib(t), dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()

	t.Run("insert dedup token", func(t *testing.T) {
		batch := events("src-token", 50, time.Now().UTC())
		for range 3 {
			if err := s.InsertEvents(ctx, "tok-1", batch); err != nil {
				t.Fatal(err)
			}
		}
		if got := rawRows(t, s, "src-token"); got != 50 {
			t.Fatalf("three inserts with one token stored %d rows, want 50", got)
		}
		if err := s.InsertEvents(ctx, "tok-2", batch); err != nil {
			t.Fatal(err)
		}
		if got := rawRows(t, s, "src-token"); got != 100 {
			t.Fatalf("a new token stored %d rows in all, want 100 (the token, not the data, decides)", got)
		}
	})

	t.Run("count is exact under client retries", func(t *testing.T) {
		first := events("src-retry", 20, time.Now().UTC())
		retry := events("src-retry", 20, time.Now().UTC().Add(3*time.Second)) // same ids, later receive time
		if err := s.InsertEvents(ctx, "r-1", first); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertEvents(ctx, "r-2", retry); err != nil {
			t.Fatal(err)
		}
		n, err := s.CountEvents(ctx, "src-retry")
		if err != nil {
			t.Fatal(err)
		}
		if n != 20 {
			t.Fatalf("count %d, want 20", n)
		}
		// The sorting key collapses the retries once parts merge.
		if err := s.db.Exec(ctx, "OPTIMIZE TABLE trackstream.events FINAL"); err != nil {
			t.Fatal(err)
		}
		if got := rawRows(t, s, "src-retry"); got != 20 {
			t.Fatalf("after merging, %d rows, want 20", got)
		}
	})

	t.Run("values are stored verbatim", func(t *testing.T) {
		e := events("src-verbatim", 1, time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC))
		if err := s.InsertEvents(ctx, "v-1", e); err != nil {
			t.Fatal(err)
		}
		out, err := s.db.Query(ctx, "SELECT properties, toString(received_at) FROM trackstream.events WHERE source_id = 'src-verbatim'", "TabSeparatedRaw")
		if err != nil {
			t.Fatal(err)
		}
		want := string(e[0].Properties) + "\t2026-01-02 03:04:05.006\n"
		if string(out) != want {
			t.Fatalf("stored %q, want %q", out, want)
		}
	})

	t.Run("hostile source id is a value", func(t *testing.T) {
		for _, hostile := range []string{`x' OR 1=1 --`, `\' UNION SELECT 1`, "tab\there", `trailing\`} {
			n, err := s.CountEvents(ctx, hostile)
			if err != nil || n != 0 {
				t.Fatalf("CountEvents(%q) = %d, %v; want 0, nil", hostile, n, err)
			}
		}
	})

	t.Run("bad token refused", func(t *testing.T) {
		if err := s.InsertEvents(ctx, "x'; DROP TABLE y", events("src-bad", 1, time.Now())); err == nil {
			t.Fatal("a token with quotes was accepted")
		}
	})

	t.Run("migrations recorded once across reopen", func(t *testing.T) {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s2, err := OpenEmbedded(ctx, chdbLib(t), dir, quiet)
		if err != nil {
			t.Fatal(err)
		}
		s = s2
		out, err := s.db.Query(ctx, "SELECT version, count() FROM trackstream.schema_migrations GROUP BY version ORDER BY version", "TabSeparated")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(out), "1\t1\n") {
			t.Fatalf("schema_migrations: %q, want version 1 recorded once", out)
		}
		if n, err := s.CountEvents(ctx, "src-retry"); err != nil || n != 20 {
			t.Fatalf("after reopen count %d, %v; want 20", n, err)
		}
	})
}

// TestServerStore runs against a real ClickHouse server when
// TRACKSTREAM_TEST_CLICKHOUSE_DSN is set (no server can be installed on the
// project's build machines).
func TestServerStore(t *testing.T) {
	dsn := os.Getenv("TRACKSTREAM_TEST_CLICKHOUSE_DSN")
	if dsn == "" {
		t.Skip("TRACKSTREAM_TEST_CLICKHOUSE_DSN not set: no ClickHouse server to test against")
	}
	ctx := context.Background()
	s, err := OpenServer(ctx, dsn, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	source := fmt.Sprintf("src-server-%d", time.Now().UnixNano())
	batch := events(source, 30, time.Now().UTC())
	for range 2 {
		if err := s.InsertEvents(ctx, "srv-"+source[11:], batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.InsertEvents(ctx, "srv2-"+source[11:], events(source, 30, time.Now().UTC().Add(time.Second))); err != nil {
		t.Fatal(err)
	}
	n, err := s.CountEvents(ctx, source)
	if err != nil || n != 30 {
		t.Fatalf("count %d, %v; want 30", n, err)
	}
	if _, err := OpenServer(ctx, dsn, quiet); err != nil {
		t.Fatalf("second open (migrations again): %v", err)
	}
}
