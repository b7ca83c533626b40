package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trackstream/trackstream/internal/enrich"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/finalise"
	"github.com/trackstream/trackstream/internal/store"
	"github.com/trackstream/trackstream/internal/testkit"
)

// sessEvent is a stored row as the session reference sees it.
type sessEvent struct {
	source, id, session, typ string
	at                       time.Time
	bot                      bool
}

// sessTypes is the event type of the n-th event of the differential test:
// mostly pageviews, every third a signup and every seventh a click, so
// that a session's events of one type are some of its events.
func sessTypes(n int) string {
	switch {
	case n%3 == 0:
		return "signup"
	case n%7 == 0:
		return "click"
	}
	return "page"
}

// ofTypes are the rows of rows whose type is one of types (all: none).
func ofTypes(rows []sessEvent, types []string) []sessEvent {
	if len(types) == 0 {
		return rows
	}
	var out []sessEvent
	for _, e := range rows {
		if slices.Contains(types, e.typ) {
			out = append(out, e)
		}
	}
	return out
}

// refSession is one session by the definition (sessions_sql.go).
type refSession struct {
	source      string
	start, last time.Time
	bot         bool
	ids         map[string]bool
}

// refSessions groups stored rows (copies included) into sessions: one
// session id of one source within one UTC day, started at its first
// event, whose bot flag it takes (a tie at the first millisecond counts
// as human).
func refSessions(rows []sessEvent) []*refSession {
	type key struct {
		source, session string
		day             time.Time
	}
	by := map[key]*refSession{}
	for _, e := range rows {
		k := key{e.source, e.session, e.at.Truncate(24 * time.Hour)}
		s := by[k]
		if s == nil {
			s = &refSession{source: e.source, start: e.at, last: e.at, bot: e.bot, ids: map[string]bool{}}
			by[k] = s
		}
		switch {
		case e.at.Before(s.start):
			s.start, s.bot = e.at, e.bot
		case e.at.Equal(s.start):
			s.bot = s.bot && e.bot
		}
		if e.at.After(s.last) {
			s.last = e.at
		}
		s.ids[e.id] = true
	}
	out := make([]*refSession, 0, len(by))
	for _, s := range by {
		out = append(out, s)
	}
	return out
}

// sessFigures are the session figures of a period or bucket as answered.
type sessFigures struct {
	Sessions           uint64  `json:"sessions"`
	BounceRate         float64 `json:"bounce_rate"`
	AvgSessionDuration float64 `json:"avg_session_duration"`
}

// refFigures are the figures of the sessions started in [lo, hi).
func refFigures(ss []*refSession, lo, hi time.Time, source string, bots bool) sessFigures {
	var n, bounces uint64
	var ms int64
	for _, s := range ss {
		if s.start.Before(lo) || !s.start.Before(hi) || (source != "" && s.source != source) || (s.bot && !bots) {
			continue
		}
		n++
		if len(s.ids) == 1 {
			bounces++
		}
		ms += s.last.Sub(s.start).Milliseconds()
	}
	f := sessFigures{Sessions: n, BounceRate: ratio(bounces, n)}
	if n > 0 {
		f.AvgSessionDuration = round3(float64(ms) / float64(n) / 1000)
	}
	return f
}

// visFigures are the visitors of a period or bucket as answered.
type visFigures struct {
	Visitors  uint64 `json:"visitors"`
	Estimated bool   `json:"visitors_estimated"`
}

// refVisitors are the distinct visitors of the rows in [lo, hi) (the
// admin API's visitor of these rows is their anonymous id, v-<session>).
func refVisitors(rows []sessEvent, lo, hi time.Time, source string, bots bool) uint64 {
	seen := map[string]bool{}
	for _, e := range rows {
		if !e.at.Before(lo) && e.at.Before(hi) && (source == "" || e.source == source) && (bots || !e.bot) {
			seen[e.session] = true
		}
	}
	return uint64(len(seen))
}

