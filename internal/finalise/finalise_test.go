package finalise_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/finalise"
	"github.com/trackstream/trackstream/internal/store"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/schemas"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// referenceSQL is the definition of the session figures, written once
// more over raw events: one session id of one source within one UTC day,
// placed at its first event, whose bot flag it takes; per bucket of its
// start (toStartOf, a ClickHouse function such as toStartOfHour) and bot
// flag, and per event type before them (a session made of one type's
// events only) when byType.
func referenceSQL(toStartOf string, byType bool) string {
	typ := ""
	if byType {
		typ = "event_type, "
	}
	return "SELECT " + typ + "toUnixTimestamp(" + toStartOf + "(toDateTime(start, 'UTC'))) AS b, bot, count() AS n, countIf(single) AS nb, sum(dur) AS ms FROM (" +
		"SELECT " + typ + "min(event_time) AS start, argMin(is_bot, (event_time, is_bot)) AS bot, min(event_id) = max(event_id) AS single, " +
		"dateDiff('millisecond', min(event_time), max(event_time)) AS dur " +
		"FROM trackstream.events WHERE session_id != '' GROUP BY " + typ + "source_id, session_id, toDate(event_time)) " +
		"GROUP BY " + typ + "b, bot ORDER BY " + typ + "b, bot FORMAT TSV"
}

var (
	perHourSQL   = referenceSQL("toStartOfHour", false)
	perMinuteSQL = referenceSQL("toStartOfMinute", false)
	perTypeSQL   = referenceSQL("toStartOfMinute", true)
)

// finalSQL is what sessions_hourly holds per hour and bot flag, each hour
// at its newest version.
const finalSQL = `SELECT toUnixTimestamp(hour) AS h, is_bot, sum(sessions), sum(bounces), sum(duration_ms) FROM trackstream.sessions_hourly FINAL
WHERE source_id != '' AND (hour, version) IN (SELECT hour, max(version) FROM trackstream.sessions_hourly GROUP BY hour)
GROUP BY h, is_bot HAVING sum(sessions) > 0 ORDER BY h, is_bot FORMAT TSV`

// finalMinuteSQL is finalSQL per minute (migration 0015).
const finalMinuteSQL = `SELECT toUnixTimestamp(minute) AS m, is_bot, sum(sessions), sum(bounces), sum(duration_ms) FROM trackstream.sessions_hourly FINAL
WHERE source_id != '' AND (hour, version) IN (SELECT hour, max(version) FROM trackstream.sessions_hourly GROUP BY hour)
GROUP BY m, is_bot HAVING sum(sessions) > 0 ORDER BY m, is_bot FORMAT TSV`

// finalTypeSQL is what sessions_by_type holds per type, minute and bot
// flag, each hour at its newest version (migration 0018).
const finalTypeSQL = `SELECT event_type, toUnixTimestamp(minute) AS m, is_bot, sum(sessions), sum(bounces), sum(duration_ms) FROM trackstream.sessions_by_type FINAL
WHERE source_id != '' AND (hour, version) IN (SELECT hour, max(version) FROM trackstream.sessions_by_type WHERE event_type = '' AND source_id = '' GROUP BY hour)
GROUP BY event_type, m, is_bot HAVING sum(sessions) > 0 ORDER BY event_type, m, is_bot FORMAT TSV`

// visitorsRefSQL is the exact unique visitors of the events before until,
// counted another way than the finaliser does (each event fanned out to
// every type/source/period row it belongs to): per event type and source
// (empty for all), hour (hours 1) and whole UTC day before until (hours 24),
// with bots and without.
const visitorsRefSQL = `SELECT et AS event_type, src AS source_id, hours, toUnixTimestamp(start) AS s, uniqExact(v) AS visitors, uniqExactIf(v, NOT is_bot) AS human_visitors FROM (
SELECT t.1 AS et, t.2 AS src, p.1 AS hours, p.2 AS start, v, is_bot FROM (
SELECT event_type, source_id, is_bot, toDateTime(event_time, 'UTC') AS tm,
multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id) AS v
FROM trackstream.events WHERE v != '' AND event_time < {until:DateTime('UTC')})
ARRAY JOIN [(event_type, source_id), ('', source_id), (event_type, ''), ('', '')] AS t
ARRAY JOIN [(toUInt8(1), toStartOfHour(tm)), (toUInt8(24), toStartOfDay(tm))] AS p)
WHERE hours = 1 OR start + 86400 <= {until:DateTime('UTC')}
GROUP BY et, src, hours, s ORDER BY event_type, source_id, hours, s FORMAT TSV`

// finalVisitorsSQL is what visitors_exact holds (rows with visitors),
// each period at its newest version (migration 0019).
const finalVisitorsSQL = `SELECT event_type, source_id, hours, toUnixTimestamp(start) AS s, visitors, human_visitors FROM trackstream.visitors_exact FINAL
WHERE visitors > 0 AND (hours, start, version) IN (SELECT hours, start, max(version) FROM trackstream.visitors_exact WHERE event_type = '' AND source_id = '' GROUP BY hours, start)
ORDER BY event_type, source_id, hours, s FORMAT TSV`

