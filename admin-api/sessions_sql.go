package adminapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/trackstream/trackstream/schemas"
)

// Session figures: sessions, bounces and duration.
//
// Definition (the same in every path, in the finaliser and in the tests'
// reference): a session is the events of one session id of one source
// within one UTC day, keyed (source_id, session_id, day). Tracker session
// ids are made per source (two sites may well hand out the same id), and a
// source's sessions then add up across sources exactly. A session that
// runs over midnight UTC counts again on the next day, as Google Analytics
// counted them: that bounds what any computation of a session must read to
// one day of rows. A session belongs to the range (or bucket) where it
// started, at its first event; its bot flag is that event's (a tie at the
// first millisecond counts as human); it bounced when it has exactly one
// distinct event; its duration runs from its first to its last event of
// the day, also past the end of the range. With event-level filters
// (types, profile, session, property, dimension) a session is made of its
// matching events only.
//
// Paths: whole hours the finaliser has closed come from sessions_hourly
// (newest version of each hour), and so do the whole minutes of finalised
// hours for a series by minute and at the ends of a range not on whole
// hours (its per-minute rows, migration 0015); sessions started after the
// finalised hours (the open tail), in the parts of a minute at a range's
// ends, or in hours finalised without minutes (before 0015, until the
// finaliser recomputes them) come from the per-session rollup
// events_sessions (which keeps each session's exact first event time).
// One event type without other event-level filters takes the same paths
// over sessions_by_type (migration 0018: the finalised figures per type,
// every hour with minutes), with trackstream.events in place of
// events_sessions for the open tail, the parts of a minute and the hours
// finalised before 0018 (until the finaliser recomputes them); several
// event types and event-level filters read trackstream.events.

const (
	// sessionsTable is the per-session rollup (migration 0003).
	sessionsTable = schemas.Database + ".events_sessions"
	// sessionsHourly is the finalised session figures (migration 0006).
	sessionsHourly = schemas.Database + ".sessions_hourly"
	// sessionsByType is the finalised session figures per event type
	// (migration 0018).
	sessionsByType = schemas.Database + ".sessions_by_type"
	// sessionPagesDaily is the finalised entry and exit pages of whole days
	// (migrations 0009 and 0014: sorted by kind and path, then day).
	sessionPagesDaily = schemas.Database + ".session_pages"
)

// sessionRollup reports whether the session rollups can answer f's
// session figures: no event type (a session's events of some types are
// not in them) and no event-level filter.
func (f filter) sessionRollup() bool { return !f.eventLevel() && len(f.types) == 0 }

// sessionByType reports whether sessions_by_type can answer f's session
// figures: one event type and no event-level filter.
func (f filter) sessionByType() bool { return !f.eventLevel() && len(f.types) == 1 }

// finalisedRollup reports whether f's session figures have finalised
// rows, in sessions_hourly or sessions_by_type.
func (f filter) finalisedRollup() bool { return f.sessionRollup() || f.sessionByType() }

