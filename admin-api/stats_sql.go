package adminapi

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trackstream/trackstream/schemas"
)

// The SQL builders below write statements from fixed fragments only; every
// value a caller sends becomes a server-side query parameter
// ({name:Type}), including property keys (see property). Dimensions come
// from the dimensions allowlist.
//
// Exactness (contract G3): the processor drops every copy of an event
// before insert (store.Copies), and inserts with
// deduplicate_blocks_in_dependent_materialized_views, so the count
// rollups (migration 0004: counts_hourly and counts_daily, since 0016
// counts_by_type_hourly and counts_by_type_daily, visitors_daily,
// dims_daily) hold plain counts that are exact. Events stored before that
// migration may still have copies in trackstream.events (the migration's
// backfill counted each once), all received at or before the copy
// horizon (migration 0011), so queries on raw rows count the events
// received after it as rows and those before it by distinct
// (source_id, event_id) (builder.eventCount), and listings LIMIT 1 BY
// (source_id, event_id).
//
// The count rollups answer events, pageviews and visitors of the summary,
// the series at hour/day/week and the breakdown by type when the filter
// is rollup-friendly (filter.countsRollup: no profile, session, property
// or dimension filter, at least one whole hour in the range): whole UTC
// days from the daily tables, the other whole hours from counts_by_type_hourly
// (visitors_hourly without a type filter, migration 0010; over all
// sources visitors_hourly_all, 0017), the whole
// minutes of the partial hours at either end of a range from
// counts_minutely without a type filter (migration 0013; the series by
// minute too), and the rest from event rows (edgeSQL: exact distinct
// counts, visitor sketches of the same kind merged with the rollups'). Breakdowns of the other dimensions read
// dims_daily over whole days without an event type. Visitors from the
// rollups are sketches (uniqCombined64), an estimate the answers label,
// except in the whole hours and days the session finaliser has closed:
// a series by hour or day, or a summary of one hour or day, reads their
// exact visitors from visitors_exact (migration 0019, exactVisitorsSQL). The session rollup (events_sessions: per source, hour,
// bot flag and session, the first and last event time and the smallest and
// largest event id, all min/max, so duplicates change nothing) and the
// finalised sessions_hourly answer the session figures (sessions_sql.go).
// Funnels, property
// breakdowns, search and timelines need event rows and always read
// trackstream.events.

const (
	eventsTable = schemas.Database + ".events"
	// The count rollups (migration 0004; the counts per event type sorted
	// by type before time since migration 0016, so a type filter reads
	// that type's visitor sketches alone).
	countsHourly  = schemas.Database + ".counts_by_type_hourly"
	countsDaily   = schemas.Database + ".counts_by_type_daily"
	visitorsDaily = schemas.Database + ".visitors_daily"
	// visitorsHourly is visitors_daily per hour (migration 0010).
	visitorsHourly = schemas.Database + ".visitors_hourly"
	// visitorsHourlyAll is visitors_hourly over all sources together
	// (migration 0017): what readers without a source filter merge.
	visitorsHourlyAll = schemas.Database + ".visitors_hourly_all"
	dimsDaily         = schemas.Database + ".dims_daily"
	// countsMinute is the realtime rollup (migration 0008).
	countsMinute = schemas.Database + ".counts_minute"
	// countsMinutely holds events, pageviews and a visitor sketch per
	// source, minute and bot flag for good (migration 0013).
	countsMinutely = schemas.Database + ".counts_minutely"
	// visitorsExact holds the exact visitors of closed hours and days,
	// written by the session finaliser (migration 0019).
	visitorsExact = schemas.Database + ".visitors_exact"
	// visitorMerge merges the rollups' visitor sketches: an estimate.
	visitorMerge = "uniqCombined64Merge(15)(visitors)"
	// visitorState is the sketch of event rows' visitors, of the rollups'
	// kind (visitorMerge merges both).
	visitorState = "uniqCombined64State(15)(" + visitorExpr + ")"

	// visitorExpr is the visitor of an event, as the rollup defines it.
	visitorExpr = "multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id)"
	// pageTypes are the event types that count as pageviews.
	pageTypes = "('page', 'page-view', 'screen')"
	// eventKey identifies an event exactly.
	eventKey = "(source_id, event_id)"
)

// eventCount writes the exact number of distinct events among f's rows of
// trackstream.events where cond holds (every row when cond is empty). Rows
// received after the copy horizon (f.uniqueAfter, migration 0011) are
// counted as rows and only the older ones, which may hold copies of each
// other, by distinct eventKey; no row on one side is a copy of a row on
// the other, so the sum is exact. With no copies stored (the zero
// horizon: data written since migration 0004) it is a plain count, which
// reads no event ids.
func (b *builder) eventCount(f filter, cond string) string {
	switch {
	case f.uniqueAfter == nil:
		if cond == "" {
			return "uniqExact" + eventKey
		}
		return "uniqExactIf(" + eventKey + ", " + cond + ")"
	case f.uniqueAfter.IsZero():
		if cond == "" {
			return "count()"
		}
		return "countIf(" + cond + ")"
	}
	if cond != "" {
		cond = " AND " + cond
	}
	h := b.time(*f.uniqueAfter)
	return "(countIf(received_at > " + h + cond + ") + uniqExactIf(" + eventKey + ", received_at <= " + h + cond + "))"
}

