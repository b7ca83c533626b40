package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// The edge dataset: events around the hour and day boundaries of
// edgeDay (weeks after the main dataset, in sources of their own), with
// bots, several types, resends whose corrected time crossed an hour or a
// day boundary (dropped at write, as the processor does), and in source
// edge-old, oldDays later, copies stored the way versions before
// migration 0004 stored them (in the events table, counted once by the
// rollups, in the hour of the earliest copy).
var edgeDay = t0.Add(20 * 24 * time.Hour)

// oldDays is how far after edgeDay the edge-old events lie.
const oldDays = 10 * 24 * time.Hour

// edgeEvent is one event of the edge dataset, at edgeDay + at.
type edgeEvent struct {
	source, id, typ, visitor, session string
	at                                time.Duration
	bot                               bool
}

var edgeEvents = []edgeEvent{
	{"edge-a", "a01", "page", "p1", "sa", -13*time.Hour - 45*time.Minute, false},
	{"edge-a", "a02", "page", "p1", "sb", 22*time.Hour + 59*time.Minute + 59*time.Second + 999*time.Millisecond, false},
	{"edge-a", "a03", "page", "p1", "sb", 23 * time.Hour, false},
	{"edge-a", "a04", "signup", "p2", "sc", 23*time.Hour + 30*time.Minute, false},
	{"edge-a", "a05", "page", "p3", "sd", 23*time.Hour + 59*time.Minute + 59*time.Second + 999*time.Millisecond, false},
	{"edge-a", "a06", "page-view", "p3", "sd", 24 * time.Hour, false},
	{"edge-a", "a07", "click", "p4", "se", 24*time.Hour + 30*time.Second, true},
	{"edge-a", "a08", "page", "p5", "sf", 24*time.Hour + 29*time.Minute + 59*time.Second + 999*time.Millisecond, false},
	{"edge-a", "a09", "page", "p5", "sf", 24*time.Hour + 30*time.Minute, false},
	{"edge-a", "a10", "signup", "p6", "sf", 25 * time.Hour, false},
	{"edge-a", "a11", "page", "p7", "sg", 25*time.Hour + 59*time.Minute, false},
	{"edge-a", "a12", "page", "p8", "sh", 36*time.Hour + time.Millisecond, true},
	{"edge-a", "a13", "purchase", "p9", "si", 47*time.Hour + 59*time.Minute + 59*time.Second, false},
	{"edge-b", "b01", "page", "q1", "tb", 23*time.Hour + 45*time.Minute, false},
	{"edge-b", "b02", "signup", "q2", "tc", 24*time.Hour + 15*time.Minute, false},
	{"edge-b", "b03", "page", "q1", "tb", 24*time.Hour + 45*time.Minute, false},
	{"edge-b", "b04", "page", "q3", "td", 24*time.Hour + 50*time.Minute, true},
	{"edge-old", "o01", "page", "r1", "ua", oldDays + 23*time.Hour + 59*time.Minute + 59*time.Second + 900*time.Millisecond, false},
	{"edge-old", "o02", "page", "r2", "ub", oldDays + 24*time.Hour + 20*time.Minute, false},
	{"edge-old", "o03", "signup", "r1", "ua", oldDays + 24*time.Hour + 40*time.Minute, false},
}

// edgeResent are resends of edge events with another corrected time,
// across an hour or a day boundary: dropped at write.
var edgeResent = map[string]time.Duration{
	"a05": 24*time.Hour + 100*time.Millisecond,
	"a02": 23*time.Hour + 10*time.Millisecond,
	"b02": 23*time.Hour + 59*time.Minute,
}

// edgeOldCopies are copies of edge-old events stored before migration
// 0004 (the store then kept every copy): o01's corrected time crossed
// midnight, o02's is in the same hour.
var edgeOldCopies = map[string]time.Duration{
	"o01": oldDays + 24*time.Hour + 200*time.Millisecond,
	"o02": oldDays + 24*time.Hour + 25*time.Minute,
}

var edgeSeedOnce sync.Once