// dayStart is the start of t's UTC day.
func dayStart(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// dayEnd is the end of the UTC day of the instant just before t: the
// sessions started before t are read up to there.
func dayEnd(t time.Time) time.Time { return dayStart(t.Add(-time.Nanosecond)).Add(24 * time.Hour) }

// sessionsHaving is the HAVING of a per-session query: started in
// [lo, hi), and human unless f includes bots.
func (b *builder) sessionsHaving(f filter, lo, hi time.Time) string {
	h := " HAVING start >= " + b.time(lo) + " AND start < " + b.time(hi)
	if !f.bots {
		h += " AND NOT bot"
	}
	return h
}

// sessionsFromRollup lists, one row each (source_id, start, bot, single,
// dur in ms), the sessions started in [lo, hi) under f (f must pass
// sessionRollup), from events_sessions: the days of the range are read
// whole, so a session's first event and its last are seen.
func (b *builder) sessionsFromRollup(f filter, lo, hi time.Time) string {
	c := []string{"hour >= " + b.hour(dayStart(lo)), "hour < " + b.hour(dayEnd(hi))}
	if f.source != "" {
		c = append(c, "source_id = "+b.str(f.source))
	}
	if !dayStart(lo).Equal(lo) {
		// Only a session with a row at or after lo can start there: the
		// open tail groups those sessions, not the whole day's.
		in := []string{"hour >= " + b.hour(lo.Truncate(time.Hour)), "hour < " + b.hour(hi)}
		if f.source != "" {
			in = append(in, "source_id = "+b.str(f.source))
		}
		c = append(c, "(source_id, session_id) IN (SELECT source_id, session_id FROM "+sessionsTable+" WHERE "+strings.Join(in, " AND ")+")")
	}
	return "SELECT source_id, min(first) AS start, argMin(is_bot, (first, is_bot)) AS bot, " +
		"min(min_event) = max(max_event) AS single, dateDiff('millisecond', min(first), max(last)) AS dur " +
		"FROM " + sessionsTable + " WHERE " + strings.Join(c, " AND ") +
		" GROUP BY source_id, session_id, toDate(hour)" + b.sessionsHaving(f, lo, hi)
}

// sessionsFromEvents is sessionsFromRollup over the events matching f
// (every filter), for what the rollups cannot answer.
func (b *builder) sessionsFromEvents(f filter, lo, hi time.Time) string {
	g := f
	g.from, g.to, g.bots = dayStart(lo), dayEnd(hi), true
	return "SELECT source_id, min(event_time) AS start, argMin(is_bot, (event_time, is_bot)) AS bot, " +
		"min(event_id) = max(event_id) AS single, dateDiff('millisecond', min(event_time), max(event_time)) AS dur " +
		"FROM " + eventsTable + " WHERE " + b.where(g, g.from) + " AND session_id != ''" +
		" GROUP BY source_id, session_id, toDate(event_time)" + b.sessionsHaving(f, lo, hi)
}

// finalisedSessions selects (k, n, nb, ms) (key, sessions, bounces,
// duration in ms) from the sessions_hourly rows of the pieces under f (f
// must pass finalisedRollup; with one event type the sessions_by_type rows
// of that type), each hour at its newest version (every pass
// of the finaliser writes all of an hour's rows, and a marker row, under
// one version; FINAL keeps one row per key should two passes ever share
// a version). One statement for all the pieces of a query: each
// statement's FINAL and newest-version lookup cost more than its rows
// (measured at 10M events: the unaligned 7-day summary's five statements
// took 23 ms, one 8 ms).
func (b *builder) finalisedSessions(f filter, pieces []finalPiece) string {
	lo, hi := pieces[0].lo.Truncate(time.Hour), ceilHour(pieces[0].hi)
	var g spanGroup
	for _, p := range pieces {
		lo, hi = minTime(lo, p.lo.Truncate(time.Hour)), maxTime(hi, ceilHour(p.hi))
		g.add(p.col+" >= "+b.hour(p.lo)+" AND "+p.col+" < "+b.hour(p.hi), p.key)
	}
	span := "hour >= " + b.hour(lo) + " AND hour < " + b.hour(hi)
	table, markers := sessionsHourly, span
	c := []string{span}
	if len(f.types) == 1 {
		// The markers (event_type and source_id '') lead the key.
		table, markers = sessionsByType, "event_type = '' AND source_id = '' AND "+span
		c = append(c, "event_type = "+b.str(f.types[0]))
	}
	if f.source != "" {
		c = append(c, "source_id = "+b.str(f.source))
	}
	if !f.bots {
		c = append(c, "NOT is_bot")
	}
	c = append(c, "(hour, version) IN (SELECT hour, max(version) FROM "+table+" WHERE "+markers+" GROUP BY hour)", g.where())
	return "SELECT " + g.key() + " AS k, sessions AS n, bounces AS nb, duration_ms AS ms FROM " + table + " FINAL WHERE " + strings.Join(c, " AND ")
}

// finalPiece is a part of a range whose sessions come from finalised
// rows: those of the hours (col hour) or minutes (col minute, of hours
// finalised with minutes) in [lo, hi), keyed by key.
type finalPiece struct {
	col    string
	lo, hi time.Time
	key    string
}

// finalised is where the finaliser's hours are: every hour from from
// (zero: from the first) to until is finalised (until zero: none), and
// those from minutes on have per-minute rows (the hours before it were
// finalised before migration 0015; zero: every finalised hour has them).
// The hours before from are read as if never finalised: the finaliser
// leaves alone the days whose events the events TTL may have dropped
// (internal/finalise), so hours it never finalised can lie before
// finalised ones.
type finalised struct{ from, until, minutes time.Time }

// byMinute reports whether the hour starting at h is finalised with
// per-minute rows.
func (fin finalised) byMinute(h time.Time) bool {
	return !h.Before(fin.from) && !h.Before(fin.minutes) && !h.Add(time.Hour).After(fin.until)
}

// sessionParts are the pieces of a session query over the sessions
// started in [lo, hi): rows of (k, n, nb, ms) (key, sessions, bounces,
// duration in ms) from the sessions started in a partial first hour,
// from the open tail after the finalised hours and from raw events, and
// in *final the parts that finalised rows answer: the finalised whole
// hours (by minute when byMinute) and, in a partial hour at either end
// that is finalised with minutes, its whole minutes (the parts of a
// minute come from the sessions). key writes the key of a finalised hour
// (column hour), minute (column minute) or of a session (column start).
// With useRollup, f must pass finalisedRollup; with one event type the
// sessions come from events, not events_sessions.
func sessionParts(b *builder, f filter, lo, hi time.Time, fin finalised, useRollup, byMinute bool, key func(col string) string, final *[]finalPiece) []string {
	perSession := func(sessions string) string {
		return "SELECT " + key("start") + " AS k, toUInt64(1) AS n, toUInt64(single) AS nb, toUInt64(dur) AS ms FROM (" + sessions + ")"
	}
	if !useRollup {
		return []string{perSession(b.sessionsFromEvents(f, lo, hi))}
	}
	sessions := b.sessionsFromRollup
	if len(f.types) > 0 {
		sessions = b.sessionsFromEvents
	}
	var parts []string
	finalRows := func(col string, lo, hi time.Time) {
		*final = append(*final, finalPiece{col: col, lo: lo, hi: hi, key: key(col)})
	}
	// partialHour adds [lo, hi) within one hour.
	partialHour := func(lo, hi time.Time) {
		m0, m1 := ceilMinute(lo), hi.Truncate(time.Minute)
		if !fin.byMinute(lo.Truncate(time.Hour)) || !m0.Before(m1) {
			parts = append(parts, perSession(sessions(f, lo, hi)))
			return
		}
		if lo.Before(m0) {
			parts = append(parts, perSession(sessions(f, lo, m0)))
		}
		finalRows("minute", m0, m1)
		if m1.Before(hi) {
			parts = append(parts, perSession(sessions(f, m1, hi)))
		}
	}
	if h := minTime(ceilHour(lo), hi); h.After(lo) {
		partialHour(lo, h)
		lo = h
	}
	// The whole hours before the finalised ones, from the sessions.
	if from := minTime(fin.from, hi.Truncate(time.Hour)); from.After(lo) {
		parts = append(parts, perSession(sessions(f, lo, from)))
		lo = from
	}
	end := minTime(fin.until, hi.Truncate(time.Hour))
	switch {
	case !end.After(lo):
	case !byMinute:
		finalRows("hour", lo, end)
		lo = end
	case fin.byMinute(lo):
		finalRows("minute", lo, end)
		lo = end
	}
	if lo.Before(hi) {
		if lo.Truncate(time.Hour).Equal(hi.Add(-time.Nanosecond).Truncate(time.Hour)) {
			partialHour(lo, hi)
		} else {
			parts = append(parts, perSession(sessions(f, lo, hi)))
		}
	}
	return parts
}

// sessionSelects joins the pieces of a session query: parts and one
// statement for the finalised pieces, if any.
func sessionSelects(b *builder, f filter, parts []string, final []finalPiece) string {
	if len(final) > 0 {
		parts = append(parts, b.finalisedSessions(f, final))
	}
	return strings.Join(parts, " UNION ALL ")
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// sessionStatsSQL computes, per period (current [from, to) and the
// previous period of the same length), the sessions started in it, the
// bounced ones and their average duration in seconds. fin is where the
// finalised hours are.
func sessionStatsSQL(f filter, fin finalised) query {
	return sessionStatsFrom(f, fin, f.finalisedRollup())
}

// sessionStatsFrom is sessionStatsSQL from the finalised rows and the
// session rollup when useRollup (f must pass finalisedRollup), else from
// event rows.
func sessionStatsFrom(f filter, fin finalised, useRollup bool) query {
	prev := f.from.Add(-f.to.Sub(f.from))
	b := newBuilder()
	period := func(name string) func(string) string {
		return func(string) string { return b.str(name) }
	}
	var final []finalPiece
	parts := append(sessionParts(b, f, prev, f.from, fin, useRollup, false, period("previous"), &final),
		sessionParts(b, f, f.from, f.to, fin, useRollup, false, period("current"), &final)...)
	return b.done("SELECT k AS period, sum(n) AS sessions, sum(nb) AS bounces, ifNotFinite(sum(ms) / sum(n) / 1000, 0) AS avg_duration FROM (" +
		sessionSelects(b, f, parts, final) + ") GROUP BY period")
}

// seriesSessionsSQL computes per bucket (t, unix seconds) the sessions
// started in it, the bounced ones and their average duration. By minute
// the finalised hours' per-minute rows are used.
func seriesSessionsSQL(f filter, iv interval, fin finalised) query {
	return seriesSessionsFrom(f, iv, fin, f.finalisedRollup())
}

// seriesSessionsFrom is seriesSessionsSQL from the finalised rows and the
// session rollup when useRollup (f must pass finalisedRollup), else from
// event rows.
func seriesSessionsFrom(f filter, iv interval, fin finalised, useRollup bool) query {
	b := newBuilder()
	key := func(col string) string {
		if col == "start" {
			col = "toDateTime(start, 'UTC')"
		}
		return "toUnixTimestamp(" + bucketExpr(iv, col) + ")"
	}
	var final []finalPiece
	parts := sessionParts(b, f, f.from, f.to, fin, useRollup, iv == minute, key, &final)
	return b.done("SELECT k AS t, sum(n) AS sessions, sum(nb) AS bounces, ifNotFinite(sum(ms) / sum(n) / 1000, 0) AS avg_duration FROM (" +
		sessionSelects(b, f, parts, final) + ") GROUP BY t ORDER BY t")
}

// sessionPageDimensions are the breakdowns by a session's first (entry)
// or last (exit) pageview, with the aggregate that picks it. Their rows
// count sessions, not events: "events" is the sessions started in the
// range that entered or left on the page.
var sessionPageDimensions = map[string]string{
	"entry_page": "argMinIf",
	"exit_page":  "argMaxIf",
}

// sessionPagesSQL is the entry or exit page breakdown of the sessions
// started in the range (the definition above; sessions without a
// pageview have no entry page): each session's first or last pageview
// path (by event time, then event id, so copies of an event change
// nothing), counted per path, with the visitors of those pageviews.
//
// pageDays are the whole UTC days of the range whose pages the finaliser
// wrote (session_pages, migrations 0009 and 0014; nil when f needs raw rows,
// see sessionRollup): those days come from the rollup, each at its newest
// version, and the rest of the range (today, days not finalised yet, the
// hours of a range's partial first and last day) from raw events. With a
// rollup day the visitors are merged sketches (estimated); the sessions
// ("events") are exact either way. Without one it is the raw query alone.
func sessionPagesSQL(b *builder, f filter, pick string, limit int, pageDays map[time.Time]bool) query {
	kind := "entry"
	if pick == "argMaxIf" {
		kind = "exit"
	}
	var rolled, raw [][2]time.Time // runs of rollup days, raw spans
	add := func(runs [][2]time.Time, lo, hi time.Time) [][2]time.Time {
		if n := len(runs); n > 0 && runs[n-1][1].Equal(lo) {
			runs[n-1][1] = hi
			return runs
		}
		return append(runs, [2]time.Time{lo, hi})
	}
	for d := dayStart(f.from); d.Before(f.to); d = d.Add(24 * time.Hour) {
		e := d.Add(24 * time.Hour)
		if !d.Before(f.from) && !e.After(f.to) && pageDays[d] {
			rolled = add(rolled, d, e)
			continue
		}
		lo, hi := d, minTime(e, f.to)
		if lo.Before(f.from) {
			lo = f.from
		}
		raw = add(raw, lo, hi)
	}
	if len(rolled) == 0 {
		return b.done("SELECT value, events, visitors, sum(events) OVER () AS total FROM (" +
			"SELECT page AS value, count() AS events, uniqExactIf(visitor, visitor != '') AS visitors FROM (" +
			b.sessionPagesFromEvents(f, pick, f.from, f.to) + ") GROUP BY value) ORDER BY events DESC, value ASC LIMIT " + b.uint(uint64(limit)))
	}
	days := func() string {
		c := make([]string, len(rolled))
		for i, r := range rolled {
			c[i] = "day >= " + b.date(r[0]) + " AND day < " + b.date(r[1])
		}
		return "(" + strings.Join(c, " OR ") + ")"
	}
	c := []string{"kind = " + b.str(kind), days(), "source_id != ''"}
	if f.source != "" {
		c = append(c, "source_id = "+b.str(f.source))
	}
	if !f.bots {
		c = append(c, "NOT is_bot")
	}
	c = append(c, "(day, version) IN (SELECT day, max(version) FROM "+sessionPagesDaily+" WHERE kind = 'entry' AND page = '' AND source_id = '' AND "+days()+" GROUP BY day)")
	rows := sessionPagesDaily + " FINAL WHERE " + strings.Join(c, " AND ")
	if len(raw) == 0 {
		// The top paths by sessions first, then the visitor sketches of
		// those paths only: reading the sketches is most of the cost, and
		// the table's order (kind, page, day) in small granules lets the
		// second read skip every other path's granules. The top paths are
		// a scalar subquery, computed once (a CTE named twice, in a join
		// and in the IN, was computed twice); the second read sums the
		// same rows' sessions again for its paths.
		top := "SELECT page AS value, sum(sessions) AS events, sum(sum(sessions)) OVER () AS total FROM " + rows +
			" GROUP BY value ORDER BY events DESC, value ASC LIMIT " + b.uint(uint64(limit))
		return b.done("WITH (SELECT (groupArray(value), any(total)) FROM (" + top + ")) AS top " +
			"SELECT page AS value, sum(sessions) AS events, uniqCombined64Merge(12)(visitors) AS visitors, top.2 AS total FROM " + rows +
			" AND page IN (SELECT arrayJoin(top.1)) GROUP BY value ORDER BY events DESC, value ASC")
	}
	parts := []string{"SELECT page AS value, sessions AS n, visitors AS vis FROM " + rows}
	for _, r := range raw {
		parts = append(parts, "SELECT page AS value, count() AS n, uniqCombined64StateIf(12)(visitor, visitor != '') AS vis FROM ("+
			b.sessionPagesFromEvents(f, pick, r[0], r[1])+") GROUP BY value")
	}
	return b.done("SELECT value, events, visitors, sum(events) OVER () AS total FROM (" +
		"SELECT value, sum(n) AS events, uniqCombined64Merge(12)(vis) AS visitors FROM (" + strings.Join(parts, " UNION ALL ") +
		") GROUP BY value) ORDER BY events DESC, value ASC LIMIT " + b.uint(uint64(limit)))
}

// sessionPagesFromEvents lists, one row each (page, visitor), the sessions
// started in [lo, hi) under f that have a pageview, with their first or
// last pageview (pick) from raw events. The finaliser's pages
// (internal/finalise, pagesSQL) are computed the same way.
func (b *builder) sessionPagesFromEvents(f filter, pick string, lo, hi time.Time) string {
	g := f
	g.from, g.to, g.bots = dayStart(lo), dayEnd(hi), true
	isPage := "event_type IN " + pageTypes
	return "SELECT min(event_time) AS start, argMin(is_bot, (event_time, is_bot)) AS bot, " +
		pick + "(url_path, (event_time, event_id), " + isPage + ") AS page, " +
		pick + "(" + visitorExpr + ", (event_time, event_id), " + isPage + ") AS visitor " +
		"FROM " + eventsTable + " WHERE " + b.where(g, g.from) + " AND session_id != ''" +
		" GROUP BY source_id, session_id, toDate(event_time)" + b.sessionsHaving(f, lo, hi) + " AND countIf(" + isPage + ") > 0"
}

// finalisedPageDaysSQL lists the days of f's range (unix seconds of their
// start) whose entry and exit pages are finalised: those with a marker row.
func finalisedPageDaysSQL(f filter) query {
	b := newBuilder()
	// A marker is kind entry, page '': the sort key's prefix finds them.
	return b.done("SELECT toUnixTimestamp(toDateTime(day, 'UTC')) AS d FROM " + sessionPagesDaily +
		" WHERE kind = 'entry' AND page = '' AND source_id = '' AND day >= " + b.date(dayStart(f.from)) + " AND day < " + b.date(dayEnd(f.to)) + " GROUP BY day")
}

// finalisedPageDays are the days of f's range with finalised entry and
// exit pages, nil when f needs raw rows (sessionRollup).
func (s *Server) finalisedPageDays(r *http.Request, f filter) (map[time.Time]bool, error) {
	if !f.sessionRollup() {
		return nil, nil
	}
	rows, err := runQuery[struct{ D int64 }](s, r, finalisedPageDaysSQL(f))
	if err != nil {
		return nil, err
	}
	days := make(map[time.Time]bool, len(rows))
	for _, row := range rows {
		days[time.Unix(row.D, 0).UTC()] = true
	}
	return days, nil
}

// lookupFrom is the first hour a session query of f asks the finalised
// state of: the summary's previous period starts a range's length before
// f.from (sessionStatsFrom), the series at f.from, and sessionParts asks
// about the hours of its pieces only.
func lookupFrom(f filter) time.Time { return f.from.Add(-f.to.Sub(f.from)).Truncate(time.Hour) }

// finalisedUntilSQL is where the finalised hours are: the newest hour
// with a marker row, the first hour f of the unbroken run of hours with
// markers that ends there (the finaliser writes hours in order, from the
// first with data, but leaves alone the days whose events the TTL may
// have dropped: hours never finalised can lie before finalised ones), and
// the newest hour whose newest marker was written without per-minute
// rows (before migration 0015: minute != hour), l of nl; all among the
// hours from since on. Whether an hour h is finalised (a marker at h and
// at every hour after it up to the newest) and has minutes (no marker at
// or after h without them) depends on the markers from h on only, so for
// every hour from since on the answer is the one over all history;
// grouping every marker of history cost 17-22 ms at 100M events on every
// summary and series.
func finalisedUntilSQL(since time.Time) query {
	b := newBuilder()
	return b.done("SELECT toUnixTimestamp(max(hour)) AS t, count() AS n, toUnixTimestamp(maxIf(hour, m != hour)) AS l, countIf(m != hour) AS nl, " +
		"toUnixTimestamp(maxIf(hour, gap)) AS f FROM (SELECT hour, m, " + runStart + " AS gap " +
		"FROM (SELECT hour, argMax(minute, version) AS m FROM " + sessionsHourly + " WHERE source_id = '' AND hour >= " + b.hour(since) + " GROUP BY hour))")
}

// runStart is true for a marker hour that does not follow the one before
// it (or has none before it): maxIf(hour, runStart) over every marker
// hour is the first hour of the newest run.
const runStart = "toUnixTimestamp(hour) - lagInFrame(toUnixTimestamp(hour), 1, 0) OVER (ORDER BY hour ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) != 3600"

// finalisedByTypeSQL is where the finalised hours of sessions_by_type
// are: the newest hour with a marker row there and the first of the run of
// marker hours that ends there, among the hours from since on (as
// finalisedUntilSQL). The finaliser recomputes the hours finalised
// before migration 0018 from the first on, so every hour of the run has
// its typed rows, all with minutes.
func finalisedByTypeSQL(since time.Time) query {
	b := newBuilder()
	return b.done("SELECT toUnixTimestamp(max(hour)) AS t, count() AS n, toUnixTimestamp(maxIf(hour, gap)) AS f FROM (SELECT hour, " + runStart + " AS gap FROM (SELECT DISTINCT hour FROM " + sessionsByType +
		" WHERE event_type = '' AND source_id = '' AND hour >= " + b.hour(since) + "))")
}

// finalisedFor is where the finalised hours are, for the hours a session
// query of f asks about (zero when f's session figures have no finalised
// rows, see finalisedRollup).
func (s *Server) finalisedFor(r *http.Request, f filter) (finalised, error) {
	var fin finalised
	since := lookupFrom(f)
	if f.sessionByType() {
		rows, err := runQuery[struct{ T, N, F int64 }](s, r, finalisedByTypeSQL(since))
		if err != nil {
			return fin, err
		}
		if len(rows) == 1 && rows[0].N > 0 {
			fin.from, fin.until = time.Unix(rows[0].F, 0).UTC(), time.Unix(rows[0].T, 0).UTC().Add(time.Hour)
		}
	}
	if f.sessionRollup() {
		rows, err := runQuery[struct{ T, N, L, NL, F int64 }](s, r, finalisedUntilSQL(since))
		if err != nil {
			return fin, err
		}
		if len(rows) == 1 && rows[0].N > 0 {
			fin.from, fin.until = time.Unix(rows[0].F, 0).UTC(), time.Unix(rows[0].T, 0).UTC().Add(time.Hour)
			if rows[0].NL > 0 {
				fin.minutes = time.Unix(rows[0].L, 0).UTC().Add(time.Hour)
			}
		}
	}
	return fin, nil
}

// sessionRows runs the session query build makes for f, with where the
// finalised hours are when finalised rows can answer f.
func (s *Server) sessionRows(r *http.Request, f filter, build func(fin finalised) query) ([]sessionsRow, error) {
	fin, err := s.finalisedFor(r, f)
	if err != nil {
		return nil, err
	}
	return runQuery[sessionsRow](s, r, build(fin))
}
