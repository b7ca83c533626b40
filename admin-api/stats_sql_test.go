package adminapi

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

var placeholder = regexp.MustCompile(`\{p[0-9]+:[A-Za-z0-9(), ']+\}`)

// hostileFilter carries SQL in every value a caller controls.
func hostileFilter(from, to time.Time) filter {
	const h = "x' OR 1=1 -- UNION SELECT"
	return filter{from: from, to: to, source: h, types: []string{h + "1", h + "2"}, profile: h + "p", session: h + "s",
		props: []propFilter{{key: "a.b", value: h + "v"}}}
}

// TestBuildersKeepValuesOutOfSQL builds every statement with hostile
// values and checks none reaches the SQL text: all travel as parameters.
func TestBuildersKeepValuesOutOfSQL(t *testing.T) {
	from := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	f := hostileFilter(from, from.Add(24*time.Hour))
	bd, err := breakdownSQL(f, "", "plan' --", 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]query{
		"summary":         summaryCountsSQL(f),
		"sessions":        sessionStatsSQL(f, finalised{}),
		"series":          seriesCountsSQL(f, hour),
		"seriesS":         seriesSessionsSQL(f, day, finalised{}),
		"bd":              bd,
		"search":          searchSQL(f, &eventCursor{t: from, source: "s' --", id: "i' --"}, 10),
		"newest":          newestSQL(f, 10),
		"session":         sessionEventsSQL(f, 10),
		"funnel":          funnelSQL(f, []funnelStep{{"a' --", "/p' --"}, {"b", ""}}, time.Hour),
		"realtime":        realtimeSQL(f, false),
		"realtime rollup": realtimeSQL(f, true),
		// Only a source filter: the session rollup.
		"sessionsRollup": sessionStatsSQL(filter{from: f.from, to: f.to, source: f.source}, finalised{until: f.from.Add(5 * time.Hour)}),
		"seriesSRollup":  seriesSessionsSQL(filter{from: f.from, to: f.to, source: f.source}, hour, finalised{until: f.from.Add(5 * time.Hour)}),
		"seriesSMinutes": seriesSessionsSQL(filter{from: f.from.Add(90 * time.Second), to: f.to, source: f.source}, minute, finalised{until: f.from.Add(5 * time.Hour)}),
		// Source and types only: the count rollups.
		"summaryRollup": summaryCountsSQL(filter{from: f.from.Add(time.Hour), to: f.to.Add(48 * time.Hour), source: f.source, types: f.types}),
		"seriesRollup":  seriesCountsSQL(filter{from: f.from, to: f.to, source: f.source, types: f.types}, week),
		"dimsRollup":    mustBreakdown(t, filter{from: f.from, to: f.to, source: f.source}, "page", 10),
		"typeRollup":    mustBreakdown(t, filter{from: f.from, to: f.to, source: f.source, types: f.types}, "type", 10),
		// Source only, a finalised day and raw hours: the pages rollup.
		"pagesRollup": sessionPagesSQL(newBuilder(), filter{from: f.from.Add(-time.Hour), to: f.to.Add(time.Hour), source: f.source}, "argMinIf", 10,
			map[time.Time]bool{f.from: true}),
	}
	for name, q := range cases {
		if strings.Contains(q.sql, "'--") || strings.Contains(q.sql, "x'") || strings.Contains(q.sql, "' --") || strings.Contains(q.sql, "UNION SELECT") {
			t.Errorf("%s: a value reached the SQL text: %s", name, q.sql)
		}
		for p := range q.params {
			if !strings.Contains(q.sql, "{"+p+":") {
				t.Errorf("%s: parameter %s is not used: %s", name, p, q.sql)
			}
		}
		distinct := map[string]bool{}
		for _, m := range placeholder.FindAllString(q.sql, -1) {
			distinct[m] = true
		}
		if strings.Count(q.sql, "{") != len(placeholder.FindAllString(q.sql, -1)) || len(distinct) != len(q.params) {
			t.Errorf("%s: %d distinct placeholders, %d parameters, %d braces", name, len(distinct), len(q.params), strings.Count(q.sql, "{"))
		}
	}
}