// edgeSeeded writes the edge dataset once per process into the shared
// store: the events and the resends the way the processor writes, then
// the old copies through a staging table attached as a partition, so they
// reach the events table without reaching the rollups' views.
func edgeSeeded(t *testing.T) {
	t.Helper()
	st, db := chStore(t)
	var err error
	edgeSeedOnce.Do(func() {
		ctx := context.Background()
		asRows := func(shift map[string]time.Duration, only bool) []seedEvent {
			var out []seedEvent
			for _, e := range edgeEvents {
				at, ok := shift[e.id]
				if only && !ok {
					continue
				}
				if !only {
					at = e.at
				}
				s := seedEvent{source: e.source, id: e.id, typ: e.typ, at: edgeDay.Sub(t0) + at, session: e.session, bot: e.bot, path: "/x"}
				if e.visitor[0] == 'q' {
					s.anon = e.visitor
				} else {
					s.profile = e.visitor
				}
				out = append(out, s)
			}
			return out
		}
		if err = write(ctx, st, "edge-dataset", rows(asRows(nil, false), 0)); err != nil {
			return
		}
		if err = write(ctx, st, "edge-resent", rows(asRows(edgeResent, true), time.Minute)); err != nil {
			return
		}
		for _, q := range []string{
			"CREATE TABLE trackstream.edge_staging AS trackstream.events",
			fmt.Sprintf("INSERT INTO trackstream.edge_staging (source_id, event_id, event_type, event_time, received_at, session_id, profile_id) "+
				"SELECT source_id, event_id, event_type, event_time + toIntervalMillisecond(arrayElement(%s, event_id)), received_at, session_id, profile_id "+
				"FROM trackstream.events WHERE source_id = 'edge-old' AND event_id IN ('o01', 'o02')", oldCopyShifts()),
			"ALTER TABLE trackstream.events ATTACH PARTITION " + edgeDay.Add(oldDays).Format("200601") + " FROM trackstream.edge_staging",
			"DROP TABLE trackstream.edge_staging",
		} {
			if err = db.Exec(ctx, q); err != nil {
				return
			}
		}
	})
	if err != nil {
		t.Fatalf("seed the edge dataset: %v", err)
	}
}

// oldCopyShifts is a ClickHouse map from an edge-old event id to how many
// milliseconds after it its old copy lies.
func oldCopyShifts() string {
	m := "map("
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range edgeOldCopies {
			if !yield(id) {
				return
			}
		}
	}) {
		var at time.Duration
		for _, e := range edgeEvents {
			if e.id == id {
				at = e.at
			}
		}
		m += fmt.Sprintf("'%s', %d, ", id, (edgeOldCopies[id] - at).Milliseconds())
	}
	return m[:len(m)-2] + ")"
}

// countsOf runs q on the shared store and returns its rows by key
// (period, t or value) as events/pageviews/visitors.
func countsOf(t *testing.T, q query) map[string][3]uint64 {
	t.Helper()
	st, _ := chStore(t)
	rs, err := st.QueryJSON(context.Background(), q.sql, q.params, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, q.sql)
	}
	out := map[string][3]uint64{}
	for _, r := range rs {
		var c struct {
			Period                      string
			T                           int64
			Events, Pageviews, Visitors uint64
		}
		if err := json.Unmarshal(r, &c); err != nil {
			t.Fatal(err)
		}
		if c.Events == 0 && c.Visitors == 0 {
			continue
		}
		out[c.Period+fmt.Sprint(c.T)] = [3]uint64{c.Events, c.Pageviews, c.Visitors}
	}
	return out
}

// edgeRanges are ranges over the edge dataset: partial hours at either
// end or one, whole days between, a range inside one hour.
var edgeRanges = [][2]time.Duration{
	{22*time.Hour + 30*time.Minute, 24*time.Hour + 45*time.Minute},
	{23*time.Hour + time.Millisecond, 25 * time.Hour},
	{23 * time.Hour, 24*time.Hour + 30*time.Minute},
	{22*time.Hour + 59*time.Minute + 59*time.Second + 999*time.Millisecond, 24*time.Hour + 30*time.Minute + time.Millisecond},
	{time.Minute, 48 * time.Hour},
	{-12*time.Hour + 30*time.Second, 36*time.Hour + time.Millisecond},
	{24*time.Hour + 10*time.Minute, 24*time.Hour + 50*time.Minute},
	// Whole minutes of the partial hour at the end from the minute rollup,
	// then half a second from event rows: edge-old's o02 (24:20) has a
	// copy at its start (24:25:00.000), counted by the minutes before it.
	{22*time.Hour + 59*time.Minute + 30*time.Second, 24*time.Hour + 25*time.Minute + 500*time.Millisecond},
	// Whole minutes at both ends, no sub-minute edge.
	{23*time.Hour + 29*time.Minute, 24*time.Hour + 31*time.Minute},
}

// edgeFilters are the filters the comparisons run under (the range is set
// per case).
var edgeFilters = []filter{
	{},
	{source: "edge-a"},
	{source: "edge-b", bots: true},
	{types: []string{"signup"}},
	{types: []string{"page", "signup"}, bots: true},
}