// dimensions maps each breakdown dimension to its column. Nothing else
// may be grouped by, except a property key (see property).
var dimensions = map[string]string{
	"type":            "event_type",
	"name":            "name",
	"page":            "url_path",
	"host":            "url_host",
	"referrer_host":   "referrer_host",
	"referrer_medium": "referrer_medium",
	"utm_source":      "utm_source",
	"utm_medium":      "utm_medium",
	"utm_campaign":    "utm_campaign",
	"utm_term":        "utm_term",
	"utm_content":     "utm_content",
	"country":         "country",
	"region":          "region",
	"city":            "city",
	"browser":         "browser",
	"os":              "os",
	"device":          "device_type",
}

// query is a statement and its parameters.
type query struct {
	sql    string
	params map[string]string
}

// scans reports whether q reads the raw events table, whose rows in the
// range it then reads (with whatever the sort key and skip indexes
// prune): its cost grows with the events, unlike a rollup's. Answers
// that may scan say so ("scanned").
func (q query) scans() bool { return strings.Contains(q.sql, eventsTable+" ") }

// builder collects parameters while a statement is written.
type builder struct {
	params map[string]string
	// bound maps a type and value already bound to its placeholder.
	bound map[[2]string]string
	n     int
}

func newBuilder() *builder {
	return &builder{params: map[string]string{}, bound: map[[2]string]string{}}
}

// bind returns the placeholder of a parameter of type typ and value,
// adding the parameter unless the same one was bound before (so that an
// expression written twice, such as a span's key, reads the same).
func (b *builder) bind(typ, value string) string {
	if ph, ok := b.bound[[2]string{typ, value}]; ok {
		return ph
	}
	name := "p" + strconv.Itoa(b.n)
	b.n++
	b.params[name] = value
	ph := "{" + name + ":" + typ + "}"
	b.bound[[2]string{typ, value}] = ph
	return ph
}

func (b *builder) str(v string) string     { return b.bind("String", v) }
func (b *builder) time(t time.Time) string { return b.bind("DateTime64(3, 'UTC')", chTime(t)) }
func (b *builder) hour(t time.Time) string {
	return b.bind("DateTime('UTC')", t.UTC().Format(time.DateTime))
}
func (b *builder) uint(v uint64) string      { return b.bind("UInt64", strconv.FormatUint(v, 10)) }
func (b *builder) done(sql string) query     { return query{sql: sql, params: b.params} }
func (b *builder) strs(vs []string) []string { return mapSlice(vs, b.str) }