// wholePeriod reports whether [lo, hi) is one whole hour or UTC day: the
// buckets whose visitors the finaliser counts exactly (migration 0019).
func wholePeriod(lo, hi time.Time) bool {
	return hi.Sub(lo) == time.Hour && lo.Equal(lo.Truncate(time.Hour)) || hi.Sub(lo) == 24*time.Hour && lo.Equal(lo.Truncate(24*time.Hour))
}

// sessionsWindow is where the differential test's sessions start: over
// midnight of a new year (a day, month and year boundary), far from the
// other tests' data.
var sessionsWindow = time.Date(2024, 12, 31, 18, 0, 0, 0, time.UTC)

// randomSessions makes n sessions of 1-5 events in two sources, with
// session ids reused across sources and within a day, gaps of up to 50
// minutes (so sessions cross hours and midnight), bot-first sessions and
// bot events inside human sessions. Event ids continue from *next.
func randomSessions(r *rand.Rand, n int, next *int) []sessEvent {
	var out []sessEvent
	for range n {
		source := []string{"sess-a", "sess-b"}[r.IntN(2)]
		session := fmt.Sprintf("s%d", r.IntN(60))
		at := sessionsWindow.Add(time.Duration(r.Int64N(int64(12 * time.Hour))).Truncate(time.Millisecond))
		for i := range 1 + r.IntN(5) {
			if i > 0 {
				at = at.Add(time.Duration(r.Int64N(int64(50 * time.Minute))).Truncate(time.Millisecond))
			}
			bot := r.IntN(10) == 0
			if i == 0 && r.IntN(7) == 0 {
				bot = true
			}
			*next++
			out = append(out, sessEvent{source: source, id: fmt.Sprintf("se%d", *next), session: session, typ: sessTypes(*next), at: at, bot: bot})
		}
	}
	return out
}

func storeRows(es []sessEvent, received time.Duration) []store.Row {
	out := make([]store.Row, len(es))
	for i, e := range es {
		out[i] = store.Row{
			Event:  event.Event{SourceID: e.source, ID: e.id, Type: e.typ, Time: e.at, ReceivedAt: e.at.Add(received), SessionID: e.session, AnonymousID: "v-" + e.session, Properties: json.RawMessage(`{}`)},
			Fields: enrich.Fields{URLPath: "/p", Bot: e.bot},
		}
	}
	return out
}