func mustBreakdown(t *testing.T, f filter, dim string, limit int) query {
	t.Helper()
	q, err := breakdownSQL(f, dim, "", limit, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// readsRollup reports whether q reads a count rollup.
func readsRollup(q query) bool {
	for _, table := range []string{countsHourly, countsDaily, visitorsDaily, visitorsHourly, dimsDaily, countsMinutely} {
		if strings.Contains(q.sql, table+" ") {
			return true
		}
	}
	return false
}

// TestRollupChoice pins which queries read the count rollups.
func TestRollupChoice(t *testing.T) {
	from := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	aligned := filter{from: from, to: from.Add(24 * time.Hour), source: "s", types: []string{"page"}}
	unaligned := filter{from: from.Add(time.Minute), to: from.Add(24 * time.Hour)}
	inOneHour := filter{from: from.Add(time.Minute), to: from.Add(59 * time.Minute)}
	withProfile := aligned
	withProfile.profile = "p"
	typeBD, _ := breakdownSQL(aligned, "type", "", 5, nil)
	pageBD, _ := breakdownSQL(aligned, "page", "", 5, nil)
	untyped := aligned
	untyped.types = nil
	pageDays, _ := breakdownSQL(untyped, "page", "", 5, nil)
	hours := untyped
	hours.to = hours.to.Add(time.Hour)
	pageHours, _ := breakdownSQL(hours, "page", "", 5, nil)
	cases := []struct {
		name   string
		q      query
		rollup bool
	}{
		{"summary, aligned", summaryCountsSQL(aligned), true},
		{"summary, unaligned", summaryCountsSQL(unaligned), true},
		{"summary, within an hour", summaryCountsSQL(inOneHour), false},
		{"series, unaligned", seriesCountsSQL(unaligned, hour), true},
		{"series, within an hour", seriesCountsSQL(inOneHour, day), false},
		{"summary, profile filter", summaryCountsSQL(withProfile), false},
		{"session stats", sessionStatsSQL(aligned, finalised{}), false},
		{"series by hour", seriesCountsSQL(aligned, hour), true},
		{"series by week", seriesCountsSQL(aligned, week), true},
		{"series by minute, type filter", seriesCountsSQL(aligned, minute), false},
		{"series by minute", seriesCountsSQL(untyped, minute), true},
		{"series by minute, within a minute", seriesCountsSQL(filter{from: from.Add(time.Second), to: from.Add(time.Minute)}, minute), false},
		{"breakdown by type", typeBD, true},
		{"breakdown by page, event type", pageBD, false},
		{"breakdown by page, whole days", pageDays, true},
		{"breakdown by page, hours", pageHours, false},
		{"search", searchSQL(aligned, nil, 5), false},
		{"newest rows", newestSQL(aligned, 5), false},
		{"funnel", funnelSQL(aligned, []funnelStep{{"a", ""}, {"b", ""}}, time.Hour), false},
	}
	for _, c := range cases {
		if got := readsRollup(c.q); got != c.rollup {
			t.Errorf("%s: reads the rollup %v, want %v: %s", c.name, got, c.rollup, c.q.sql)
		}
	}
}

// TestSessionRollupChoice pins which session figures read the session
// rollup (no event type, no event-level filter) and which the finalised
// figures per event type (one type, no event-level filter).
func TestSessionRollupChoice(t *testing.T) {
	from := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	aligned := filter{from: from, to: from.Add(24 * time.Hour), source: "s"}
	typed := aligned
	typed.types = []string{"page"}
	unaligned := aligned
	unaligned.to = unaligned.to.Add(-time.Second)
	withProp := aligned
	withProp.props = []propFilter{{"plan", "pro"}}
	cases := []struct {
		name   string
		q      query
		rollup bool
	}{
		{"summary, aligned", sessionStatsSQL(aligned, finalised{}), true},
		{"summary, event type", sessionStatsSQL(typed, finalised{}), false},
		{"summary, unaligned", sessionStatsSQL(unaligned, finalised{}), true},
		{"summary, property filter", sessionStatsSQL(withProp, finalised{}), false},
		{"series by day", seriesSessionsSQL(aligned, day, finalised{}), true},
		{"series by minute", seriesSessionsSQL(aligned, minute, finalised{}), true},
		{"series, event type", seriesSessionsSQL(typed, hour, finalised{}), false},
	}
	for _, c := range cases {
		if got := strings.Contains(c.q.sql, sessionsTable); got != c.rollup {
			t.Errorf("%s: reads the session rollup %v, want %v: %s", c.name, got, c.rollup, c.q.sql)
		}
	}
	// One event type reads the finalised hours of sessions_by_type, two
	// or an event-level filter with it only events.
	fin := finalised{until: aligned.to}
	twoTypes, typedProp := typed, withProp
	twoTypes.types = []string{"page", "signup"}
	typedProp.types = typed.types
	for _, c := range []struct {
		name   string
		q      query
		byType bool
	}{
		{"summary, event type", sessionStatsSQL(typed, fin), true},
		{"series by minute, event type", seriesSessionsSQL(typed, minute, fin), true},
		{"summary, two event types", sessionStatsSQL(twoTypes, fin), false},
		{"summary, event type and property", sessionStatsSQL(typedProp, fin), false},
		{"summary, aligned", sessionStatsSQL(aligned, fin), false},
	} {
		if got := strings.Contains(c.q.sql, sessionsByType); got != c.byType {
			t.Errorf("%s: reads sessions_by_type %v, want %v: %s", c.name, got, c.byType, c.q.sql)
		}
	}
}

func TestParamsRefuse(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	cases := []struct{ query, code string }{
		{"from=2026-03-02&to=2026-03-01", "invalid_parameter"},
		{"from=2025-01-01&to=2026-03-01", "invalid_parameter"},
		{"from=yesterday", "invalid_parameter"},
		{"source=a&source=b", "invalid_parameter"},
		{"bots=maybe", "invalid_parameter"},
		{"sauce=s1", "unknown_parameter"},
		{"source=" + strings.Repeat("s", 129), "invalid_parameter"},
		{"filter.nope=x", "unknown_dimension"},
		{"filter.browser=a&filter.browser=b", "invalid_parameter"},
		{"filter.page=" + strings.Repeat("p", maxValueLen+1), "invalid_parameter"},
	}
	for _, c := range cases {
		q, _ := url.ParseQuery(c.query)
		p, err := newParams(q, "", filterParams...)
		if err == nil {
			_, err = p.filter(now)
		}
		ae, ok := err.(*apiError)
		if !ok || ae.Code != c.code {
			t.Errorf("%s: %v, want %s", c.query, err, c.code)
		}
	}
	q, _ := url.ParseQuery("")
	p, _ := newParams(q, "", filterParams...)
	f, err := p.filter(now)
	if err != nil || !f.to.Equal(now) || !f.from.Equal(now.Add(-defaultRange)) || f.bots {
		t.Errorf("defaults: %+v %v", f, err)
	}
}

func TestIntervalBuckets(t *testing.T) {
	wed := time.Date(2026, 3, 4, 13, 30, 0, 0, time.UTC)
	cases := []struct {
		iv    interval
		from  time.Time
		to    time.Time
		first time.Time
		n     int
	}{
		{minute, wed, wed.Add(90 * time.Second), wed, 2},
		{hour, wed, wed.Add(2 * time.Hour), wed.Truncate(time.Hour), 3},
		{day, wed, wed.Add(24 * time.Hour), time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), 2},
		{week, wed, wed.Add(7 * 24 * time.Hour), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), 2},
	}
	for _, c := range cases {
		b, err := c.iv.buckets(c.from, c.to)
		if err != nil || len(b) != c.n || !b[0].Equal(c.first) {
			t.Errorf("%s: %v %v, want %d starting %v", c.iv, b, err, c.n, c.first)
		}
	}
	if _, err := minute.buckets(wed, wed.Add(30*24*time.Hour)); err == nil {
		t.Error("a month of minutes was accepted")
	}
}

