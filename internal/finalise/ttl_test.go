package finalise_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trackstream/trackstream/internal/finalise"
	"github.com/trackstream/trackstream/internal/store"
	"github.com/trackstream/trackstream/internal/testkit"
)

// rollupsOfSQL is, per finalised table, how many rows the hours (or day)
// from {lo} to {hi} have and their newest version: a pass that writes
// any of them changes both.
const rollupsOfSQL = `SELECT * FROM (SELECT 'sessions_hourly' AS t, count() AS n, max(version) AS v FROM trackstream.sessions_hourly WHERE hour >= {lo:DateTime('UTC')} AND hour < {hi:DateTime('UTC')}
UNION ALL SELECT 'sessions_by_type', count(), max(version) FROM trackstream.sessions_by_type WHERE hour >= {lo:DateTime('UTC')} AND hour < {hi:DateTime('UTC')}
UNION ALL SELECT 'visitors_exact', count(), max(version) FROM trackstream.visitors_exact WHERE start >= {lo:DateTime('UTC')} AND start < {hi:DateTime('UTC')}
UNION ALL SELECT 'session_pages', count(), max(version) FROM trackstream.session_pages WHERE day >= toDate({lo:DateTime('UTC')}) AND day < toDate({hi:DateTime('UTC')}))
ORDER BY t`

