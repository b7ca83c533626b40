package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/enrich"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/schemas"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func rows(source string, n int, receivedAt time.Time) []Row {
	out := make([]Row, n)
	for i := range out {
		out[i] = Row{Event: event.Event{
			SourceID: source, ID: fmt.Sprintf("e-%d", i), Type: "page-view",
			Time: receivedAt.Add(-time.Second), ReceivedAt: receivedAt,
			ProfileID: "p-1", Properties: json.RawMessage(`{"big":12345678901234567890,"s":"it's \"quoted\""}`),
		}}
	}
	return out
}

// write stores rs the way the processor does: copies dropped, the rest
// inserted under token.
func write(ctx context.Context, s *Embedded, token string, rs []Row) error {
	dup, err := s.Copies(ctx, rs)
	if err != nil {
		return err
	}
	var keep []Row
	for i, r := range rs {
		if !dup[i] {
			keep = append(keep, r)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	return s.InsertRows(ctx, token, keep)
}

func query(t *testing.T, s *Embedded, sql string) string {
	t.Helper()
	out, err := s.db.Query(context.Background(), sql, "TabSeparatedRaw")
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return string(out)
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
	s, err := OpenEmbedded(ctx, testkit.CHDBLib(t), dir, quiet, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()

	t.Run("insert dedup token", func(t *testing.T) {
		batch := rows("src-token", 50, time.Now().UTC())
		for range 3 {
			if err := s.InsertRows(ctx, "tok-1", batch); err != nil {
				t.Fatal(err)
			}
		}
		if got := rawRows(t, s, "src-token"); got != 50 {
			t.Fatalf("three inserts with one token stored %d rows, want 50", got)
		}
		// The retries reach no materialized view twice.
		for _, table := range []string{"counts_by_type_hourly", "counts_by_type_daily", "counts_minutely", "counts_minute", "counts_minute_all_types"} {
			if got := query(t, s, "SELECT sum(events) FROM trackstream."+table+" WHERE source_id = 'src-token'"); got != "50\n" {
				t.Fatalf("%s counts %q after three inserts with one token, want 50", table, got)
			}
		}
		if got := query(t, s, "SELECT sum(events) FROM trackstream.dims_daily WHERE source_id = 'src-token' AND dim = 'country'"); got != "50\n" {
			t.Fatalf("dims_daily counts %q after three inserts with one token, want 50", got)
		}
		if err := s.InsertRows(ctx, "tok-2", batch); err != nil {
			t.Fatal(err)
		}
		if got := rawRows(t, s, "src-token"); got != 100 {
			t.Fatalf("a new token stored %d rows in all, want 100 (the token, not the data, decides)", got)
		}
	})

	t.Run("client resends are copies, also across day and month boundaries", func(t *testing.T) {
		// Originals at 23:59:59.9 on the last day of a month; the resends
		// arrive later and their skew-corrected times fall on the next day
		// and month.
		at := time.Date(2026, 1, 31, 23, 59, 59, 900e6, time.UTC)
		first := rows("src-retry", 20, at.Add(time.Second))
		resent := rows("src-retry", 20, at.Add(time.Minute))
		for i := range resent {
			resent[i].Event.Time = at.Add(200 * time.Millisecond)
		}
		if err := write(ctx, s, "r-1", first); err != nil {
			t.Fatal(err)
		}
		// The resend batch also repeats one event inside itself and
		// carries one new event.
		batch := append(resent, resent[0])
		extra := rows("src-retry", 21, at.Add(time.Minute))[20]
		batch = append(batch, extra)
		dup, err := s.Copies(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range dup {
			if want := i != len(batch)-1; d != want {
				t.Fatalf("row %d (%s): copy %v, want %v", i, batch[i].Event.ID, d, want)
			}
		}
		if err := write(ctx, s, "r-2", batch); err != nil {
			t.Fatal(err)
		}
		if got := rawRows(t, s, "src-retry"); got != 21 {
			t.Fatalf("%d rows stored, want 21 (no copy stored)", got)
		}
		// Every rollup counts each event once, on its first copy's day.
		for table, want := range map[string]string{
			"counts_by_type_hourly": "21\t1\n", "counts_by_type_daily": "21\t1\n", "counts_minutely": "21\t1\n",
		} {
			if got := query(t, s, "SELECT sum(events), uniqCombined64Merge(15)(visitors) FROM trackstream."+table+" WHERE source_id = 'src-retry'"); got != want {
				t.Errorf("%s events/visitors = %q, want %q", table, got, want)
			}
		}
		if got := query(t, s, "SELECT toString(day), sum(events) FROM trackstream.counts_by_type_daily WHERE source_id = 'src-retry' GROUP BY day ORDER BY day"); got != "2026-01-31\t20\n2026-02-01\t1\n" {
			t.Errorf("per day %q, want 20 on 2026-01-31 and the new event on 2026-02-01", got)
		}
		if got := query(t, s, "SELECT sum(events) FROM trackstream.dims_daily WHERE source_id = 'src-retry' AND dim = 'page'"); got != "21\n" {
			t.Errorf("dims_daily page events %q, want 21", got)
		}
	})

	t.Run("lookup is exact for any id bytes and matches ClickHouse's hash", func(t *testing.T) {
		ids := []string{"tab\there", "new\nline", "quote'd \"x\"", `back\slash`, "ünï 🎉", "\x00nul", strings.Repeat("long", 100)}
		batch := make([]Row, len(ids))
		for i, id := range ids {
			batch[i] = rows("src-bytes", 1, time.Now().UTC())[0]
			batch[i].Event.ID = id
			got := strings.TrimSpace(query(t, s, fmt.Sprintf("SELECT cityHash64(unhex('%x'))", id)))
			if want := strconv.FormatUint(idHash(id), 10); got != want {
				t.Errorf("cityHash64 of %q: ClickHouse %s, Go %s", id, got, want)
			}
		}
		if err := write(ctx, s, "bytes-1", batch); err != nil {
			t.Fatal(err)
		}
		dup, err := s.Copies(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range dup {
			if !d {
				t.Errorf("stored id %q not found", ids[i])
			}
		}
		// The same ids under another source are not copies.
		other := slices.Clone(batch)
		for i := range other {
			other[i].Event.SourceID = "src-bytes-2"
		}
		if dup, err := s.Copies(ctx, other); err != nil || slices.Contains(dup, true) {
			t.Fatalf("ids of another source marked as copies: %v, %v", dup, err)
		}
	})

	t.Run("typed values round trip", func(t *testing.T) {
		at := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
		client := at.Add(-time.Hour)
		weird := "tab\there \"quoted\" back\\slash\nnewline \x01 ctrl ünï 🎉"
		r := Row{
			Event: event.Event{
				SourceID: "src-typed", ID: "e-typed", Type: "page", Time: at, ReceivedAt: at.Add(time.Second),
				ClientTime: &client, Late: true, SessionID: "s-1", ProfileID: "p-1", AnonymousID: "a-1", UserID: "u-1",
				IP: "203.0.113.0", UserAgent: weird, URL: "https://shop.example/?utm_source=x", Referrer: "https://www.google.com/",
				Properties: json.RawMessage(`{"plan":"pro","price":12.5,"nested":{"n":3},"big":12345678901234567890}`),
				Context:    json.RawMessage(`{"page":{"title":"Home"}}`),
			},
			Fields: enrich.Fields{Browser: "Chrome", BrowserVersion: "124", OS: "Windows", OSVersion: "10", DeviceType: "desktop",
				URLHost: "shop.example", URLPath: "/", UTMSource: "x", ReferrerHost: "www.google.com", ReferrerMedium: "search",
				Country: "GB", Region: "ENG", City: "London", ClickIDType: "gclid", ClickID: "abc", Bot: true},
		}
		if err := s.InsertRows(ctx, "typed-1", []Row{r}); err != nil {
			t.Fatal(err)
		}
		got := query(t, s, `SELECT toString(event_time), toString(received_at), toString(client_time), isNull(sent_at), late,
			anonymous_id, user_id, ip, user_agent, url_host, utm_source, referrer_medium, country, region, city, browser, browser_version,
			os, os_version, device_type, is_bot, click_id_type, click_id,
			properties, JSONExtractString(properties, 'plan') AS plan, JSONExtract(properties, 'price', 'Dynamic') AS price,
			JSONExtract(properties, 'nested', 'n', 'Dynamic') AS n, toString(JSONExtract(properties, 'big', 'Dynamic')) AS big,
			JSONExtractString(context, 'page', 'title') AS title
			FROM trackstream.events WHERE source_id = 'src-typed' FORMAT JSONEachRow`)
		var m map[string]any
		if err := json.Unmarshal([]byte(got), &m); err != nil {
			t.Fatalf("%v: %s", err, got)
		}
		for k, want := range map[string]any{
			"toString(event_time)": "2026-01-02 03:04:05.006", "toString(received_at)": "2026-01-02 03:04:06.006",
			"toString(client_time)": "2026-01-02 02:04:05.006", "isNull(sent_at)": float64(1), "late": true,
			"anonymous_id": "a-1", "user_id": "u-1", "ip": "203.0.113.0", "user_agent": weird, "url_host": "shop.example",
			"utm_source": "x", "referrer_medium": "search", "country": "GB", "region": "ENG", "city": "London",
			"browser": "Chrome", "browser_version": "124", "os": "Windows", "os_version": "10", "device_type": "desktop",
			"is_bot": true, "click_id_type": "gclid", "click_id": "abc",
			"properties": `{"plan":"pro","price":12.5,"nested":{"n":3},"big":12345678901234567890}`,
			"plan":       "pro", "price": 12.5, "n": "3", "big": "12345678901234567890", "title": "Home",
		} {
			if fmt.Sprint(m[k]) != fmt.Sprint(want) {
				t.Errorf("%s = %#v, want %#v", k, m[k], want)
			}
		}
	})

	t.Run("rejected rows are ErrRejected", func(t *testing.T) {
		for _, props := range []string{`[1,2]`, `"a string"`, `42`, ` true `} {
			r := rows("src-rejected", 2, time.Now().UTC())
			r[1].Event.Properties = json.RawMessage(props)
			err := s.InsertRows(ctx, "rej-"+strconv.Itoa(len(props)), r)
			if !errors.Is(err, ErrRejected) {
				t.Errorf("properties %s: error %v, want ErrRejected", props, err)
			}
		}
		r := rows("src-rejected", 2, time.Now().UTC())
		r[0].Event.Context = json.RawMessage(`["not", "an object"]`)
		if err := s.InsertRows(ctx, "rej-context", r); !errors.Is(err, ErrRejected) {
			t.Errorf("context that is an array: error %v, want ErrRejected", err)
		}
		if got := rawRows(t, s, "src-rejected"); got != 0 {
			t.Errorf("a rejected insert stored %d rows", got)
		}
	})

	t.Run("binary-safe strings round trip", func(t *testing.T) {
		// RowBinary puts a length byte of 10 (0x0a) before a string: with
		// "\n" after it, the data holds the 0a 0a pair that inline data
		// could not carry; NUL and invalid UTF-8 go byte for byte too.
		values := []string{"\n\n\n\n\n\n\n\n\n\n", "a\x00b\n\nc", "\xff\xfe\x00", strings.Repeat("\n", 300)}
		r := rows("src-binary", len(values), time.Now().UTC())
		for i, v := range values {
			r[i].Event.UserAgent = v
			r[i].Event.ID = v
		}
		if err := s.InsertRows(ctx, "binary-1", r); err != nil {
			t.Fatal(err)
		}
		got := query(t, s, "SELECT hex(event_id), hex(user_agent) FROM trackstream.events WHERE source_id = 'src-binary' ORDER BY event_id")
		var want []string
		for _, v := range slices.Sorted(slices.Values(values)) {
			want = append(want, fmt.Sprintf("%X\t%X", v, v))
		}
		if got != strings.Join(want, "\n")+"\n" {
			t.Fatalf("stored %q, want %q", got, want)
		}
	})

	t.Run("a large insert is one part, and all or nothing", func(t *testing.T) {
		testkit.SkipShort(t)
		// 20,000 realistic rows are ~12 MB of RowBinary, several appends
		// to the streaming insert. They must still form one block: one
		// part, deduplicated as a whole, and none of it stored when a row
		// is refused.
		big := realisticRows("src-big", 20_000, time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC))
		big[len(big)-1].Event.Properties = json.RawMessage(`[1,2]`)
		if err := s.InsertRows(ctx, "big-1", big); !errors.Is(err, ErrRejected) {
			t.Fatalf("a refused last row: %v, want ErrRejected", err)
		}
		if got := rawRows(t, s, "src-big"); got != 0 {
			t.Fatalf("a refused insert stored %d of its rows", got)
		}
		big[len(big)-1].Event.Properties = nil
		parts := func() string {
			return query(t, s, "SELECT count() FROM system.parts WHERE database = 'trackstream' AND table = 'events' AND partition = '202610'")
		}
		if err := s.db.Exec(ctx, "SYSTEM STOP MERGES trackstream.events"); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.db.Exec(ctx, "SYSTEM START MERGES trackstream.events") }()
		for range 2 {
			if err := s.InsertRows(ctx, "big-2", big); err != nil {
				t.Fatal(err)
			}
		}
		if got := rawRows(t, s, "src-big"); got != len(big) {
			t.Fatalf("two inserts with one token stored %d rows, want %d", got, len(big))
		}
		if got := parts(); got != "1\n" {
			t.Fatalf("the insert made %q parts, want 1", got)
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
		if err := s.InsertRows(ctx, "x'; DROP TABLE y", rows("src-bad", 1, time.Now())); err == nil {
			t.Fatal("a token with quotes was accepted")
		}
	})

	t.Run("migrations recorded once across reopen, TTL set and removed", func(t *testing.T) {
		for _, tc := range []struct {
			ttl  time.Duration
			want string
		}{
			{30 * 24 * time.Hour, "toIntervalHour(720)"},
			{30 * 24 * time.Hour, "toIntervalHour(720)"},
			{0, ""},
		} {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2, err := OpenEmbedded(ctx, testkit.CHDBLib(t), dir, quiet, Options{TTL: tc.ttl})
			if err != nil {
				t.Fatal(err)
			}
			s = s2
			engine := query(t, s, "SELECT engine_full FROM system.tables WHERE database = 'trackstream' AND name = 'events'")
			if has := strings.Contains(engine, " TTL "); has != (tc.want != "") || !strings.Contains(engine, tc.want) {
				t.Errorf("TTL %s: engine_full %q, want TTL %q", tc.ttl, engine, tc.want)
			}
		}
		all, err := schemas.Migrations()
		if err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		for _, m := range all {
			fmt.Fprintf(&want, "%d\t%s\t1\n", m.Version, m.Name)
		}
		if got := query(t, s, "SELECT version, name, count() FROM trackstream.schema_migrations GROUP BY version, name ORDER BY version"); got != want.String() {
			t.Fatalf("schema_migrations: %q, want every migration recorded once: %q", got, want.String())
		}
		if n, err := s.CountEvents(ctx, "src-token"); err != nil || n != 50 {
			t.Fatalf("after reopen count %d, %v; want 50", n, err)
		}
	})
}

// A data dir written by the pre-release schema (migration 1 named
// "events") is refused with what to do, and left untouched.
func TestPreReleaseSchemaRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := chdb.Open(testkit.CHDBLib(t), filepath.Join(dir, "clickhouse"), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append(bootstrap(schemas.Variant{}),
		"INSERT INTO trackstream.schema_migrations VALUES (1, 'events', now64(3))") {
		if err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = OpenEmbedded(ctx, testkit.CHDBLib(t), dir, quiet, Options{})
	if err == nil || !strings.Contains(err.Error(), `migration 1 there is "events", here "events_typed"`) || !strings.Contains(err.Error(), "move the data away") {
		t.Fatalf("open of a pre-release data dir: %v, want a refusal saying what to do", err)
	}
	if _, err := OpenEmbedded(ctx, testkit.CHDBLib(t), t.TempDir(), quiet, Options{Cluster: "c1"}); err == nil || !strings.Contains(err.Error(), "TRACKSTREAM_CLICKHOUSE_DSN") {
		t.Fatalf("embedded store with a cluster: %v, want a refusal", err)
	}
}

func TestMessageCode(t *testing.T) {
	for msg, want := range map[string]int{
		"Code: 117. DB::Exception: Cannot parse JSON object here: [1,2]: (at row 2): While executing ParallelParsingBlockInputFormat. (INCORRECT_DATA)": 117,
		"Code: 60. DB::Exception: Unknown table": 60,
		"no code here":                           -1,
	} {
		if got := messageCode(msg); got != want {
			t.Errorf("messageCode(%q) = %d, want %d", msg, got, want)
		}
	}
}

// The classifiers recognise the errors both stores return: the embedded
// engine's, made here by running into each limit, and a server's
// exceptions, wrapped as callers wrap them.
func TestErrorClassifiers(t *testing.T) {
	s, err := OpenEmbedded(context.Background(), testkit.CHDBLib(t), t.TempDir(), quiet, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	run := func(sql string, settings map[string]string) error {
		t.Helper()
		_, err := s.QueryJSON(context.Background(), sql, nil, settings)
		if err == nil {
			t.Fatalf("%s with %v: no error", sql, settings)
		}
		return fmt.Errorf("wrapped: %w", err)
	}
	timeout := run("SELECT count() FROM numbers(1000000000000) WHERE sleepEachRow(0) = 0", map[string]string{"max_execution_time": "1", "timeout_overflow_mode": "throw"})
	rows := run("SELECT number FROM numbers(100)", map[string]string{"max_result_rows": "10", "result_overflow_mode": "throw"})
	memory := run("SELECT groupArray(number) FROM numbers(10000000)", map[string]string{"max_memory_usage": "1000000"})
	// A value the engine cannot parse (the store's own inserts send
	// nothing it refuses; properties that are not an object it refuses
	// itself, ErrRejected below).
	badData := s.db.Exec(context.Background(), "INSERT INTO trackstream.events (source_id, event_id, event_time) FORMAT CSV\n\"s\",\"i\",\"not a time\"\n")
	if badData == nil {
		t.Fatal("the engine stored an unparseable time")
	}
	rejected := s.InsertRows(context.Background(), "classify", []Row{{Event: event.Event{SourceID: "s", ID: "i", Properties: json.RawMessage(`[1]`)}}})
	server := func(code int32) error {
		return fmt.Errorf("wrapped: %w", &clickhouse.Exception{Code: code, Message: "x"})
	}
	for _, tc := range []struct {
		name                               string
		err                                error
		timeout, memory, rows, dataProblem bool
	}{
		{"embedded timeout", timeout, true, false, false, false},
		{"embedded row limit", rows, false, false, true, false},
		{"embedded memory limit", memory, false, true, false, false},
		{"embedded unparseable value", badData, false, false, false, true},
		{"server timeout", server(159), true, false, false, false},
		{"server memory limit", server(241), false, true, false, false},
		{"server row limit", server(396), false, false, true, false},
		{"server bad data", server(27), false, false, false, true},
		{"server unknown table", server(60), false, false, false, false},
		{"not clickhouse", context.DeadlineExceeded, false, false, false, false},
	} {
		got := [4]bool{IsTimeout(tc.err), IsMemoryLimit(tc.err), IsTooManyRows(tc.err), IsDataError(tc.err)}
		if want := [4]bool{tc.timeout, tc.memory, tc.rows, tc.dataProblem}; got != want {
			t.Errorf("%s (%v): IsTimeout, IsMemoryLimit, IsTooManyRows, IsDataError = %v, want %v", tc.name, tc.err, got, want)
		}
	}
	if !errors.Is(rejected, ErrRejected) {
		t.Errorf("rejected insert %v does not wrap ErrRejected", rejected)
	}
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
	s, err := OpenServer(ctx, dsn, quiet, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	source := fmt.Sprintf("src-server-%d", time.Now().UnixNano())
	batch := rows(source, 30, time.Now().UTC())
	for range 2 {
		if err := s.InsertRows(ctx, "srv-"+source[11:], batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.InsertRows(ctx, "srv2-"+source[11:], rows(source, 30, time.Now().UTC().Add(time.Second))); err != nil {
		t.Fatal(err)
	}
	n, err := s.CountEvents(ctx, source)
	if err != nil || n != 30 {
		t.Fatalf("count %d, %v; want 30", n, err)
	}
	bad := rows(source+"-bad", 2, time.Now().UTC())
	bad[1].Event.Properties = json.RawMessage(`[1,2]`)
	if err := s.InsertRows(ctx, "srv3-"+source[11:], bad); !errors.Is(err, ErrRejected) {
		t.Fatalf("non-object properties: %v, want ErrRejected", err)
	}
	if _, err := OpenServer(ctx, dsn, quiet, Options{}); err != nil {
		t.Fatalf("second open (migrations again): %v", err)
	}
}

// CheckOnly (admin-api with a read-only ClickHouse user) refuses a schema
// that was never migrated, names the fix, and accepts a migrated one
// without writing anything.
func TestCheckOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, err := OpenEmbedded(ctx, testkit.CHDBLib(t), dir, quiet, Options{CheckOnly: true})
	if err == nil || !strings.Contains(err.Error(), "trackstream migrate") {
		t.Fatalf("unmigrated schema: got %v", err)
	}
	s, err := OpenEmbedded(ctx, testkit.CHDBLib(t), dir, quiet, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenEmbedded(ctx, testkit.CHDBLib(t), dir, quiet, Options{CheckOnly: true, TTL: 48 * time.Hour})
	if err != nil {
		t.Fatalf("migrated schema refused: %v", err)
	}
	defer func() { _ = s.Close() }()
	out, err := s.db.Query(ctx, "SELECT create_table_query FROM system.tables WHERE database = 'trackstream' AND name = 'events'", "TabSeparatedRaw")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "TTL") {
		t.Fatalf("a check-only open changed the TTL: %s", out)
	}
}