// FuzzEventCursor: any cursor string either parses into one that
// round-trips or is refused; it never panics.
func FuzzEventCursor(f *testing.F) {
	f.Add(eventCursor{t: time.UnixMilli(1772409600000).UTC(), source: "s1", id: "e'1"}.String())
	f.Add("1.' OR 1=1.x")
	f.Add("..")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseEventCursor(s)
		if err != nil {
			return
		}
		back, err := parseEventCursor(c.String())
		if err != nil || back != c {
			t.Fatalf("%q -> %+v -> %q -> %+v %v", s, c, c.String(), back, err)
		}
	})
}

// FuzzStatsParams: any query string yields a filter within bounds or a
// 400, never a panic, and never lets a property key outside the pattern
// through.
func FuzzStatsParams(f *testing.F) {
	f.Add("from=2026-03-01&to=2026-03-02&source=s1&prop.plan=pro")
	f.Add("prop.a%27b=1")
	f.Add("type=&bots=true")
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, err := newParams(q, "prop.", append([]string{"profile", "session"}, filterParams...)...)
		if err != nil {
			return
		}
		fl, err := p.filter(now)
		if err != nil {
			return
		}
		if err := p.eventFilters(&fl); err != nil {
			return
		}
		if !fl.from.Before(fl.to) || fl.to.Sub(fl.from) > maxRange || len(fl.props) > maxPropFilters {
			t.Fatalf("out of bounds: %+v", fl)
		}
		for _, pf := range fl.props {
			if !propKeyPattern.MatchString(pf.key) {
				t.Fatalf("key %q let through", pf.key)
			}
		}
	})
}