// TestTTLLeavesExpiredDaysAlone finalises two days with sessions, one
// six days old and one two days old, then gives each a late event (a
// sessions_dirty mark) and deletes most of the old day's raw events, as
// the events TTL would. A finaliser with a four-day TTL must leave every
// finalised row of the old day as it was (count and newest version of
// each table), report it once as expired and with a late event, and
// still recompute the recent day (the late session counted). After the
// finalised rows are emptied (an upgrade over history older than the
// TTL), its catch-up writes nothing before its horizon and finalises
// every hour after it. Run, making passes every few milliseconds over
// the same expired days, logs them once. Mutations tried, each failed it:
// the guard removed (keepFrom zero: the old day recomputed, the catch-up
// wrote rows before the horizon), the horizon's partly expired day
// recomputed (keepFrom without its last day added), every day guarded
// (the recent day not recomputed), the log line not deduplicated (one
// per pass).
func TestTTLLeavesExpiredDaysAlone(t *testing.T) {
	testkit.SkipShort(t)
	ctx := context.Background()
	st, err := store.OpenEmbedded(ctx, testkit.CHDBLib(t), t.TempDir(), quiet, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	write := func(q string, params map[string]string) {
		t.Helper()
		if err := st.Write(ctx, q, params); err != nil {
			t.Fatalf("%.120s: %v", q, err)
		}
	}
	rows := func(q string, params map[string]string) string {
		t.Helper()
		out, err := st.QueryJSON(ctx, q, params, nil)
		if err != nil {
			t.Fatalf("%.120s: %v", q, err)
		}
		b, _ := json.Marshal(out)
		return string(b)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	old, recent := today.AddDate(0, 0, -6), today.AddDate(0, 0, -2)
	n := 0
	// events inserts sessions of three events each (pageviews and a
	// click), the first at day + 1h + i*10m.
	events := func(d time.Time, sessions int, prefix string) {
		t.Helper()
		var vals []string
		for s := range sessions {
			at := d.Add(time.Hour + time.Duration(s)*10*time.Minute)
			for i, typ := range []string{"page", "click", "page"} {
				n++
				tm := at.Add(time.Duration(i) * time.Minute).Format("2006-01-02 15:04:05.000")
				vals = append(vals, fmt.Sprintf("('ttl-a', 'e%d', '%s', '%s', '%s', '%s%d', '/p%d', false)", n, typ, tm, tm, prefix, s, i))
			}
		}
		write("INSERT INTO trackstream.events (source_id, event_id, event_type, event_time, received_at, session_id, url_path, is_bot) SELECT * FROM values("+
			"'s String, e String, t String, tm DateTime64(3, \\'UTC\\'), r DateTime64(3, \\'UTC\\'), sid String, p String, b Bool', "+strings.Join(vals, ", ")+")", nil)
	}
	events(old, 20, "o")
	events(recent, 20, "r")
	span := func(d time.Time) map[string]string {
		return map[string]string{"lo": d.Format(time.DateTime), "hi": d.Add(24 * time.Hour).Format(time.DateTime)}
	}
	sessionsOf := func(d time.Time) string {
		t.Helper()
		return rows("SELECT sum(sessions) AS s FROM trackstream.sessions_hourly FINAL WHERE hour >= {lo:DateTime('UTC')} AND hour < {hi:DateTime('UTC')} AND source_id != '' "+
			"AND (hour, version) IN (SELECT hour, max(version) FROM trackstream.sessions_hourly GROUP BY hour)", span(d))
	}

	noTTL, err := finalise.New(st, finalise.Settings{Interval: time.Minute, Lateness: 2 * time.Hour}, quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noTTL.Pass(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	oldRows, recentRows := rows(rollupsOfSQL, span(old)), rows(rollupsOfSQL, span(recent))
	if !strings.Contains(oldRows, `"session_pages","n":3`) || sessionsOf(old) != `[{"s":20}]` || sessionsOf(recent) != `[{"s":20}]` {
		t.Fatalf("first pass: old day %s (%s sessions), recent day %s sessions; want every table written, 20 sessions each", oldRows, sessionsOf(old), sessionsOf(recent))
	}

	// A late session for each day, and the old day's events but its last
	// session's deleted, as the TTL would.
	events(old, 1, "late-o")
	events(recent, 1, "late-r")
	write("DELETE FROM trackstream.events WHERE event_time >= {lo:DateTime64(3, 'UTC')} AND event_time < {hi:DateTime64(3, 'UTC')} AND session_id != 'o19'",
		map[string]string{"lo": old.Format(time.DateTime), "hi": old.Add(24 * time.Hour).Format(time.DateTime)})

	withTTL, err := finalise.New(st, finalise.Settings{Interval: 10 * time.Millisecond, Lateness: 2 * time.Hour, TTL: 4 * 24 * time.Hour}, quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	res, err := withTTL.Pass(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if e := res.Expired; e.Days != 1 || e.Dirty != 1 || !e.First.Equal(old) || !e.Last.Equal(old) {
		t.Errorf("expired days after the late events: %+v, want the old day %s alone, with a late event", e, old.Format(time.DateOnly))
	}
	if got := rows(rollupsOfSQL, span(old)); got != oldRows {
		t.Errorf("the old day's finalised rows after a pass with the TTL:\n%s\nbefore:\n%s", got, oldRows)
	}
	if got := rows(rollupsOfSQL, span(recent)); got == recentRows || sessionsOf(recent) != `[{"s":21}]` {
		t.Errorf("the recent day after a pass with the TTL: %s, %s sessions; want recomputed with 21 sessions (was %s)", got, sessionsOf(recent), recentRows)
	}

	// An upgrade over history older than the TTL: nothing finalised yet.
	for _, table := range []string{"sessions_hourly", "sessions_by_type", "visitors_exact", "session_pages"} {
		write("TRUNCATE TABLE trackstream."+table, nil)
	}
	now := time.Now()
	res, err = withTTL.Pass(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	// The first day the pass may recompute: the days before it have events
	// older than TTL - 1h.
	keep := now.UTC().Add(time.Hour - 4*24*time.Hour).Truncate(24 * time.Hour).Add(24 * time.Hour)
	if e := res.Expired; e.Days != int(keep.Sub(old)/(24*time.Hour)) || !e.First.Equal(old) || !e.Last.Equal(keep.Add(-24*time.Hour)) {
		t.Errorf("expired days of the catch-up: %+v, want every day from %s to before %s", e, old.Format(time.DateOnly), keep.Format(time.DateOnly))
	}
	if got := rows(rollupsOfSQL, map[string]string{"lo": old.Format(time.DateTime), "hi": keep.Format(time.DateTime)}); strings.Count(got, `"n":0`) != 4 {
		t.Errorf("the catch-up wrote rows before its horizon %s: %s", keep.Format(time.DateOnly), got)
	}
	closed := now.UTC().Add(-2 * time.Hour).Truncate(time.Hour).Add(time.Hour)
	if got, want := rows("SELECT count(DISTINCT hour) AS n, toUnixTimestamp(min(hour)) AS lo FROM trackstream.sessions_hourly WHERE source_id = ''", nil),
		fmt.Sprintf(`[{"n":%d,"lo":%d}]`, int(closed.Sub(keep)/time.Hour), keep.Unix()); got != want {
		t.Errorf("markers after the catch-up: %s, want %s (every closed hour from the horizon on)", got, want)
	}
	if sessionsOf(recent) != `[{"s":21}]` {
		t.Errorf("the recent day after the catch-up: %s sessions, want 21", sessionsOf(recent))
	}

	// Run over the same expired days: one line, however many passes.
	logs, passes := &testkit.Buffer{}, &countingStore{Store: st}
	runner, err := finalise.New(passes, finalise.Settings{Interval: 10 * time.Millisecond, Lateness: 2 * time.Hour, TTL: 4 * 24 * time.Hour},
		slog.New(slog.NewTextHandler(logs, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The horizon moves at 23:00 UTC (a day's first events then come
	// within the TTL less an hour): passes on both sides of it see two
	// sets of expired days, and say each once.
	horizon := func() time.Time { return time.Now().UTC().Add(time.Hour - 4*24*time.Hour).Truncate(24 * time.Hour) }
	from := horizon()
	done := make(chan error, 1)
	go func() { done <- runner.Run(runCtx) }()
	testkit.Eventually(t, 30*time.Second, "five passes of Run", func() bool { return passes.states.Load() >= 5 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := 1
	if !horizon().Equal(from) {
		want = 2
	}
	if got := logs.String(); strings.Count(got, "left days alone") != want {
		t.Errorf("Run's log over the same expired days: want %d line(s) about them:\n%s", want, got)
	}
}

// countingStore is the store, counting the passes made over it (each
// starts by reading the finalised hours' versions).
type countingStore struct {
	finalise.Store
	states atomic.Int64
}

func (c *countingStore) QueryJSON(ctx context.Context, sql string, params, settings map[string]string) ([]json.RawMessage, error) {
	if strings.Contains(sql, "max(version) AS v") {
		c.states.Add(1)
	}
	return c.Store.QueryJSON(ctx, sql, params, settings)
}

// A TTL too short for the finaliser's re-check of a day is said once, at
// start, with the setting to change; one long enough, or none, is not.
func TestShortTTLWarns(t *testing.T) {
	for _, c := range []struct {
		ttl  time.Duration
		warn bool
	}{{0, false}, {24 * time.Hour, true}, {48 * time.Hour, true}, {49 * time.Hour, false}, {8760 * time.Hour, false}} {
		logs := &testkit.Buffer{}
		if _, err := finalise.New(nil, finalise.Settings{Interval: time.Minute, Lateness: 2 * time.Hour, TTL: c.ttl},
			slog.New(slog.NewTextHandler(logs, nil)), prometheus.NewRegistry()); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(logs.String(), "TRACKSTREAM_CLICKHOUSE_TTL to at least 49h0m0s"); got != c.warn {
			t.Errorf("TTL %s: warned %v, want %v; log: %q", c.ttl, got, c.warn, logs.String())
		}
	}
}