func mapSlice[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// where writes the event-level conditions of f for trackstream.events over
// [from, to); from is usually f.from but the summary widens it to the
// previous period.
func (b *builder) where(f filter, from time.Time) string {
	return strings.Join(append([]string{"event_time >= " + b.time(from), "event_time < " + b.time(f.to)}, b.eventConds(f)...), " AND ")
}

// eventConds are the conditions of f on event rows other than time.
func (b *builder) eventConds(f filter) []string {
	var c []string
	if f.source != "" {
		c = append(c, "source_id = "+b.str(f.source))
	}
	if len(f.types) > 0 {
		c = append(c, "event_type IN ("+strings.Join(b.strs(f.types), ", ")+")")
	}
	if !f.bots {
		c = append(c, "NOT is_bot")
	}
	if f.profile != "" {
		c = append(c, "profile_id = "+b.str(f.profile))
	}
	if f.session != "" {
		c = append(c, "session_id = "+b.str(f.session))
	}
	for _, p := range f.props {
		c = append(c, b.property(p.key)+" = "+b.str(p.value))
	}
	for _, d := range f.dims {
		c = append(c, "toString("+d.column+") = "+b.str(d.value))
	}
	return c
}

// property is the text of property key (a path, dots between levels) in
// an event's properties: numbers, booleans, arrays and objects as
// ClickHouse writes them after inferring their type (12.5, true, [1,2],
// {"a":1}), strings as they are, and NULL (equal to nothing, grouped as an
// empty value) where the event lacks the key. properties is JSON text
// (migration 0007); the path is looked up level by level (ingest refuses
// keys with dots, and the JSON column of earlier versions stored them as
// levels, which its conversion to text kept).
func (b *builder) property(key string) string {
	return "toString(JSONExtract(properties, " + strings.Join(b.strs(strings.Split(key, ".")), ", ") + ", 'Dynamic'))"
}

// span is a piece of a rollup-friendly range and what answers it: whole
// UTC days the daily rollups, whole hours the hourly ones, whole minutes
// of the partial hours at either end of a range the minute rollup
// (minutely), and what is left of a minute at either end event rows
// (edge).
type span struct {
	from, to time.Time
	daily    bool
	minutely bool
	edge     bool
	// period labels the summary's spans: current or previous.
	period string
}

// spansOf splits [from, to) into the partial hours at either end
// (minuteSpans: their whole minutes when minutely is allowed, event rows
// for the rest), whole days when daily is allowed, and the whole hours
// before the first and after the last whole day.
func spansOf(from, to time.Time, daily, minutely bool, period string) []span {
	h0, h1 := ceilHour(from), to.Truncate(time.Hour)
	if !h0.Before(h1) {
		return minuteSpans(from, to, minutely, period)
	}
	var out []span
	if from.Before(h0) {
		out = append(out, minuteSpans(from, h0, minutely, period)...)
	}
	out = append(out, hourSpans(h0, h1, daily, period)...)
	if h1.Before(to) {
		out = append(out, minuteSpans(h1, to, minutely, period)...)
	}
	return out
}

// minuteSpans splits [from, to) into its whole minutes, for the minute
// rollup when minutely is allowed (no event type filter: the rollup has
// no event type), and the parts of a minute at either end (edges, read
// from event rows); all of it is an edge otherwise.
func minuteSpans(from, to time.Time, minutely bool, period string) []span {
	m0, m1 := ceilMinute(from), to.Truncate(time.Minute)
	if !minutely || !m0.Before(m1) {
		return []span{{from: from, to: to, edge: true, period: period}}
	}
	var out []span
	if from.Before(m0) {
		out = append(out, span{from: from, to: m0, edge: true, period: period})
	}
	out = append(out, span{from: m0, to: m1, minutely: true, period: period})
	if m1.Before(to) {
		out = append(out, span{from: m1, to: to, edge: true, period: period})
	}
	return out
}

// hourSpans splits [from, to) (whole hours) into whole days, when daily
// is allowed, and the hours before the first and after the last whole day.
func hourSpans(from, to time.Time, daily bool, period string) []span {
	d0, d1 := from.Truncate(24*time.Hour), to.Truncate(24*time.Hour)
	if d0.Before(from) {
		d0 = d0.Add(24 * time.Hour)
	}
	if !daily || !d0.Before(d1) {
		return []span{{from: from, to: to, period: period}}
	}
	var out []span
	if from.Before(d0) {
		out = append(out, span{from: from, to: d0, period: period})
	}
	out = append(out, span{from: d0, to: d1, daily: true, period: period})
	if d1.Before(to) {
		out = append(out, span{from: d1, to: to, period: period})
	}
	return out
}

func (b *builder) date(t time.Time) string { return b.bind("Date", t.UTC().Format(time.DateOnly)) }

// spanTime is the time condition of a rollup table's rows in sp.
func (b *builder) spanTime(sp span) string {
	switch {
	case sp.daily:
		return "day >= " + b.date(sp.from) + " AND day < " + b.date(sp.to)
	case sp.minutely:
		return "minute >= " + b.hour(sp.from) + " AND minute < " + b.hour(sp.to)
	}
	return "hour >= " + b.hour(sp.from) + " AND hour < " + b.hour(sp.to)
}

// spanConds writes f's other conditions on a rollup table's rows, each
// after " AND ": source, event types (typed tables only) and bot flag.
func (b *builder) spanConds(f filter, typed bool) string {
	var c string
	if f.source != "" {
		c += " AND source_id = " + b.str(f.source)
	}
	if typed && len(f.types) > 0 {
		c += " AND event_type IN (" + strings.Join(b.strs(f.types), ", ") + ")"
	}
	if !f.bots {
		c += " AND NOT is_bot"
	}
	return c
}

// edgeSQL is what the edge spans (partial hours or minutes) add to rollupSQL, from
// the event rows matching f in them, per key k (an expression over event
// rows, written by rowKey): counts, rows of (k, n, pv) with the exact
// events and pageviews as the raw paths count them (builder.eventCount), and visitors, rows of (k,
// visitors) with a sketch of the rollups' kind for visitorMerge. One
// statement for all edges, so an event with copies in two edges of one key
// counts once. The edges read at most an hour of rows each (less than a
// minute next to the minute rollup), found through the events sort key's
// day (and event type).
//
// Copies of an event stored before migration 0004 are in the rollups once,
// in the hour and minute of the earliest copy (0013 backfilled the minute
// rollup as 0004 did the others): an edge that follows rollup spans
// leaves out the events with a copy in the hour of those spans before it
// (a resend whose corrected time crossed the hour or minute), which they
// counted; only rows received by the copy horizon are looked at, none
// when no copies are stored.
func edgeSQL(b *builder, f filter, spans []span, rowKey func(b *builder) string) (counts, visitors string) {
	var in, out []string
	for i, sp := range spans {
		if !sp.edge {
			continue
		}
		in = append(in, "(event_time >= "+b.time(sp.from)+" AND event_time < "+b.time(sp.to)+")")
		if i > 0 && !spans[i-1].edge && spans[i-1].to.Equal(sp.from) && (f.uniqueAfter == nil || !f.uniqueAfter.IsZero()) {
			g := f
			g.from, g.to = rollupRunStart(spans[:i], sp.from.Add(-time.Hour)), sp.from
			old := ""
			if f.uniqueAfter != nil {
				// Only rows received by the copy horizon have copies.
				old = " AND received_at <= " + b.time(*f.uniqueAfter)
			}
			// A condition of its own (not inside the OR above), so that
			// it is evaluated on the edges' rows only.
			out = append(out, "NOT (event_time >= "+b.time(sp.from)+old+" AND "+eventKey+" IN (SELECT "+eventKey+" FROM "+eventsTable+" WHERE "+b.where(g, g.from)+old+"))")
		}
	}
	if len(in) == 0 {
		return "", ""
	}
	where := strings.Join(append(append([]string{"(" + strings.Join(in, " OR ") + ")"}, b.eventConds(f)...), out...), " AND ")
	k := rowKey(b)
	counts = "SELECT " + k + " AS k, " + b.eventCount(f, "") + " AS n, " + b.eventCount(f, "event_type IN "+pageTypes) + " AS pv FROM " +
		eventsTable + " WHERE " + where + " GROUP BY k"
	visitors = "SELECT " + k + " AS k, " + visitorState + " AS visitors FROM " + eventsTable + " WHERE " + where +
		" AND " + visitorExpr + " != '' GROUP BY k"
	return counts, visitors
}

// rollupRunStart is the start of the rollup spans that end spans (the
// run of contiguous spans that are not edges), but not before floor:
// what an edge after them looks back to for copies they counted.
func rollupRunStart(spans []span, floor time.Time) time.Time {
	start := spans[len(spans)-1].to
	for i := len(spans) - 1; i >= 0 && !spans[i].edge && spans[i].to.Equal(start) && start.After(floor); i-- {
		start = spans[i].from
	}
	if start.Before(floor) {
		return floor
	}
	return start
}

// rollupSQL answers events, pageviews and visitors per key from the count
// rollups over spans, and from event rows over edge spans (edgeSQL); key
// writes the key of a rollup span whose time column is col (minute, hour or day),
// rowKey the key of an event row; name is the key's column name in the
// answer. Visitors over all event types come from visitors_daily and
// visitors_hourly (one sketch per day or hour), otherwise from the typed
// tables' sketches (byType: the key involves the event type). Minute
// spans (no type filter, not byType) read counts_minutely for all three.
//
// exact are the answer's buckets whose visitors visitors_exact may
// answer (exactVisitorsSQL); a bucket finalised there is read as an exact
// number, its sketches left out, and the row says so (visitors_exact).
func rollupSQL(f filter, spans []span, name string, key func(b *builder, sp span, col string) string, rowKey func(b *builder) string, byType bool, exact []exactPiece) query {
	b := newBuilder()
	if !f.exactVisitors() {
		exact = nil
	}
	// One statement per rollup table, its spans OR-ed: every statement
	// has a fixed cost of its own, larger than reading a few more granules
	// (measured at 10M events: the unaligned 7-day summary's seven
	// statements per table kind cost 38 ms, three 29 ms).
	var minutely, hourly, daily spanGroup
	for _, sp := range spans {
		switch {
		case sp.edge:
		case sp.minutely:
			minutely.add(b.spanTime(sp), key(b, sp, "minute"))
		case sp.daily:
			daily.add(b.spanTime(sp), key(b, sp, "day"))
		default:
			hourly.add(b.spanTime(sp), key(b, sp, "hour"))
		}
	}
	// Finalised buckets of each granularity: their sketches are left out.
	// col is the rollup's time column, start the same of visitors_exact.
	finalised := func(hours int, col, start string) string {
		if c := exactRanges(b, exact, hours); c != "" {
			return " AND " + col + " NOT IN (SELECT " + start + " FROM " + visitorsExact +
				" WHERE event_type = '' AND source_id = '' AND " + c + ")"
		}
		return ""
	}
	var counts, visitors []string
	if !minutely.empty() {
		where := minutely.where() + b.spanConds(f, false)
		counts = append(counts, "SELECT "+minutely.key()+" AS k, events AS n, pageviews AS pv FROM "+countsMinutely+" WHERE "+where)
		visitors = append(visitors, "SELECT "+minutely.key()+" AS k, visitors FROM "+countsMinutely+" WHERE "+where)
	}
	for _, g := range []struct {
		spans           *spanGroup
		table, perVisit string
		hours           int
		col, start      string
	}{{&hourly, countsHourly, visitorsHourly, 1, "hour", "start"}, {&daily, countsDaily, visitorsDaily, 24, "day", "toDate(start)"}} {
		if g.spans.empty() {
			continue
		}
		k, typed := g.spans.key(), g.spans.where()+b.spanConds(f, true)
		counts = append(counts, "SELECT "+k+" AS k, events AS n, if(event_type IN "+pageTypes+", events, 0) AS pv FROM "+g.table+" WHERE "+typed)
		if len(f.types) == 0 && !byType {
			table := g.perVisit
			if table == visitorsHourly && f.source == "" {
				table = visitorsHourlyAll
			}
			visitors = append(visitors, "SELECT "+k+" AS k, visitors FROM "+table+" WHERE "+g.spans.where()+b.spanConds(f, false)+finalised(g.hours, g.col, g.start))
		} else {
			visitors = append(visitors, "SELECT "+k+" AS k, visitors FROM "+g.table+" WHERE "+typed+finalised(g.hours, g.col, g.start))
		}
	}
	if c, v := edgeSQL(b, f, spans, rowKey); c != "" {
		counts, visitors = append(counts, c), append(visitors, v)
	}
	sketches := "SELECT k, " + visitorMerge + " AS vis FROM (" + strings.Join(visitors, " UNION ALL ") + ") GROUP BY k"
	if len(exact) == 0 {
		return b.done("SELECT c.k AS " + name + ", c.n AS events, c.pv AS pageviews, v.vis AS visitors FROM (" +
			"SELECT k, sum(n) AS n, sum(pv) AS pv FROM (" + strings.Join(counts, " UNION ALL ") + ") GROUP BY k" +
			") AS c LEFT JOIN (" + sketches + ") AS v USING k ORDER BY " + name)
	}
	return b.done("SELECT c.k AS " + name + ", c.n AS events, c.pv AS pageviews, if(e.exact, e.vis, v.vis) AS visitors, e.exact AS visitors_exact FROM (" +
		"SELECT k, sum(n) AS n, sum(pv) AS pv FROM (" + strings.Join(counts, " UNION ALL ") + ") GROUP BY k" +
		") AS c LEFT JOIN (" + sketches + ") AS v USING k LEFT JOIN (" + exactVisitorsSQL(b, f, exact) + ") AS e USING k ORDER BY " + name)
}

// exactPiece is a range of an answer's buckets that visitors_exact may
// answer (migration 0019): the hours (hours = 1) or UTC days (hours = 24)
// starting in [from, to), each bucket exactly one of them, keyed by key
// (an expression of the column start, of the answer's key type).
type exactPiece struct {
	hours    int
	from, to time.Time
	key      string
}

// exactVisitors reports whether visitors_exact has f's visitors: the
// count rollups answer f (no event-level filter) and it has at most one
// event type (the table has each type, and all types, not their
// combinations).
func (f filter) exactVisitors() bool { return f.countsRollup() && len(f.types) <= 1 }

// exactRanges is the condition on visitors_exact's start and hours of the
// pieces of one granularity (hours), empty when there are none.
func exactRanges(b *builder, pieces []exactPiece, hours int) string {
	var c []string
	for _, p := range pieces {
		if p.hours == hours {
			c = append(c, "(start >= "+b.hour(p.from)+" AND start < "+b.hour(p.to)+")")
		}
	}
	if len(c) == 0 {
		return ""
	}
	return "hours = " + strconv.Itoa(hours) + " AND (" + strings.Join(c, " OR ") + ")"
}

// exactVisitorsSQL selects (k, vis, exact) for the buckets of pieces that
// the finaliser has counted (a marker row, event type and source empty,
// at their newest version): f's exact visitors, with bots or without, of f's
// event type and source (empty for all), zero when that row is missing (no
// such visitor in the bucket). Every pass writes a bucket's rows under
// one version (FINAL keeps one row per key should two passes share one).
func exactVisitorsSQL(b *builder, f filter, pieces []exactPiece) string {
	var ranges []string
	for _, hours := range []int{1, 24} {
		if c := exactRanges(b, pieces, hours); c != "" {
			ranges = append(ranges, "("+c+")")
		}
	}
	periods := "(" + strings.Join(ranges, " OR ") + ")"
	var keys spanGroup
	for _, p := range pieces {
		keys.add("hours = "+strconv.Itoa(p.hours)+" AND start >= "+b.hour(p.from)+" AND start < "+b.hour(p.to), p.key)
	}
	typ, source := "", f.source
	if len(f.types) == 1 {
		typ = f.types[0]
	}
	col := "human_visitors"
	if f.bots {
		col = "visitors"
	}
	match := "event_type = " + b.str(typ) + " AND source_id = " + b.str(source)
	return "SELECT " + keys.key() + " AS k, sumIf(" + col + ", " + match + ") AS vis, true AS exact FROM " + visitorsExact +
		" FINAL WHERE event_type IN ('', " + b.str(typ) + ") AND source_id IN ('', " + b.str(source) + ") AND " + periods +
		" AND (hours, start, version) IN (SELECT hours, start, max(version) FROM " + visitorsExact +
		" WHERE event_type = '' AND source_id = '' AND " + periods + " GROUP BY hours, start) GROUP BY k"
}

// spanGroup is the spans one rollup table answers: each span's time
// condition and the key of its rows.
type spanGroup struct{ conds, keys []string }

func (g *spanGroup) add(cond, key string) {
	g.conds, g.keys = append(g.conds, cond), append(g.keys, key)
}

func (g *spanGroup) empty() bool { return len(g.conds) == 0 }

// where is the time condition of the group's rows (any of its spans).
func (g *spanGroup) where() string { return "(" + strings.Join(g.conds, " OR ") + ")" }

// key is the key of a row: the key of the span it falls in (spans do
// not overlap), written once when every span has the same.
func (g *spanGroup) key() string {
	if !slices.ContainsFunc(g.keys, func(k string) bool { return k != g.keys[0] }) {
		return g.keys[0]
	}
	var args []string
	for i, c := range g.conds[:len(g.conds)-1] {
		args = append(args, c, g.keys[i])
	}
	return "multiIf(" + strings.Join(append(args, g.keys[len(g.keys)-1]), ", ") + ")"
}

// summaryCountsSQL counts events, pageviews and visitors of the current
// period [from, to) and the previous one of the same length, one row per
// period. Rollups (and edges) when f.countsRollup.
func summaryCountsSQL(f filter) query {
	prev := f.from.Add(-f.to.Sub(f.from))
	if f.countsRollup() {
		minutely := len(f.types) == 0
		spans := append(spansOf(prev, f.from, true, minutely, "previous"), spansOf(f.from, f.to, true, minutely, "current")...)
		// A period of one whole hour or UTC day has exact visitors once
		// it is finalised.
		var exact []exactPiece
		for _, p := range []struct {
			from, to time.Time
			key      string
		}{{prev, f.from, "'previous'"}, {f.from, f.to, "'current'"}} {
			switch {
			case p.to.Sub(p.from) == time.Hour && p.from.Equal(p.from.Truncate(time.Hour)):
				exact = append(exact, exactPiece{1, p.from, p.to, p.key})
			case p.to.Sub(p.from) == 24*time.Hour && p.from.Equal(p.from.Truncate(24*time.Hour)):
				exact = append(exact, exactPiece{24, p.from, p.to, p.key})
			}
		}
		return rollupSQL(f, spans, "period", func(b *builder, sp span, _ string) string { return b.str(sp.period) },
			func(b *builder) string { return "if(event_time >= " + b.time(f.from) + ", 'current', 'previous')" }, false, exact)
	}
	return rawSummaryCountsSQL(f)
}

// rawSummaryCountsSQL is summaryCountsSQL from event rows only: exact
// distinct counts.
func rawSummaryCountsSQL(f filter) query {
	prev := f.from.Add(-f.to.Sub(f.from))
	b := newBuilder()
	return b.done("SELECT if(event_time >= " + b.time(f.from) + ", 'current', 'previous') AS period, " +
		b.eventCount(f, "") + " AS events, " +
		b.eventCount(f, "event_type IN "+pageTypes) + " AS pageviews, " +
		"uniqExactIf(" + visitorExpr + ", " + visitorExpr + " != '') AS visitors " +
		"FROM " + eventsTable + " WHERE " + b.where(f, prev) + " GROUP BY period")
}

// bucketExpr is the bucket start of time column col (a DateTime).
func bucketExpr(iv interval, col string) string {
	switch iv {
	case minute:
		return "toStartOfMinute(" + col + ")"
	case hour:
		return "toStartOfHour(" + col + ")"
	case day:
		return "toStartOfDay(" + col + ")"
	}
	return "toDateTime(toMonday(" + col + "), 'UTC')"
}

// seriesRollup reports whether the count rollups answer f's series by iv:
// by minute when f.minuteRollup, hour and coarser when f.countsRollup.
func seriesRollup(f filter, iv interval) bool {
	if iv == minute {
		return f.minuteRollup()
	}
	return f.countsRollup()
}

// seriesCountsSQL counts events, pageviews and visitors per bucket, as t
// (unix seconds). Rollups when f allows them: by minute the minute
// rollup's whole minutes; hour and coarser the daily ones for whole days
// of day and week buckets, hourly ones for whole hours and the minute
// rollup for the whole minutes of the partial hours at either end
// (without a type filter). Event rows for what is left of a minute at
// either end.
func seriesCountsSQL(f filter, iv interval) query {
	if seriesRollup(f, iv) {
		spans := minuteSpans(f.from, f.to, true, "")
		if iv != minute {
			spans = spansOf(f.from, f.to, iv != hour, len(f.types) == 0, "")
		}
		// Whole hour and day buckets have exact visitors once finalised.
		var exact []exactPiece
		switch iv {
		case hour:
			exact = []exactPiece{{1, ceilHour(f.from), f.to.Truncate(time.Hour), "toUnixTimestamp(start)"}}
		case day:
			exact = []exactPiece{{24, ceilDay(f.from), f.to.Truncate(24 * time.Hour), "toUnixTimestamp(start)"}}
		}
		if len(exact) == 1 && !exact[0].from.Before(exact[0].to) {
			exact = nil
		}
		return rollupSQL(f, spans, "t", func(_ *builder, sp span, col string) string {
			if sp.daily {
				col = "toDateTime(day, 'UTC')"
			}
			return "toUnixTimestamp(" + bucketExpr(iv, col) + ")"
		}, func(*builder) string {
			return "toUnixTimestamp(" + bucketExpr(iv, "toDateTime(event_time, 'UTC')") + ")"
		}, false, exact)
	}
	return rawSeriesCountsSQL(f, iv)
}

// rawSeriesCountsSQL is seriesCountsSQL from event rows only: exact
// distinct counts.
func rawSeriesCountsSQL(f filter, iv interval) query {
	b := newBuilder()
	return b.done("SELECT toUnixTimestamp(" + bucketExpr(iv, "toDateTime(event_time, 'UTC')") + ") AS t, " +
		b.eventCount(f, "") + " AS events, " +
		b.eventCount(f, "event_type IN "+pageTypes) + " AS pageviews, " +
		"uniqExactIf(" + visitorExpr + ", " + visitorExpr + " != '') AS visitors " +
		"FROM " + eventsTable + " WHERE " + b.where(f, f.from) + " GROUP BY t ORDER BY t")
}

// dayAligned reports whether f's range is whole UTC days.
func (f filter) dayAligned() bool {
	return f.from.Equal(f.from.Truncate(24*time.Hour)) && f.to.Equal(f.to.Truncate(24*time.Hour))
}

// breakdownRollup reports whether dims_daily answers a breakdown of a
// dimension (not type, not a property) under f: whole days, no event type
// and no event-level filter.
func (f filter) breakdownRollup(dimension, property string) bool {
	return property == "" && dimension != "type" && sessionPageDimensions[dimension] == "" && !f.eventLevel() && len(f.types) == 0 && f.dayAligned()
}

// typeRollup reports whether the count rollups answer a breakdown of
// dimension (or property) under f: by type when f.countsRollup.
func typeRollup(f filter, dimension, property string) bool {
	return property == "" && dimension == "type" && f.countsRollup()
}

// breakdownSQL is the top limit values of a dimension (a column from
// dimensions, or a property key when property != "") with their events
// and visitors, and the total of events over all values. Rollups for type
// (ranges with a whole hour, the partial hours at the ends from event
// rows) and for the other dimensions over whole days without an event
// type; raw rows otherwise. pageDays are the finalised days of the
// entry_page and exit_page breakdowns (sessionPagesSQL).
func breakdownSQL(f filter, dimension, property string, limit int, pageDays map[time.Time]bool) (query, error) {
	if typeRollup(f, dimension, property) {
		q := rollupSQL(f, spansOf(f.from, f.to, true, false, ""), "value", func(_ *builder, _ span, _ string) string { return "event_type" },
			func(*builder) string { return "event_type" }, true, nil)
		// The limit joins q's parameters (p0..pN-1 stay as they are).
		b := newBuilder()
		b.params, b.n = q.params, len(q.params)
		return b.done("SELECT value, events, visitors, sum(events) OVER () AS total FROM (" + q.sql +
			") ORDER BY events DESC, value ASC LIMIT " + b.uint(uint64(limit))), nil
	}
	b := newBuilder()
	if col, ok := sessionPageDimensions[dimension]; ok && property == "" {
		return sessionPagesSQL(b, f, col, limit, pageDays), nil
	}
	var expr string
	switch {
	case property != "":
		expr = b.property(property)
	default:
		col, ok := dimensions[dimension]
		if !ok {
			return query{}, badRequest("unknown_dimension", "dimension %q is not one of %s, or property with property=<key>", clip(dimension), strings.Join(breakdownNames(), ", "))
		}
		expr = "toString(" + col + ")"
	}
	if f.breakdownRollup(dimension, property) {
		// Top values by events first, then the visitor sketches of those
		// values only (the table is sorted by value).
		where := func() string {
			c := []string{"dim = " + b.str(dimension), "day >= " + b.date(f.from), "day < " + b.date(f.to)}
			if f.source != "" {
				c = append(c, "source_id = "+b.str(f.source))
			}
			if !f.bots {
				c = append(c, "NOT is_bot")
			}
			return strings.Join(c, " AND ")
		}
		top := "SELECT value, n, total FROM (SELECT value, sum(events) AS n, sum(sum(events)) OVER () AS total FROM " + dimsDaily +
			" WHERE " + where() + " GROUP BY value) ORDER BY n DESC, value ASC LIMIT " + b.uint(uint64(limit))
		return b.done("WITH top AS (" + top + ") SELECT t.value AS value, t.n AS events, t.total AS total, v.vis AS visitors FROM top AS t LEFT JOIN (" +
			"SELECT value, uniqCombined64Merge(12)(visitors) AS vis FROM " + dimsDaily + " WHERE " + where() +
			" AND value IN (SELECT value FROM top) GROUP BY value) AS v USING value ORDER BY events DESC, value ASC"), nil
	}
	// Each event has one value of a dimension (a resent event carries the
	// same values), so the per-value distinct counts add up to the total.
	return b.done("SELECT value, events, visitors, sum(events) OVER () AS total FROM (" +
		"SELECT " + expr + " AS value, " + b.eventCount(f, "") + " AS events, " +
		"uniqExactIf(" + visitorExpr + ", " + visitorExpr + " != '') AS visitors " +
		"FROM " + eventsTable + " WHERE " + b.where(f, f.from) + " GROUP BY value" +
		") ORDER BY events DESC, value ASC LIMIT " + b.uint(uint64(limit))), nil
}

// eventColumns are the columns event listings return.
const eventColumns = "source_id, event_id, event_type, toUnixTimestamp64Milli(event_time) AS time_ms, " +
	"toUnixTimestamp64Milli(received_at) AS received_ms, session_id, profile_id, anonymous_id, user_id, name, " +
	"url, url_path, referrer, referrer_host, utm_source, utm_medium, utm_campaign, country, browser, os, device_type, is_bot, " +
	"user_agent, properties AS properties_json, context AS context_json"

// eventSizeColumns are what the first step of an event listing returns:
// each event's sort key (fullKey), time and an estimate of its bytes in the answer (its
// JSON objects and long strings, plus a fixed allowance for the rest), so
// the page can be cut at maxListBytes before the wide columns are read.
// The context read back may hold the url and referrer once more and the
// user agent twice (store.ContextAsSent).
const eventSizeColumns = "source_id, event_id, event_type, toUnixTimestamp64Milli(event_time) AS time_ms, " +
	"length(properties) + length(context) + 2 * (length(url) + length(referrer) + length(user_agent)) + length(name) + 512 AS row_bytes"

// fullKey is the events table's sort key as a tuple: a listing's later
// steps find their events by it, reading at most one granule per event
// instead of every granule of the days the events span.
const fullKey = "(source_id, toDate(event_time), event_type, event_id)"

// eventsByKeySQL reads the answer columns of the listed events (one copy
// each, the one the listing ranked), in the listing's order.
func eventsByKeySQL(keys []eventSize, ascending bool) query {
	b := newBuilder()
	lo, hi := keys[0].TimeMS, keys[0].TimeMS
	tuples := make([]string, len(keys))
	for i, k := range keys {
		lo, hi = min(lo, k.TimeMS), max(hi, k.TimeMS)
		tuples[i] = "(" + b.str(k.SourceID) + ", " + b.date(time.UnixMilli(k.TimeMS)) + ", " + b.str(k.EventType) + ", " + b.str(k.EventID) + ")"
	}
	dir := " DESC"
	if ascending {
		dir = " ASC"
	}
	return b.done("SELECT " + eventColumns + " FROM " + eventsTable +
		" WHERE event_time >= " + b.time(time.UnixMilli(lo)) + " AND event_time <= " + b.time(time.UnixMilli(hi)) +
		" AND " + fullKey + " IN (" + strings.Join(tuples, ", ") + ")" +
		" ORDER BY event_time" + dir + ", source_id" + dir + ", event_id" + dir + " LIMIT 1 BY source_id, event_id")
}

// after writes the condition that a row comes after cursor c in a
// newest-first listing (nothing when c is nil).
func (b *builder) after(c *eventCursor) string {
	if c == nil {
		return ""
	}
	return " AND (event_time, source_id, event_id) < (" + b.time(c.t) + ", " + b.str(c.source) + ", " + b.str(c.id) + ")"
}

// searchSQL lists the sizes (eventSizeColumns) of the events matching f,
// newest first, after the cursor (when set), each (source_id, event_id)
// once, limit+1 rows so the caller knows whether another page exists.
// Always raw rows.
func searchSQL(f filter, after *eventCursor, limit int) query {
	b := newBuilder()
	w := b.where(f, f.from) + b.after(after)
	order := " ORDER BY event_time DESC, source_id DESC, event_id DESC LIMIT 1 BY source_id, event_id LIMIT " + b.uint(uint64(limit+1))
	// Two steps: the page's keys from the narrow columns, then the sizes
	// of those rows only, found by the full sort key (a granule each).
	return b.done("WITH page AS (SELECT source_id, event_id, event_type, event_time FROM " + eventsTable + " WHERE " + w + order + ") " +
		"SELECT " + eventSizeColumns + " FROM " + eventsTable + " WHERE " + w +
		" AND event_time >= (SELECT min(event_time) FROM page) AND " + fullKey + " IN (SELECT source_id, toDate(event_time), event_type, event_id FROM page)" + order)
}

// newestSQL lists the sizes (eventSizeColumns) of the n newest rows of f
// by time alone: an event's copies are a row each, and rows at the n-th
// row's millisecond beyond n are left out (searchWindow checks the answer
// is a page). Ordered by time only, the query reads the time column and
// the filters' columns of the rows in range and the other columns of the
// n rows it returns only (lazy materialisation), instead of sorting every
// row in range by the full listing order. Always raw rows.
func newestSQL(f filter, n int) query {
	b := newBuilder()
	return b.done("SELECT " + eventSizeColumns + " FROM " + eventsTable + " WHERE " + b.where(f, f.from) +
		" ORDER BY event_time DESC LIMIT " + b.uint(uint64(n)))
}

// sessionEventsSQL lists the sizes of a session's events oldest first,
// each once, at most limit+1. Always raw rows.
func sessionEventsSQL(f filter, limit int) query {
	b := newBuilder()
	return b.done("SELECT " + eventSizeColumns + " FROM " + eventsTable + " WHERE " + b.where(f, f.from) +
		" ORDER BY event_time ASC, source_id ASC, event_id ASC LIMIT 1 BY source_id, event_id LIMIT " + b.uint(uint64(limit+1)))
}

// funnelSQL counts visitors by the furthest step they reached, in order,
// each step within window of the first (windowFunnel over event time in
// milliseconds). Always raw rows.
func funnelSQL(f filter, steps []funnelStep, window time.Duration) query {
	b := newBuilder()
	conds := make([]string, len(steps))
	for i, s := range steps {
		c := "event_type = " + b.str(s.typ)
		if s.path != "" {
			c = "(" + c + " AND url_path = " + b.str(s.path) + ")"
		}
		conds[i] = c
	}
	return b.done("SELECT level, count() AS visitors FROM (" +
		"SELECT " + visitorExpr + " AS visitor, windowFunnel(" + strconv.FormatInt(window.Milliseconds(), 10) + ")(toUInt64(toUnixTimestamp64Milli(event_time)), " + strings.Join(conds, ", ") + ") AS level " +
		"FROM " + eventsTable + " WHERE " + b.where(f, f.from) + " AND visitor != '' AND (" + strings.Join(conds, " OR ") + ") GROUP BY visitor" +
		") GROUP BY level ORDER BY level")
}

// realtimeHorizon is how far back from the wall clock the realtime
// rollup (counts_minute, migration 0008) is complete: its TTL and its
// view keep a day, less an hour for clock skew between the API and
// ClickHouse.
const realtimeHorizon = 23 * time.Hour

// realtimeRollup reports whether counts_minute answers realtime under f
// at wall-clock time now: whole minutes (the handler aligns them), no
// event-level filter and a range inside the rollup's horizon.
func (f filter) realtimeRollup(now time.Time) bool {
	return f.profile == "" && f.session == "" && len(f.props) == 0 && len(f.dims) == 0 &&
		f.from.Equal(f.from.Truncate(time.Minute)) && f.to.Equal(f.to.Truncate(time.Minute)) &&
		!f.from.Before(now.Add(-realtimeHorizon))
}

// realtimeSQL counts per minute of [from, to) the distinct events,
// visitors and sessions, plus the totals of the whole range (t = 0 row):
// from counts_minute when rollup (f must pass realtimeRollup; without an
// event type its rows of every type together, counts_minute_all_types),
// else from raw rows. Both answers are exact and equal.
func realtimeSQL(f filter, rollup bool) query {
	// countsMinuteAllTypes is counts_minute over every event type, per
	// source and under source_id '' over all sources (migration 0020): a
	// set per minute to merge instead of one per source and type, where a
	// visitor of several is in each.
	const countsMinuteAllTypes = schemas.Database + ".counts_minute_all_types"
	b := newBuilder()
	if rollup {
		table, c := countsMinute, []string{"minute >= " + b.hour(f.from), "minute < " + b.hour(f.to)}
		if len(f.types) > 0 {
			if f.source != "" {
				c = append(c, "source_id = "+b.str(f.source))
			}
			c = append(c, "event_type IN ("+strings.Join(b.strs(f.types), ", ")+")")
		} else {
			// source_id '' holds every source's rows together.
			table = countsMinuteAllTypes
			c = append(c, "source_id = "+b.str(f.source))
		}
		if !f.bots {
			c = append(c, "NOT is_bot")
		}
		return b.done("SELECT if(grouping(minute) = 1, 0, toUnixTimestamp(minute)) AS t, sum(events) AS events, " +
			"uniqExactMerge(visitors) AS visitors, uniqExactMerge(sessions) AS sessions " +
			"FROM " + table + " WHERE " + strings.Join(c, " AND ") +
			" GROUP BY GROUPING SETS ((minute), ()) ORDER BY t")
	}
	return b.done("SELECT if(grouping(m) = 1, 0, toUnixTimestamp(m)) AS t, " + b.eventCount(f, "") + " AS events, " +
		"uniqExactIf(" + visitorExpr + ", " + visitorExpr + " != '') AS visitors, " +
		"uniqExactIf(session_id, session_id != '') AS sessions " +
		"FROM " + eventsTable + " WHERE " + b.where(f, f.from) +
		" GROUP BY GROUPING SETS ((toStartOfMinute(toDateTime(event_time, 'UTC')) AS m), ()) ORDER BY t")
}

func dimensionNames() []string {
	return slices.Sorted(maps.Keys(dimensions))
}

// breakdownNames are the dimensions a breakdown may use: every filter
// dimension plus the entry and exit pages.
func breakdownNames() []string {
	return slices.Sorted(func(yield func(string) bool) {
		for _, m := range []map[string]string{dimensions, sessionPageDimensions} {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		}
	})
}