// TestOneStatementPerRollupTable checks that a range not on whole hours,
// with its previous period, reads each rollup table in one statement:
// statements have a fixed cost larger than their rows (stats_sql.go's
// rollupSQL, sessions_sql.go's finalisedSessions).
func TestOneStatementPerRollupTable(t *testing.T) {
	from := time.Date(2026, 3, 9, 0, 1, 0, 0, time.UTC)
	f := filter{from: from, to: from.Add(7*24*time.Hour - time.Minute), source: "a"}
	fin := finalised{until: f.to.Add(time.Hour)}
	counts, sessions := summaryCountsSQL(f).sql, sessionStatsSQL(f, fin).sql
	for _, c := range []struct {
		sql, from string
		want      int
	}{
		{counts, countsMinutely + " ", 2}, // counts and visitors
		{counts, countsHourly + " ", 1},
		{counts, countsDaily + " ", 1},
		{counts, visitorsHourly + " ", 1},
		{counts, visitorsDaily + " ", 1},
		{sessions, sessionsHourly + " FINAL", 1},
		{sessions, sessionsTable, 0},
	} {
		if n := strings.Count(c.sql, "FROM "+c.from); n != c.want {
			t.Errorf("%d statements read %s, want %d: %s", n, c.from, c.want, c.sql)
		}
	}
}

// TestExactVisitorsLeaveSketchesOut checks which answers read
// visitors_exact and that they leave the finalised buckets' sketches out
// of the merge (what makes a series by hour cheap at 100M events: a full
// sketch per hour is ~25 KB to read and merge), and that the others do
// not read it.
func TestExactVisitorsLeaveSketchesOut(t *testing.T) {
	d0 := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
	span := filter{from: d0, to: d0.Add(7 * 24 * time.Hour)}
	typed := span
	typed.types = []string{"signup"}
	twoTypes := span
	twoTypes.types = []string{"signup", "page"}
	oneDay := filter{from: d0, to: d0.Add(24 * time.Hour), source: "a"}
	unaligned := filter{from: d0.Add(time.Minute), to: d0.Add(24*time.Hour + time.Minute)}
	for _, c := range []struct {
		name, sql, exclusion string
	}{
		{"series by hour", seriesCountsSQL(span, hour).sql, "hour NOT IN (SELECT start FROM " + visitorsExact},
		{"series by hour, one type", seriesCountsSQL(typed, hour).sql, "hour NOT IN (SELECT start FROM " + visitorsExact},
		{"series by day", seriesCountsSQL(span, day).sql, "day NOT IN (SELECT toDate(start) FROM " + visitorsExact},
		{"summary of one day", summaryCountsSQL(oneDay).sql, "day NOT IN (SELECT toDate(start) FROM " + visitorsExact},
		{"series by week", seriesCountsSQL(span, week).sql, ""},
		{"series by hour, two types", seriesCountsSQL(twoTypes, hour).sql, ""},
		{"summary of a day off the hour", summaryCountsSQL(unaligned).sql, ""},
	} {
		reads := strings.Contains(c.sql, visitorsExact+" FINAL")
		if want := c.exclusion != ""; reads != want || want && !strings.Contains(c.sql, c.exclusion) {
			t.Errorf("%s: reads visitors_exact %v, want %v (with %q): %s", c.name, reads, want, c.exclusion, c.sql)
		}
	}
}