// TestUpgradeCatchesUp writes events on the schema of migrations 1-5
// (sessions over three days, across midnight and a month boundary, some
// bot-first, with stored copies), computes the session figures from the
// raw events, opens the data dir with the current store (migration 6) and
// checks that one pass of the finaliser writes exactly those figures for
// every closed hour, and a marker for every hour from the first with
// data; the figures per event type too, and again after they are gone
// (hours finalised before migration 0018); the exact visitors of every
// closed hour and whole day likewise (before migration 0019). Mutations
// tried: needs() ignoring hours without typed rows (the last pass
// recomputed nothing).
func TestUpgradeCatchesUp(t *testing.T) {
	testkit.SkipShort(t)
	ctx := context.Background()
	dir := t.TempDir()
	lib := testkit.CHDBLib(t)
	db, err := chdb.Open(lib, filepath.Join(dir, "clickhouse"), 1)
	if err != nil {
		t.Fatal(err)
	}
	all, err := schemas.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string) {
		t.Helper()
		if err := db.Exec(ctx, q); err != nil {
			_ = db.Close()
			t.Fatalf("%.120s: %v", q, err)
		}
	}
	exec("CREATE DATABASE IF NOT EXISTS trackstream ENGINE = Atomic")
	exec("CREATE TABLE IF NOT EXISTS trackstream.schema_migrations (version UInt32, name String, applied_at DateTime64(3, 'UTC')) ENGINE = ReplacingMergeTree ORDER BY version")
	for _, m := range all {
		if m.Version > 5 {
			break
		}
		for _, q := range m.Statements {
			exec(q)
		}
		exec(fmt.Sprintf("INSERT INTO trackstream.schema_migrations VALUES (%d, '%s', now64(3))", m.Version, m.Name))
	}
	start := time.Date(2026, 1, 30, 20, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(6, 13))
	var vals []string
	n := 0
	for s := range 400 {
		source := []string{"up-a", "up-b"}[r.IntN(2)]
		at := start.Add(time.Duration(r.Int64N(int64(60 * time.Hour))).Truncate(time.Millisecond))
		for i := range 1 + r.IntN(4) {
			if i > 0 {
				at = at.Add(time.Duration(r.Int64N(int64(40 * time.Minute))).Truncate(time.Millisecond))
			}
			n++
			bot := r.IntN(8) == 0
			typ := "page"
			switch {
			case n%3 == 0:
				typ = "signup"
			case n%7 == 0:
				typ = "click"
			}
			v := fmt.Sprintf("('%s', 'e%d', '%s', '%s', '%s', 'u%d', %v)", source, n, typ, at.Format("2006-01-02 15:04:05.000"), at.Add(time.Second).Format("2006-01-02 15:04:05.000"), s%150, bot)
			vals = append(vals, v)
			if n%10 == 0 { // a copy, stored as the old schema stored copies
				vals = append(vals, v)
			}
		}
	}
	exec("INSERT INTO trackstream.events (source_id, event_id, event_type, event_time, received_at, session_id, is_bot) VALUES " + strings.Join(vals, ", "))
	before, err := db.Query(ctx, perHourSQL, "TSV")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	st, err := store.OpenEmbedded(ctx, lib, dir, quiet, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	fin, err := finalise.New(st, finalise.Settings{Interval: time.Minute, Lateness: 2 * time.Hour}, quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	now := start.Add(5 * 24 * time.Hour)
	res, err := fin.Pass(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(-time.Hour); !res.Until.Equal(want) || res.Days != 6 {
		t.Errorf("catch-up: %+v, want 6 days finalised until %s", res, want)
	}
	check, err := chdb.Open(lib, filepath.Join(dir, "clickhouse"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = check.Close() }()
	after, err := check.Query(ctx, finalSQL, "TSV")
	if err != nil {
		t.Fatal(err)
	}
	if len(before) < 100 || string(after) != string(before) {
		t.Errorf("sessions_hourly after the upgrade:\n%s\nraw events before it:\n%s", after, before)
	}
	markers, err := st.QueryJSON(ctx, "SELECT count(DISTINCT hour) AS n, toUnixTimestamp(min(hour)) AS lo FROM trackstream.sessions_hourly WHERE source_id = ''", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`{"n":%d,"lo":%d}`, int(now.Add(-time.Hour).Sub(start.Truncate(24*time.Hour))/time.Hour), start.Truncate(24*time.Hour).Unix()); string(markers[0]) != want {
		t.Errorf("markers %s, want %s (every hour from the first day with data)", markers[0], want)
	}
	again, err := fin.Pass(ctx, now)
	if err != nil || again.Hours != 0 {
		t.Errorf("a second pass at the same time: %+v, %v; want nothing to do", again, err)
	}
	minutes, err := check.Query(ctx, perMinuteSQL, "TSV")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := check.Query(ctx, finalMinuteSQL, "TSV"); err != nil || len(minutes) < 100 || string(got) != string(minutes) {
		t.Errorf("sessions_hourly per minute (%v):\n%s\nraw events:\n%s", err, got, minutes)
	}

	// Hours finalised before migration 0015, as it leaves them: each
	// hour's newest figures in one row per (source, hour, bot) whose
	// minute reads as the epoch, under a newer version. A pass at the
	// same time recomputes them, now with minutes.
	if err := st.Write(ctx, "INSERT INTO trackstream.sessions_hourly (source_id, hour, is_bot, sessions, bounces, duration_ms, version) "+
		"SELECT source_id, hour, is_bot, sum(sessions), sum(bounces), sum(duration_ms), any(version) + 1 FROM trackstream.sessions_hourly FINAL "+
		"WHERE (hour, version) IN (SELECT hour, max(version) FROM trackstream.sessions_hourly GROUP BY hour) GROUP BY source_id, hour, is_bot", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := check.Query(ctx, finalMinuteSQL, "TSV"); err != nil || string(got) == string(minutes) {
		t.Fatalf("per-minute figures after writing hours without minutes (%v): unchanged, want none", err)
	}
	up, err := fin.Pass(ctx, now)
	if err != nil || up.Hours != res.Hours || up.Corrections != 0 {
		t.Errorf("the pass after hours without minutes: %+v, %v; want every hour (%d) recomputed, none changed", up, err, res.Hours)
	}
	if got, err := check.Query(ctx, finalMinuteSQL, "TSV"); err != nil || string(got) != string(minutes) {
		t.Errorf("sessions_hourly per minute after the recompute (%v):\n%s\nraw events:\n%s", err, got, minutes)
	}
	if got, err := check.Query(ctx, finalSQL, "TSV"); err != nil || string(got) != string(before) {
		t.Errorf("sessions_hourly after the recompute (%v):\n%s\nraw events:\n%s", err, got, before)
	}

	// Figures per event type: as the raw events say, and recomputed
	// once when an hour has none (finalised before migration 0018).
	typed, err := check.Query(ctx, perTypeSQL, "TSV")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := check.Query(ctx, finalTypeSQL, "TSV"); err != nil || !strings.Contains(string(typed), "signup") || string(got) != string(typed) {
		t.Errorf("sessions_by_type (%v):\n%s\nraw events:\n%s", err, got, typed)
	}
	if err := st.Write(ctx, "TRUNCATE TABLE trackstream.sessions_by_type", nil); err != nil {
		t.Fatal(err)
	}
	up, err = fin.Pass(ctx, now)
	if err != nil || up.Hours != res.Hours || up.Corrections != 0 {
		t.Errorf("the pass after hours without typed figures: %+v, %v; want every hour (%d) recomputed, none changed", up, err, res.Hours)
	}
	if got, err := check.Query(ctx, finalTypeSQL, "TSV"); err != nil || string(got) != string(typed) {
		t.Errorf("sessions_by_type after the recompute (%v):\n%s\nraw events:\n%s", err, got, typed)
	}

	// Exact visitors: as the raw events say, a marker for every closed
	// hour and whole day, and recomputed once when an hour has none
	// (finalised before migration 0019).
	visitors := func() string {
		t.Helper()
		rows, err := st.QueryJSON(ctx, strings.TrimSuffix(visitorsRefSQL, " FORMAT TSV"), map[string]string{"until": res.Until.Format(time.DateTime)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d %s", len(rows), rows)
	}
	final := func() string {
		t.Helper()
		rows, err := st.QueryJSON(ctx, strings.TrimSuffix(finalVisitorsSQL, " FORMAT TSV"), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d %s", len(rows), rows)
	}
	want := visitors()
	if got := final(); !strings.Contains(want, `"hours":24`) || !strings.Contains(want, `"human_visitors"`) || got != want {
		t.Errorf("visitors_exact:\n%.2000s\nraw events:\n%.2000s", got, want)
	}
	if err := st.Write(ctx, "TRUNCATE TABLE trackstream.visitors_exact", nil); err != nil {
		t.Fatal(err)
	}
	up, err = fin.Pass(ctx, now)
	if err != nil || up.Hours != res.Hours || up.Corrections != 0 {
		t.Errorf("the pass after hours without exact visitors: %+v, %v; want every hour (%d) recomputed, none changed", up, err, res.Hours)
	}
	if got := final(); got != want {
		t.Errorf("visitors_exact after the recompute:\n%.2000s\nraw events:\n%.2000s", got, want)
	}
	markers, err = st.QueryJSON(ctx, "SELECT countIf(hours = 1) AS h, countIf(hours = 24) AS d FROM (SELECT DISTINCT hours, start FROM trackstream.visitors_exact WHERE event_type = '' AND source_id = '')", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := start.Truncate(24 * time.Hour)
	if w := fmt.Sprintf(`{"h":%d,"d":%d}`, int(res.Until.Sub(first)/time.Hour), int(res.Until.Sub(first)/(24*time.Hour))); string(markers[0]) != w {
		t.Errorf("visitors_exact markers %s, want %s (every closed hour and whole day)", markers[0], w)
	}
}