// TestSessionFiguresDifferential checks, on random sessions, that the
// session figures of the finalised hours plus the open tail, of the open
// tail alone and of raw events all equal the definition computed here in
// Go: before any finaliser pass, after one, after late events (earlier
// first events, bot-first, bounces that stop being bounces) and the pass
// that follows them, after the re-check, and after two finalisers ran
// the same pass at once. Filters on one event type (finalised rows of
// sessions_by_type, events for the rest) and on two (events) are checked
// the same way against sessions made of those types' events only, also
// with hours finalised before migration 0018 (no typed rows) and after
// the pass that recomputes them. Mutations tried: finalisedSessions
// without its event_type condition (every type's rows summed) and
// sessionParts' typed open tail from events_sessions (all types' events).
func TestSessionFiguresDifferential(t *testing.T) {
	testkit.SkipShort(t)
	st, _ := chStore(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(13, 6))
	next := 0
	stored := randomSessions(r, 250, &next)
	if err := write(ctx, st, "sess-diff-1", storeRows(stored, time.Second)); err != nil {
		t.Fatal(err)
	}
	// Exact copies stored anyway (as before write-time deduplication),
	// and copies at another time, which the store drops as it writes.
	var copies, moved []sessEvent
	for i, e := range stored {
		if i%9 == 0 {
			copies = append(copies, e)
			m := e
			m.at = m.at.Add(2 * time.Second)
			moved = append(moved, m)
		}
	}
	if err := st.InsertRows(ctx, "sess-diff-copies", storeRows(copies, time.Minute)); err != nil {
		t.Fatal(err)
	}
	stored = append(stored, copies...)
	if err := write(ctx, st, "sess-diff-moved", storeRows(moved, 2*time.Minute)); err != nil {
		t.Fatal(err)
	}

	e := startWith(t, st, &clock{t: sessionsWindow.Add(48 * time.Hour)})
	tok := e.login("admin", strong)
	qs := func(from, to time.Time) string {
		return "from=" + url.QueryEscape(from.Format(time.RFC3339Nano)) + "&to=" + url.QueryEscape(to.Format(time.RFC3339Nano))
	}
	// exactUntil is where the finalised exact visitors end (zero: none
	// yet): whole hours and days before it answer exact visitors.
	var exactUntil time.Time
	visitors := func(phase, what string, rows []sessEvent, lo, hi time.Time, source string, bots, rollup bool, types int, got visFigures) {
		t.Helper()
		exact := types <= 1 && rollup && wholePeriod(lo, hi) && !hi.After(exactUntil)
		n := refVisitors(rows, lo, hi, source, bots)
		// Sketches of no visitors are no estimate.
		if want := (visFigures{n, rollup && !exact && n > 0}); got != want {
			t.Errorf("%s: %s: visitors %+v, want %+v (exact from visitors_exact: %v)", phase, what, got, want, exact)
		}
	}
	check := func(phase string) {
		t.Helper()
		for _, filters := range []struct {
			source string
			bots   bool
			types  []string
		}{{"", false, nil}, {"sess-a", false, nil}, {"", true, nil}, {"sess-b", true, nil},
			{"", false, []string{"signup"}}, {"sess-a", true, []string{"signup"}}, {"", true, []string{"click"}}, {"", false, []string{"signup", "click"}}} {
			typed := ofTypes(stored, filters.types)
			ss := refSessions(typed)
			extra := ""
			if filters.source != "" {
				extra += "&source=" + filters.source
			}
			if filters.bots {
				extra += "&bots=true"
			}
			if len(filters.types) > 0 {
				extra += "&type=" + strings.Join(filters.types, "&type=")
			}
			// Aligned ranges read the rollups, ranges one second off
			// read raw events.
			ranges := [][2]time.Time{
				{sessionsWindow.Add(2 * time.Hour), sessionsWindow.Add(10 * time.Hour)},
				{sessionsWindow.Add(6 * time.Hour), sessionsWindow.Add(7 * time.Hour)},
				{sessionsWindow.Add(2*time.Hour + time.Second), sessionsWindow.Add(10*time.Hour - time.Second)},
				// Whole minutes of partial hours (finalised ones from
				// their per-minute rows) and parts of a minute.
				{sessionsWindow.Add(5*time.Hour + time.Minute), sessionsWindow.Add(8*time.Hour + time.Minute)},
				{sessionsWindow.Add(4*time.Hour + 17*time.Minute + 20*time.Second), sessionsWindow.Add(8*time.Hour + 41*time.Minute + 5*time.Second)},
				{sessionsWindow.Add(6*time.Hour + 10*time.Minute), sessionsWindow.Add(6*time.Hour + 50*time.Minute + 30*time.Second)},
				{sessionsWindow.Add(8*time.Hour + 30*time.Minute), sessionsWindow.Add(9*time.Hour + 30*time.Minute)},
			}
			// A range from just after a session's start to just before
			// another's, within their minutes: those two are outside.
			if lo, hi := startInMinute(ss, sessionsWindow.Add(3*time.Hour)), startInMinute(ss, sessionsWindow.Add(8*time.Hour)); !lo.IsZero() && !hi.IsZero() {
				ranges = append(ranges, [2]time.Time{lo.Add(time.Millisecond), hi})
			}
			for _, rg := range ranges {
				from, to := rg[0], rg[1]
				prev := from.Add(-to.Sub(from))
				type metrics struct {
					sessFigures
					visFigures
				}
				var got struct {
					Metrics  metrics
					Previous struct{ Metrics metrics }
					Rollup   bool
				}
				e.get(tok, "/api/v1/stats/summary?"+qs(from, to)+extra, http.StatusOK, &got)
				if want := refFigures(ss, from, to, filters.source, filters.bots); got.Metrics.sessFigures != want {
					t.Errorf("%s: summary %s..%s%s: got %+v, want %+v", phase, from, to, extra, got.Metrics, want)
				}
				if want := refFigures(ss, prev, from, filters.source, filters.bots); got.Previous.Metrics.sessFigures != want {
					t.Errorf("%s: summary %s..%s%s previous: got %+v, want %+v", phase, from, to, extra, got.Previous.Metrics, want)
				}
				what := "summary " + qs(from, to) + extra
				visitors(phase, what, typed, from, to, filters.source, filters.bots, got.Rollup, len(filters.types), got.Metrics.visFigures)
				visitors(phase, what+" previous", typed, prev, from, filters.source, filters.bots, got.Rollup, len(filters.types), got.Previous.Metrics.visFigures)
			}
			for _, sc := range []struct {
				iv       string
				step     time.Duration
				from, to time.Time
			}{
				{"hour", time.Hour, sessionsWindow, sessionsWindow.Add(18 * time.Hour)},
				{"hour", time.Hour, sessionsWindow.Add(time.Second), sessionsWindow.Add(18 * time.Hour)},
				{"day", 24 * time.Hour, sessionsWindow.Add(-18 * time.Hour), sessionsWindow.Add(30 * time.Hour)},
				{"minute", time.Minute, sessionsWindow.Add(5*time.Hour + 30*time.Minute), sessionsWindow.Add(7 * time.Hour)},
				{"minute", time.Minute, sessionsWindow.Add(6*time.Hour + 20*time.Minute + 30*time.Second), sessionsWindow.Add(9*time.Hour + 10*time.Minute + 15*time.Second)},
			} {
				var got struct {
					Points []struct {
						T string
						sessFigures
						visFigures
					}
					Rollup bool
				}
				e.get(tok, "/api/v1/stats/series?interval="+sc.iv+"&"+qs(sc.from, sc.to)+extra, http.StatusOK, &got)
				for _, p := range got.Points {
					b, err := time.Parse(time.RFC3339, p.T)
					if err != nil {
						t.Fatal(err)
					}
					lo, hi := b, b.Add(sc.step)
					if lo.Before(sc.from) {
						lo = sc.from
					}
					if hi.After(sc.to) {
						hi = sc.to
					}
					if want := refFigures(ss, lo, hi, filters.source, filters.bots); p.sessFigures != want {
						t.Errorf("%s: series by %s %s..%s%s, bucket %s: got %+v, want %+v", phase, sc.iv, sc.from, sc.to, extra, p.T, p.sessFigures, want)
					}
					visitors(phase, "series by "+sc.iv+" "+qs(sc.from, sc.to)+extra+", bucket "+p.T, typed, lo, hi, filters.source, filters.bots,
						got.Rollup, len(filters.types), p.visFigures)
				}
			}
		}
	}
	check("open tail only")

	fin := newFinaliser(t, st)
	now := sessionsWindow.Add(10*time.Hour + 30*time.Minute) // hours before 09:00 are closed
	res, err := fin.Pass(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := sessionsWindow.Add(9 * time.Hour); !res.Until.Equal(want) {
		t.Fatalf("finalised until %s, want %s", res.Until, want)
	}
	exactUntil = res.Until
	check("finalised hours and the open tail")

	// Hours finalised before migration 0015: each hour's newest rows as
	// one row per (source, hour, bot) without a minute (it reads as the
	// epoch), under a newer version. Readers must not take them by
	// minute, and the next pass recomputes them with minutes.
	if err := st.Write(ctx, "INSERT INTO trackstream.sessions_hourly (source_id, hour, is_bot, sessions, bounces, duration_ms, version) "+
		"SELECT source_id, hour, is_bot, sum(sessions), sum(bounces), sum(duration_ms), any(version) + 1 FROM trackstream.sessions_hourly FINAL "+
		"WHERE (hour, version) IN (SELECT hour, max(version) FROM trackstream.sessions_hourly GROUP BY hour) GROUP BY source_id, hour, is_bot", nil); err != nil {
		t.Fatal(err)
	}
	noMinutes := func() string {
		t.Helper()
		rows, err := st.QueryJSON(ctx, "SELECT count() AS n FROM (SELECT hour, argMax(minute, version) AS m FROM trackstream.sessions_hourly WHERE source_id = '' GROUP BY hour) WHERE m != hour", nil, nil)
		if err != nil || len(rows) != 1 {
			t.Fatal(rows, err)
		}
		return string(rows[0])
	}
	if got := noMinutes(); got == `{"n":0}` {
		t.Fatalf("hours without minutes after the rewrite: %s, want every finalised hour", got)
	}
	check("hours finalised before migration 0015")
	if _, err := fin.Pass(ctx, now); err != nil {
		t.Fatal(err)
	}
	if got := noMinutes(); got != `{"n":0}` {
		t.Fatalf("hours without minutes after a pass: %s, want 0 (recomputed with minutes)", got)
	}
	check("hours recomputed with minutes")

	// Hours finalised before migration 0018: no typed rows. Typed filters
	// read events for them, and the next pass writes them.
	typedHours := func() string {
		t.Helper()
		// Other tests' hours share the store: this test's days only.
		rows, err := st.QueryJSON(ctx, "SELECT uniqExact(hour) AS n FROM trackstream.sessions_by_type WHERE event_type = '' AND source_id = '' AND hour >= {lo:DateTime('UTC')} AND hour < {hi:DateTime('UTC')}",
			map[string]string{"lo": sessionsWindow.Truncate(24 * time.Hour).Format(time.DateTime), "hi": sessionsWindow.Add(48 * time.Hour).Format(time.DateTime)}, nil)
		if err != nil || len(rows) != 1 {
			t.Fatal(rows, err)
		}
		return string(rows[0])
	}
	if err := st.Write(ctx, "TRUNCATE TABLE trackstream.sessions_by_type", nil); err != nil {
		t.Fatal(err)
	}
	check("hours finalised before migration 0018")
	if _, err := fin.Pass(ctx, now); err != nil {
		t.Fatal(err)
	}
	if got, want := typedHours(), fmt.Sprintf(`{"n":%d}`, int(sessionsWindow.Add(9*time.Hour).Sub(sessionsWindow.Truncate(24*time.Hour))/time.Hour)); got != want {
		t.Fatalf("hours with typed rows after a pass: %s, want %s (every finalised hour recomputed)", got, want)
	}
	check("hours recomputed with event types")

	// Hours finalised before migration 0019: no exact visitors, so every
	// bucket merges sketches; the next pass writes them.
	if err := st.Write(ctx, "TRUNCATE TABLE trackstream.visitors_exact", nil); err != nil {
		t.Fatal(err)
	}
	exactUntil = time.Time{}
	check("hours finalised before migration 0019")
	if res, err = fin.Pass(ctx, now); err != nil {
		t.Fatal(err)
	}
	exactUntil = res.Until
	check("hours recomputed with exact visitors")

	// Late events: a first event before some sessions' start (a bot one
	// for every other), and a second event for some one-event sessions.
	var late []sessEvent
	for i, s := range refSessions(stored) {
		switch {
		case i%5 == 0 && s.start.After(sessionsWindow.Add(time.Hour)):
			late = append(late, sessEvent{source: s.source, session: sessionOf(stored, s), at: s.start.Add(-40 * time.Minute), bot: i%10 == 0})
		case i%5 == 1 && len(s.ids) == 1:
			late = append(late, sessEvent{source: s.source, session: sessionOf(stored, s), at: s.start.Add(3 * time.Minute)})
		}
	}
	for i := range late {
		next++
		late[i].id, late[i].typ = fmt.Sprintf("se%d", next), sessTypes(next)
	}
	if err := write(ctx, st, "sess-diff-late", storeRows(late, 30*time.Hour)); err != nil {
		t.Fatal(err)
	}
	stored = append(stored, late...)
	if _, err := fin.Pass(ctx, now); err != nil {
		t.Fatal(err)
	}
	check("after late events")

	if res, err = fin.Pass(ctx, sessionsWindow.Add(50*time.Hour)); err != nil {
		t.Fatal(err)
	}
	exactUntil = res.Until
	check("after the re-check")

	// Two finalisers at once, then once more: nothing counts twice.
	other := newFinaliser(t, st)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, f := range []*finalise.Finaliser{fin, other} {
		wg.Go(func() { _, errs[i] = f.Pass(ctx, sessionsWindow.Add(51*time.Hour)) })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	check("after two concurrent passes")
	res, err = fin.Pass(ctx, sessionsWindow.Add(52*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if res.Corrections != 0 {
		t.Errorf("a pass over unchanged data corrected %d hours", res.Corrections)
	}
	check("after a repeated pass")
}

// startInMinute is the start of the first session in the hour from h
// that is not on a whole minute (zero: none).
func startInMinute(ss []*refSession, h time.Time) time.Time {
	var first time.Time
	for _, s := range ss {
		if !s.start.Before(h) && s.start.Before(h.Add(time.Hour)) && !s.start.Truncate(time.Minute).Equal(s.start) &&
			(first.IsZero() || s.start.Before(first)) {
			first = s.start
		}
	}
	return first
}

// sessionOf is the session id of a reference session.
func sessionOf(rows []sessEvent, s *refSession) string {
	for _, e := range rows {
		if e.source == s.source && e.at.Equal(s.start) {
			return e.session
		}
	}
	panic("no event starts the session")
}

func newFinaliser(t *testing.T, st finalise.Store) *finalise.Finaliser {
	t.Helper()
	f, err := finalise.New(st, finalise.Settings{Interval: time.Minute, Lateness: 2 * time.Hour}, quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestFinalisedLookupInRange checks, hour by hour over every hour a
// summary (its range and previous period) or a series asks about, which
// hours the session queries take as finalised and which as finalised
// with per-minute rows (finalisedFor), against the markers written here:
// the lookups read the markers from the previous period on only, and
// must answer as if they read all of history. Mutations tried: the
// lookups from f.from instead of the previous period's start (the
// previous period's finalised hours read as open, an hour finalised
// without minutes read as having them), and both lookups reading only
// the hours before f.to (an hour finalised without minutes after the
// range no longer held the range's hours back), the run's first hour
// ignored (hours before a gap in the markers, as the finaliser leaves
// under the events TTL, read as finalised).
func TestFinalisedLookupInRange(t *testing.T) {
	testkit.SkipShort(t)
	st, _ := chStore(t)
	ctx := context.Background()
	// The newest markers of the shared store (hours after them are open),
	// removed afterwards so that the other tests' hours keep their state.
	w := time.Date(2031, 5, 5, 0, 0, 0, 0, time.UTC)
	t.Cleanup(func() {
		for _, table := range []string{sessionsHourly, sessionsByType} {
			if err := st.Write(ctx, "DELETE FROM "+table+" WHERE hour >= {w:DateTime('UTC')}", map[string]string{"w": w.Add(-24 * time.Hour).Format(time.DateTime)}); err != nil {
				t.Error(err)
			}
		}
	})
	at := func(h int) string { return w.Add(time.Duration(h) * time.Hour).Format(time.DateTime) }
	// Hours w to w+5 finalised, w+6 on open: w and w+1 at their newest
	// version without minutes (before migration 0015; w+1 also has an
	// older version with them), the others with. Typed rows (migration
	// 0018) for w to w+3 only. Hours w-5 to w-3 finalised too, w-2 and
	// w-1 not (days the finaliser left alone under the events TTL): only
	// the run of finalised hours from w on reads as finalised.
	var hourly, typed []string
	for _, h := range []int{-5, -4, -3, 0, 1, 2, 3, 4, 5} {
		minute := at(h)
		if h < 2 {
			minute = "1970-01-01 00:00:00"
		}
		hourly = append(hourly, fmt.Sprintf("SELECT '', '%s', false, '%s', 0, 0, 0, 2", at(h), minute))
		if h < 4 && h >= 0 || h < -2 {
			typed = append(typed, fmt.Sprintf("SELECT '', '', '%s', false, '%s', 0, 0, 0, 2", at(h), at(h)))
		}
	}
	hourly = append(hourly, fmt.Sprintf("SELECT '', '%s', false, '%s', 0, 0, 0, 1", at(1), at(1)))
	if err := st.Write(ctx, "INSERT INTO "+sessionsHourly+" (source_id, hour, is_bot, minute, sessions, bounces, duration_ms, version) "+strings.Join(hourly, " UNION ALL "), nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Write(ctx, "INSERT INTO "+sessionsByType+" (event_type, source_id, hour, is_bot, minute, sessions, bounces, duration_ms, version) "+strings.Join(typed, " UNION ALL "), nil); err != nil {
		t.Fatal(err)
	}
	e := startWith(t, st, &clock{t: w.Add(48 * time.Hour)})
	hm := func(h, m int) time.Time { return w.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	for _, rg := range [][2]time.Time{
		{hm(4, 0), hm(8, 0)},   // previous period w..w+4
		{hm(8, 0), hm(12, 0)},  // previous period w+4..w+8: the last finalised hours
		{hm(2, 30), hm(3, 10)}, // previous period from w+1:50: an hour without minutes
		{hm(-2, 0), hm(1, 0)},  // previous period from w-5: hours finalised before the gap
		{hm(-3, 0), hm(-1, 0)}, // previous period from w-5: before the run only
		{hm(-9, 0), hm(-7, 0)}, // no marker in the range or its previous period
		{hm(20, 0), hm(30, 0)}, // nothing finalised
		{hm(5, 59), hm(6, 1)},  // over the end of the finalised hours
	} {
		for _, types := range [][]string{nil, {"signup"}} {
			f := filter{from: rg[0], to: rg[1], types: types}
			fin, err := e.srv.finalisedFor(httptest.NewRequest(http.MethodGet, "/", nil), f)
			if err != nil {
				t.Fatal(err)
			}
			// From the previous period's first hour (sessionStatsFrom).
			for h := rg[0].Add(-rg[1].Sub(rg[0])).Truncate(time.Hour); h.Before(rg[1]); h = h.Add(time.Hour) {
				i := int(h.Sub(w) / time.Hour)
				wantFinal, wantMinutes := i >= 0 && i < 6, i >= 2 && i < 6
				if types != nil {
					wantFinal, wantMinutes = i >= 0 && i < 4, i >= 0 && i < 4
				}
				if got := !h.Before(fin.from) && !h.Add(time.Hour).After(fin.until); got != wantFinal {
					t.Errorf("range %s..%s, types %v: hour %s finalised %v, want %v (lookup %+v)", rg[0], rg[1], types, h, got, wantFinal, fin)
				}
				if got := fin.byMinute(h); got != wantMinutes {
					t.Errorf("range %s..%s, types %v: hour %s with minutes %v, want %v (lookup %+v)", rg[0], rg[1], types, h, got, wantMinutes, fin)
				}
			}
		}
	}
}