// Counts from the rollups plus the partial hours at the ends of the range
// from the minute rollup and event rows (summary and series by minute,
// hour, day and week, breakdown by type) equal the raw exact counts, visitors included (the dataset's
// sketches hold few visitors, where uniqCombined64 is exact), over ranges
// that start or end inside an hour, under source, type and bot filters,
// with resends across hour and day boundaries; and the summary over the
// copies stored before migration 0004 (edge-old; a series by hour or day
// counts such a copy pair in the bucket of its earliest copy, from the
// rollups, where raw rows count it in both buckets, whether or not the
// range is on whole hours). Mutations tried: the end edge starting an hour late
// (spansOf: h1 + 1h, with the rollup hours still ending at h1) and the
// end edge without its exclusion of the copies counted by the hour before
// it each made it fail; since the minute rollup (0013), so did the
// sub-minute end edge without that exclusion (edgeSQL skipping it after
// minute spans).
func TestEdgeHoursMatchRaw(t *testing.T) {
	edgeSeeded(t)
	// The copy horizons the counts run under: unknown (every event counted
	// by distinct id), none (no copies stored: rows counted) for the
	// dataset without old copies, and one after the old copies' receive
	// times for edge-old.
	noCopies, afterOld := time.Time{}, edgeDay.Add(oldDays+3*24*time.Hour)
	for _, r := range edgeRanges {
		for _, f := range []filter{{}, {source: "edge-old"}, {uniqueAfter: &afterOld}, {source: "edge-old", uniqueAfter: &afterOld}} {
			f.from, f.to = edgeDay.Add(oldDays+r[0]), edgeDay.Add(oldDays+r[1])
			if got, want := countsOf(t, summaryCountsSQL(f)), countsOf(t, rawSummaryCountsSQL(f)); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("summary %s..%s %+v: rollup and edges %v, raw %v", f.from.Format(time.RFC3339Nano), f.to.Format(time.RFC3339Nano), f, got, want)
			}
		}
		for i, f := range append(edgeFilters, edgeFilters...) {
			if i >= len(edgeFilters) {
				f.uniqueAfter = &noCopies
			}
			f.from, f.to = edgeDay.Add(r[0]), edgeDay.Add(r[1])
			name := fmt.Sprintf("%s..%s %+v", f.from.Format(time.RFC3339Nano), f.to.Format(time.RFC3339Nano), f)
			if got, want := countsOf(t, summaryCountsSQL(f)), countsOf(t, rawSummaryCountsSQL(f)); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("summary %s: rollup and edges %v, raw %v", name, got, want)
			}
			for _, iv := range []interval{minute, hour, day, week} {
				if got, want := countsOf(t, seriesCountsSQL(f, iv)), countsOf(t, rawSeriesCountsSQL(f, iv)); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("series by %s %s: rollup and edges %v, raw %v", iv, name, got, want)
				}
			}
			typeQ, err := breakdownSQL(f, "type", "", 10, nil)
			if err != nil {
				t.Fatal(err)
			}
			// The raw breakdown: an event-level filter every event passes.
			g := f
			g.profile = "-"
			rawQ, _ := breakdownSQL(g, "type", "", 10, nil)
			rawQ.sql = replaceOnce(t, rawQ.sql, " AND profile_id = ", " AND profile_id != ")
			if got, want := breakdownOf(t, typeQ), breakdownOf(t, rawQ); got != want {
				t.Errorf("breakdown by type %s: rollup and edges %s, raw %s", name, got, want)
			}
		}
	}
}

// replaceOnce replaces the one occurrence of old in s.
func replaceOnce(t *testing.T, s, old, repl string) string {
	t.Helper()
	i := -1
	for j := 0; j+len(old) <= len(s); j++ {
		if s[j:j+len(old)] == old {
			if i >= 0 {
				t.Fatalf("%q twice in %s", old, s)
			}
			i = j
		}
	}
	if i < 0 {
		t.Fatalf("%q not in %s", old, s)
	}
	return s[:i] + repl + s[i+len(old):]
}

// breakdownOf runs a breakdown query and renders its rows.
func breakdownOf(t *testing.T, q query) string {
	t.Helper()
	st, _ := chStore(t)
	rs, err := st.QueryJSON(context.Background(), q.sql, q.params, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, q.sql)
	}
	out := ""
	for _, r := range rs {
		var row breakdownRow
		if err := json.Unmarshal(r, &row); err != nil {
			t.Fatal(err)
		}
		out += fmt.Sprintf("%s:%d/%d/%d ", row.Value, row.Events, row.Visitors, row.Total)
	}
	return out
}

// The session figures of ranges that start or end inside an hour, from
// the session rollup (the partial hours through each session's exact
// first event time), equal those from event rows. Mutation tried:
// sessionParts reading the first partial hour's sessions an hour too far
// (overlapping the rest of the range) made it fail.
func TestEdgeSessionsMatchRaw(t *testing.T) {
	edgeSeeded(t)
	for _, r := range edgeRanges {
		for _, f := range edgeFilters {
			if len(f.types) > 0 {
				continue
			}
			f.from, f.to = edgeDay.Add(r[0]), edgeDay.Add(r[1])
			name := fmt.Sprintf("%s..%s %+v", f.from.Format(time.RFC3339Nano), f.to.Format(time.RFC3339Nano), f)
			if got, want := sessionsOf(t, sessionStatsFrom(f, finalised{}, true)), sessionsOf(t, sessionStatsFrom(f, finalised{}, false)); got != want {
				t.Errorf("summary sessions %s: rollup %s, raw %s", name, got, want)
			}
			for _, iv := range []interval{minute, hour, day} {
				if got, want := sessionsOf(t, seriesSessionsFrom(f, iv, finalised{}, true)), sessionsOf(t, seriesSessionsFrom(f, iv, finalised{}, false)); got != want {
					t.Errorf("series sessions by %s %s: rollup %s, raw %s", iv, name, got, want)
				}
			}
		}
	}
}

// sessionsOf runs a session query and renders its rows.
func sessionsOf(t *testing.T, q query) string {
	t.Helper()
	st, _ := chStore(t)
	rs, err := st.QueryJSON(context.Background(), q.sql, q.params, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, q.sql)
	}
	var out []string
	for _, r := range rs {
		var row sessionsRow
		if err := json.Unmarshal(r, &row); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s%d:%d/%d/%.3f", row.Period, row.T, row.Sessions, row.Bounces, row.AvgDuration))
	}
	slices.Sort(out)
	return fmt.Sprint(out)
}

// An answer over a range not on whole minutes says it came from the
// rollups and that it read event rows (the parts of a minute at its
// ends); one on whole minutes only (the partial hours from the minute
// rollup) read no event rows, and neither does a series by minute over
// whole minutes. Mutations tried: the summary's scanned taken from the
// session query only, and the series by minute left on event rows
// (seriesRollup false for minute), each made it fail.
func TestEdgeAnswerFlags(t *testing.T) {
	e := seeded(t)
	edgeSeeded(t)
	tok := e.login("admin", strong)
	qs := func(from, to time.Duration) string {
		return "from=" + edgeDay.Add(from).Format(time.RFC3339Nano) + "&to=" + edgeDay.Add(to).Format(time.RFC3339Nano)
	}
	for path, want := range map[string][3]bool{ // rollup, scanned, visitors_estimated
		"/api/v1/stats/summary?" + qs(time.Minute, 48*time.Hour):                                {true, false, true},
		"/api/v1/stats/summary?" + qs(30*time.Second, 48*time.Hour):                             {true, true, true},
		"/api/v1/stats/series?interval=minute&" + qs(22*time.Hour, 26*time.Hour):                {true, false, true},
		"/api/v1/stats/series?interval=minute&" + qs(22*time.Hour+time.Second, 23*time.Hour):    {true, true, true},
		"/api/v1/stats/series?interval=minute&type=page&" + qs(22*time.Hour, 23*time.Hour):      {false, true, false},
		"/api/v1/stats/summary?" + qs(0, 48*time.Hour):                                          {true, false, true},
		"/api/v1/stats/series?interval=hour&" + qs(time.Minute, 48*time.Hour):                   {true, false, true},
		"/api/v1/stats/series?interval=day&" + qs(0, 48*time.Hour):                              {true, false, true},
		"/api/v1/stats/series?interval=hour&type=signup&" + qs(0, 48*time.Hour):                 {true, true, true},
		"/api/v1/stats/summary?" + qs(24*time.Hour+10*time.Minute, 24*time.Hour+50*time.Minute): {false, true, false},
	} {
		var got struct {
			Rollup, Scanned   bool
			VisitorsEstimated *bool `json:"visitors_estimated"`
			Metrics           struct {
				VisitorsEstimated *bool `json:"visitors_estimated"`
			}
		}
		e.get(tok, path, http.StatusOK, &got)
		est := got.VisitorsEstimated
		if est == nil {
			est = got.Metrics.VisitorsEstimated
		}
		if est == nil {
			t.Errorf("%s: no visitors_estimated", path)
		} else if [3]bool{got.Rollup, got.Scanned, *est} != want {
			t.Errorf("%s: rollup %v, scanned %v, visitors_estimated %v; want %v", path, got.Rollup, got.Scanned, *est, want)
		}
	}
}
