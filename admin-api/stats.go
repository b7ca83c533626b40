package adminapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trackstream/trackstream/internal/store"
)

// Per-query ClickHouse limits besides the time limit
// (max_execution_time, from TRACKSTREAM_CLICKHOUSE_QUERY_TIMEOUT).
const (
	// maxResultRows caps the rows any statistics query returns; the
	// builders' own LIMITs and bucket caps stay below it.
	maxResultRows = 10_000
	// maxQueryMemory caps the memory of one query (bytes).
	maxQueryMemory = 2 << 30
	// maxResultBytes caps the bytes of any query's result, a backstop
	// behind the listings' own cut at maxListBytes.
	maxResultBytes = 32 << 20
)

// statsSettings are the ClickHouse settings every statistics query runs
// with: a time limit, a result row cap and a memory cap. The store adds
// readonly = 1.
func (s *Server) statsSettings() map[string]string {
	secs := int(math.Ceil(s.queryTimeout.Seconds()))
	return map[string]string{
		"max_execution_time":    strconv.Itoa(max(secs, 1)),
		"timeout_overflow_mode": "throw",
		"max_result_rows":       strconv.Itoa(maxResultRows),
		"max_result_bytes":      strconv.Itoa(maxResultBytes),
		"result_overflow_mode":  "throw",
		"max_memory_usage":      strconv.Itoa(maxQueryMemory),
		// Large GROUP BYs (per-session figures over many sessions) spill
		// to disk instead of hitting the memory cap.
		"max_bytes_before_external_group_by": strconv.Itoa(maxQueryMemory / 2),
	}
}

// runQuery runs q under the request's query timeout and decodes each row
// into a T.
func runQuery[T any](s *Server, r *http.Request, q query) ([]T, error) {
	ctx, cancel := s.queryContext(r)
	defer cancel()
	rows, err := s.deps.Events.QueryJSON(ctx, q.sql, q.params, s.statsSettings())
	if err != nil {
		return nil, queryError(err)
	}
	out := make([]T, len(rows))
	for i, raw := range rows {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			return nil, fmt.Errorf("decode clickhouse row %d: %w", i+1, err)
		}
	}
	return out, nil
}

// queryError maps ClickHouse's limit errors to answers that say what to
// do; other errors stay internal (logged, 500).
func queryError(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || store.IsTimeout(err):
		return errorf(http.StatusGatewayTimeout, "query_timeout", "the query ran longer than the query timeout (TRACKSTREAM_CLICKHOUSE_QUERY_TIMEOUT); narrow the time range or add filters")
	case store.IsMemoryLimit(err):
		return errorf(http.StatusServiceUnavailable, "query_too_large", "the query needed more than %d MiB; narrow the time range or add filters", maxQueryMemory>>20)
	case store.IsTooManyRows(err):
		return errorf(http.StatusServiceUnavailable, "query_too_large", "the answer has more than %d rows or %d MiB; narrow the query", maxResultRows, maxResultBytes>>20)
	}
	return fmt.Errorf("clickhouse query: %w", err)
}

// rangeJSON is the time range an answer covers.
type rangeJSON struct {
	From   string   `json:"from"`
	To     string   `json:"to"`
	Source string   `json:"source,omitempty"`
	Types  []string `json:"type,omitempty"`
}

func rangeOf(f filter) rangeJSON {
	return rangeJSON{From: f.from.Format(time.RFC3339Nano), To: f.to.Format(time.RFC3339Nano), Source: f.source, Types: f.types}
}

// summaryMetrics are the summary's figures for one period.
type summaryMetrics struct {
	Events             uint64  `json:"events"`
	Visitors           uint64  `json:"visitors"`
	Sessions           uint64  `json:"sessions"`
	Pageviews          uint64  `json:"pageviews"`
	BounceRate         float64 `json:"bounce_rate"`
	AvgSessionDuration float64 `json:"avg_session_duration"`
	// VisitorsEstimated says Visitors is an estimate (merged sketches of
	// the rollups, measured within 1.5% for totals and series, up to 4.4%
	// for breakdowns): not for a finalised period of one whole hour or
	// day, which reads exact visitors. Every other figure is exact.
	VisitorsEstimated bool `json:"visitors_estimated"`
}

type countsRow struct {
	Period    string `json:"period"`
	T         int64  `json:"t"`
	Events    uint64 `json:"events"`
	Visitors  uint64 `json:"visitors"`
	Sessions  uint64 `json:"sessions"`
	Pageviews uint64 `json:"pageviews"`
	// VisitorsExact says Visitors was read from visitors_exact (a
	// finalised hour or day), not merged from sketches.
	VisitorsExact bool `json:"visitors_exact"`
}

// sessionsRow is the session figures of a period or bucket: the
// sessions started in it (see sessions_sql.go), the bounced ones and
// their average duration in seconds.
type sessionsRow struct {
	Period      string  `json:"period"`
	T           int64   `json:"t"`
	Sessions    uint64  `json:"sessions"`
	Bounces     uint64  `json:"bounces"`
	AvgDuration float64 `json:"avg_duration"`
}

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return math.Round(float64(a)/float64(b)*1e4) / 1e4
}

func round3(v float64) float64 { return math.Round(v*1e3) / 1e3 }

// statsSummary: GET /api/v1/stats/summary — the figures of [from, to) and
// of the previous period of the same length.
func (s *Server) statsSummary(w http.ResponseWriter, r *http.Request, _ principal) error {
	p, err := newParams(r.URL.Query(), "prop.", append([]string{"profile", "session"}, filterParams...)...)
	if err != nil {
		return err
	}
	f, err := p.filter(s.now())
	if err != nil {
		return err
	}
	if err := p.eventFilters(&f); err != nil {
		return err
	}
	if err := s.knowCopies(r, &f); err != nil {
		return err
	}
	var counts []countsRow
	var sess []sessionsRow
	countsQ, sessQ := summaryCountsSQL(f), query{}
	err = concurrently(
		func() (err error) { counts, err = runQuery[countsRow](s, r, countsQ); return err },
		func() (err error) {
			sess, err = s.sessionRows(r, f, func(fin finalised) query { sessQ = sessionStatsSQL(f, fin); return sessQ })
			return err
		},
	)
	if err != nil {
		return err
	}
	rollup := f.countsRollup()
	// A period without events has no visitors, exactly.
	per := map[string]*summaryMetrics{"current": {}, "previous": {}}
	for _, c := range counts {
		if m := per[c.Period]; m != nil {
			m.Events, m.Visitors, m.Pageviews = c.Events, c.Visitors, c.Pageviews
			m.VisitorsEstimated = rollup && !c.VisitorsExact
		}
	}
	for _, c := range sess {
		if m := per[c.Period]; m != nil {
			m.Sessions, m.BounceRate, m.AvgSessionDuration = c.Sessions, ratio(c.Bounces, c.Sessions), round3(c.AvgDuration)
		}
	}
	prev := f.from.Add(-f.to.Sub(f.from))
	return writeJSON(w, http.StatusOK, map[string]any{
		"range":    rangeOf(f),
		"previous": map[string]any{"from": prev.Format(time.RFC3339Nano), "to": f.from.Format(time.RFC3339Nano), "metrics": per["previous"]},
		"metrics":  per["current"],
		"rollup":   rollup,
		"scanned":  countsQ.scans() || sessQ.scans(),
	})
}

// concurrently runs a and b at the same time (the counts and the session
// figures of one answer are independent queries, and the store has
// several connections) and returns the first error of a, then of b.
func concurrently(a, b func() error) error {
	done := make(chan error, 1)
	go func() { done <- b() }()
	errA := a()
	errB := <-done
	if errA != nil {
		return errA
	}
	return errB
}

type seriesPoint struct {
	T                  string  `json:"t"`
	Events             uint64  `json:"events"`
	Visitors           uint64  `json:"visitors"`
	Sessions           uint64  `json:"sessions"`
	Pageviews          uint64  `json:"pageviews"`
	BounceRate         float64 `json:"bounce_rate"`
	AvgSessionDuration float64 `json:"avg_session_duration"`
	// VisitorsEstimated says Visitors is an estimate from the rollups'
	// sketches; a finalised whole hour or day bucket reads exact visitors.
	VisitorsEstimated bool `json:"visitors_estimated"`
}

// statsSeries: GET /api/v1/stats/series — the figures per minute, hour,
// day or week (UTC; weeks start on Monday), every bucket present.
func (s *Server) statsSeries(w http.ResponseWriter, r *http.Request, _ principal) error {
	p, err := newParams(r.URL.Query(), "prop.", append([]string{"interval", "profile", "session"}, filterParams...)...)
	if err != nil {
		return err
	}
	f, err := p.filter(s.now())
	if err != nil {
		return err
	}
	if err := p.eventFilters(&f); err != nil {
		return err
	}
	if err := s.knowCopies(r, &f); err != nil {
		return err
	}
	ivS, err := p.str("interval", 8)
	if err != nil {
		return err
	}
	iv, err := parseInterval(ivS)
	if err != nil {
		return err
	}
	buckets, err := iv.buckets(f.from, f.to)
	if err != nil {
		return err
	}
	var counts []countsRow
	var sess []sessionsRow
	countsQ, sessQ := seriesCountsSQL(f, iv), query{}
	err = concurrently(
		func() (err error) { counts, err = runQuery[countsRow](s, r, countsQ); return err },
		func() (err error) {
			sess, err = s.sessionRows(r, f, func(fin finalised) query { sessQ = seriesSessionsSQL(f, iv, fin); return sessQ })
			return err
		},
	)
	if err != nil {
		return err
	}
	points := make([]seriesPoint, len(buckets))
	at := make(map[int64]*seriesPoint, len(buckets))
	for i, b := range buckets {
		points[i].T = b.Format(time.RFC3339)
		at[b.Unix()] = &points[i]
	}
	// A bucket without events has no visitors, exactly.
	rollup := seriesRollup(f, iv)
	for _, c := range counts {
		if pt := at[c.T]; pt != nil {
			pt.Events, pt.Visitors, pt.Pageviews = c.Events, c.Visitors, c.Pageviews
			pt.VisitorsEstimated = rollup && !c.VisitorsExact
		}
	}
	estimated := slices.ContainsFunc(points, func(p seriesPoint) bool { return p.VisitorsEstimated })
	for _, c := range sess {
		if pt := at[c.T]; pt != nil {
			pt.Sessions, pt.BounceRate, pt.AvgSessionDuration = c.Sessions, ratio(c.Bounces, c.Sessions), round3(c.AvgDuration)
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"range": rangeOf(f), "interval": iv, "points": points,
		"rollup": rollup, "visitors_estimated": estimated, "scanned": countsQ.scans() || sessQ.scans(),
	})
}

type breakdownRow struct {
	Value    string  `json:"value"`
	Events   uint64  `json:"events"`
	Visitors uint64  `json:"visitors"`
	Total    uint64  `json:"total,omitempty"`
	Share    float64 `json:"share"`
}

// statsBreakdown: GET /api/v1/stats/breakdown — the top values of a
// dimension or a property with their events, visitors and share of events.
func (s *Server) statsBreakdown(w http.ResponseWriter, r *http.Request, _ principal) error {
	p, err := newParams(r.URL.Query(), "prop.", append([]string{"dimension", "property", "limit", "profile", "session"}, filterParams...)...)
	if err != nil {
		return err
	}
	f, err := p.filter(s.now())
	if err != nil {
		return err
	}
	if err := p.eventFilters(&f); err != nil {
		return err
	}
	if err := s.knowCopies(r, &f); err != nil {
		return err
	}
	dim, err := p.str("dimension", 64)
	if err != nil {
		return err
	}
	prop, err := p.str("property", 400)
	if err != nil {
		return err
	}
	switch {
	case dim == "" && prop == "":
		return badRequest("missing_parameter", "dimension is required: one of %s, or dimension=property&property=<key>", strings.Join(breakdownNames(), ", "))
	case prop != "" && dim != "" && dim != "property":
		return badRequest("invalid_parameter", "property=<key> goes with dimension=property (or no dimension)")
	case dim == "property" && prop == "":
		return badRequest("missing_parameter", "dimension=property needs property=<key>")
	case prop != "" && !propKeyPattern.MatchString(prop):
		return badRequest("invalid_property", "property key %q: use letters, digits, _ $ - and dots between levels", clip(prop))
	}
	limit, err := p.int("limit", 10, 1, maxBreakdown)
	if err != nil {
		return err
	}
	var pageDays map[time.Time]bool
	if _, ok := sessionPageDimensions[dim]; ok && prop == "" {
		if pageDays, err = s.finalisedPageDays(r, f); err != nil {
			return err
		}
	}
	q, err := breakdownSQL(f, dim, prop, limit, pageDays)
	if err != nil {
		return err
	}
	rows, err := runQuery[breakdownRow](s, r, q)
	if err != nil {
		return err
	}
	var total uint64
	for i := range rows {
		total = rows[i].Total
		rows[i].Share = ratio(rows[i].Events, total)
		rows[i].Total = 0
	}
	if dim == "" {
		dim = "property"
	}
	rollup := typeRollup(f, dim, prop) || f.breakdownRollup(dim, prop) || strings.Contains(q.sql, sessionPagesDaily+" ")
	return writeJSON(w, http.StatusOK, map[string]any{
		"range": rangeOf(f), "dimension": dim, "property": prop, "total_events": total, "rows": nonNil(rows),
		"rollup": rollup, "visitors_estimated": rollup, "scanned": q.scans(),
	})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// eventRow is one event as the listing queries return it.
type eventRow struct {
	SourceID       string `json:"source_id"`
	EventID        string `json:"event_id"`
	Type           string `json:"event_type"`
	TimeMS         int64  `json:"time_ms"`
	ReceivedMS     int64  `json:"received_ms"`
	SessionID      string `json:"session_id"`
	ProfileID      string `json:"profile_id"`
	AnonymousID    string `json:"anonymous_id"`
	UserID         string `json:"user_id"`
	Name           string `json:"name"`
	URL            string `json:"url"`
	Path           string `json:"url_path"`
	Referrer       string `json:"referrer"`
	ReferrerHost   string `json:"referrer_host"`
	UTMSource      string `json:"utm_source"`
	UTMMedium      string `json:"utm_medium"`
	UTMCampaign    string `json:"utm_campaign"`
	Country        string `json:"country"`
	Browser        string `json:"browser"`
	OS             string `json:"os"`
	Device         string `json:"device_type"`
	Bot            bool   `json:"is_bot"`
	UserAgent      string `json:"user_agent"`
	PropertiesJSON string `json:"properties_json"`
	// ContextJSON is the context column's text: without the values the
	// url, referrer and user_agent columns hold (store.ContextAsSent).
	ContextJSON string `json:"context_json"`
}

// eventJSON is one event in an answer.
type eventJSON struct {
	SourceID     string          `json:"source_id"`
	EventID      string          `json:"event_id"`
	Type         string          `json:"type"`
	Time         string          `json:"time"`
	ReceivedAt   string          `json:"received_at"`
	SessionID    string          `json:"session_id,omitempty"`
	ProfileID    string          `json:"profile_id,omitempty"`
	AnonymousID  string          `json:"anonymous_id,omitempty"`
	UserID       string          `json:"user_id,omitempty"`
	Name         string          `json:"name,omitempty"`
	URL          string          `json:"url,omitempty"`
	Path         string          `json:"path,omitempty"`
	Referrer     string          `json:"referrer,omitempty"`
	ReferrerHost string          `json:"referrer_host,omitempty"`
	UTMSource    string          `json:"utm_source,omitempty"`
	UTMMedium    string          `json:"utm_medium,omitempty"`
	UTMCampaign  string          `json:"utm_campaign,omitempty"`
	Country      string          `json:"country,omitempty"`
	Browser      string          `json:"browser,omitempty"`
	OS           string          `json:"os,omitempty"`
	Device       string          `json:"device,omitempty"`
	Bot          bool            `json:"bot"`
	Properties   json.RawMessage `json:"properties"`
	Context      json.RawMessage `json:"context"`
}

func (e eventRow) json() eventJSON {
	obj := func(s string) json.RawMessage {
		if !json.Valid([]byte(s)) {
			return json.RawMessage(`{}`)
		}
		return json.RawMessage(s)
	}
	return eventJSON{
		SourceID: e.SourceID, EventID: e.EventID, Type: e.Type, Time: msTime(e.TimeMS), ReceivedAt: msTime(e.ReceivedMS),
		SessionID: e.SessionID, ProfileID: e.ProfileID, AnonymousID: e.AnonymousID, UserID: e.UserID, Name: e.Name,
		URL: e.URL, Path: e.Path, Referrer: e.Referrer, ReferrerHost: e.ReferrerHost,
		UTMSource: e.UTMSource, UTMMedium: e.UTMMedium, UTMCampaign: e.UTMCampaign,
		Country: e.Country, Browser: e.Browser, OS: e.OS, Device: e.Device, Bot: e.Bot,
		Properties: obj(e.PropertiesJSON), Context: obj(store.ContextAsSent(e.ContextJSON, e.URL, e.Referrer, e.UserAgent)),
	}
}

// searchEvents: GET /api/v1/events — events matching the filters, newest
// first, a page at a time (next_cursor continues).
func (s *Server) searchEvents(w http.ResponseWriter, r *http.Request, _ principal) error {
	return s.listEvents(w, r, "")
}

// profileTimeline: GET /api/v1/profiles/{id}/events — a profile's events,
// newest first, paged like the search.
func (s *Server) profileTimeline(w http.ResponseWriter, r *http.Request, _ principal) error {
	id := r.PathValue("id")
	if id == "" || len(id) > 256 {
		return badRequest("invalid_parameter", "the profile id is 1-256 bytes")
	}
	return s.listEvents(w, r, id)
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, profile string) error {
	known := append([]string{"limit", "cursor", "session", "profile"}, filterParams...)
	p, err := newParams(r.URL.Query(), "prop.", known...)
	if err != nil {
		return err
	}
	f, err := p.filter(s.now())
	if err != nil {
		return err
	}
	if err := p.eventFilters(&f); err != nil {
		return err
	}
	if profile != "" {
		if f.profile != "" && f.profile != profile {
			return badRequest("invalid_parameter", "profile is given in the path; leave the profile parameter out")
		}
		f.profile = profile
	}
	limit, err := p.int("limit", defaultPage, 1, maxPage)
	if err != nil {
		return err
	}
	cs, err := p.str("cursor", 600)
	if err != nil {
		return err
	}
	var after *eventCursor
	if cs != "" {
		c, err := parseEventCursor(cs)
		if err != nil {
			return err
		}
		after = &c
	}
	sizes, err := s.searchPage(r, f, after, limit)
	if err != nil {
		return err
	}
	out := map[string]any{"range": rangeOf(f)}
	n := withinBytes(sizes, limit)
	if n < len(sizes) {
		last := sizes[n-1]
		out["next_cursor"] = eventCursor{t: time.UnixMilli(last.TimeMS).UTC(), source: last.SourceID, id: last.EventID}.String()
	}
	rows, err := s.eventsByKey(r, sizes[:n], false)
	if err != nil {
		return err
	}
	events := make([]eventJSON, len(rows))
	for i, e := range rows {
		events[i] = e.json()
	}
	out["events"] = events
	return writeJSON(w, http.StatusOK, out)
}

// searchWindows are the spans, back from the newest end of the range
// (or the cursor), that event search tries before the whole range. A
// listing is newest first, so the newest window that holds a full page
// (limit+1 distinct events) gives exactly the page the whole range gives:
// every event outside it is older than every event in it, and an event's
// copies are ranked by the newest one, which is inside. Pages of recent
// events then read hours of data instead of the whole range.
var searchWindows = []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// maxListBytes bounds the event data of one listing answer (search,
// timeline, session): a page ends early, with a next_cursor, once its
// events hold this many bytes, so an answer holds at most maxListBytes
// plus one event whatever the page size and the events' size.
const maxListBytes = 4 << 20

// eventSize is an event's place in a listing and its estimated bytes.
type eventSize struct {
	SourceID  string `json:"source_id"`
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	TimeMS    int64  `json:"time_ms"`
	Bytes     int64  `json:"row_bytes"`
}

// withinBytes is how many of sizes, in answer order, make one answer:
// at most limit, and no more once maxListBytes is reached (at least one).
func withinBytes(sizes []eventSize, limit int) int {
	var n int
	var total int64
	for n < len(sizes) && n < limit && (n == 0 || total+sizes[n].Bytes <= maxListBytes) {
		total += sizes[n].Bytes
		n++
	}
	return n
}

// eventsByKey reads the listed events' answer columns.
func (s *Server) eventsByKey(r *http.Request, keys []eventSize, ascending bool) ([]eventRow, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	return runQuery[eventRow](s, r, eventsByKeySQL(keys, ascending))
}

// searchPage returns the sizes of up to limit+1 events of f after the
// cursor, newest first: from the first of the searchWindows that holds
// that many, else from the whole range. Searches for one profile or
// session (few rows, found through skip indexes) take the whole range at
// once.
func (s *Server) searchPage(r *http.Request, f filter, after *eventCursor, limit int) ([]eventSize, error) {
	end := f.to
	if after != nil && after.t.Before(end) {
		// Rows after the cursor are at or before its millisecond.
		end = after.t.Add(time.Millisecond)
	}
	if f.profile == "" && f.session == "" {
		for _, w := range searchWindows {
			win := f
			win.from = end.Add(-w)
			if !win.from.After(f.from) {
				break
			}
			rows, done, err := s.searchWindow(r, win, end, after, limit, false)
			if err != nil || done {
				return rows, err
			}
		}
	}
	rows, _, err := s.searchWindow(r, f, end, after, limit, true)
	return rows, err
}

// searchSlack is how many rows past a page searchWindow asks newestSQL
// for: room for the copies of an event, the events at one millisecond
// that a page's last events may share and the ones at the cursor's
// millisecond already listed, before it needs the exact listing.
const searchSlack = 16

// searchWindow lists up to limit+1 events of f after the cursor (rows
// before end, the cursor's next millisecond), newest first, when f holds
// that many (done), or when whole, all of them; else nothing (a wider
// window may hold a page).
//
// It takes the limit+1+searchSlack newest rows before end by time alone
// (newestSQL), drops those at or before the cursor in listing order and
// puts the rest in listing order, each event once at its newest copy.
// Every row newer than the oldest of them (cut) is among them, so the
// events newer than cut are exactly the first events of the listing: the
// answer is a page when at least limit of them are newer than cut and one
// more event follows, or when the rows are all f holds. Else (copies or
// events sharing a millisecond crowd the rows) the exact listing of f
// (searchSQL) answers.
func (s *Server) searchWindow(r *http.Request, f filter, end time.Time, after *eventCursor, limit int, whole bool) ([]eventSize, bool, error) {
	n := limit + 1 + searchSlack
	before := f
	before.to = end
	rows, err := runQuery[eventSize](s, r, newestSQL(before, n))
	if err != nil {
		return nil, false, err
	}
	all := len(rows) < n
	var cut int64
	if len(rows) > 0 {
		cut = slices.MinFunc(rows, func(a, b eventSize) int { return cmp.Compare(a.TimeMS, b.TimeMS) }).TimeMS
	}
	if after != nil {
		last := eventSize{TimeMS: after.t.UnixMilli(), SourceID: after.source, EventID: after.id}
		rows = slices.DeleteFunc(rows, func(e eventSize) bool { return listedBefore(last, e) >= 0 })
	}
	page := listingOrder(rows)
	switch {
	case all:
		// Every row of f after the cursor.
		return page[:min(len(page), limit+1)], len(page) > limit || whole, nil
	case len(page) > limit && page[limit-1].TimeMS > cut:
		return page[:limit+1], true, nil
	}
	page, err = runQuery[eventSize](s, r, searchSQL(f, after, limit))
	return page, err != nil || len(page) > limit || whole, err
}

// listedBefore orders events as a listing does (newest first; at one
// millisecond by source, then event id, descending): negative when a
// comes before b, 0 for the same place.
func listedBefore(a, b eventSize) int {
	if c := cmp.Compare(b.TimeMS, a.TimeMS); c != 0 {
		return c
	}
	if c := strings.Compare(b.SourceID, a.SourceID); c != 0 {
		return c
	}
	return strings.Compare(b.EventID, a.EventID)
}

// listingOrder puts rows in listing order (listedBefore) and keeps each
// event's first, newest copy: what searchSQL's ORDER BY and LIMIT 1 BY
// do.
func listingOrder(rows []eventSize) []eventSize {
	slices.SortStableFunc(rows, listedBefore)
	type key struct{ source, id string }
	seen := make(map[key]bool, len(rows))
	return slices.DeleteFunc(rows, func(e eventSize) bool {
		k := key{e.SourceID, e.EventID}
		if seen[k] {
			return true
		}
		seen[k] = true
		return false
	})
}

// sessionDetail: GET /api/v1/sessions/{id} — a session's figures and its
// events, oldest first (at most maxSessionEvents).
func (s *Server) sessionDetail(w http.ResponseWriter, r *http.Request, _ principal) error {
	id := r.PathValue("id")
	if id == "" || len(id) > 256 {
		return badRequest("invalid_parameter", "the session id is 1-256 bytes")
	}
	p, err := newParams(r.URL.Query(), "", filterParams...)
	if err != nil {
		return err
	}
	f, err := p.filter(s.now())
	if err != nil {
		return err
	}
	f.session = id
	sizes, err := runQuery[eventSize](s, r, sessionEventsSQL(f, maxSessionEvents))
	if err != nil {
		return err
	}
	if len(sizes) == 0 {
		return errorf(http.StatusNotFound, "session_not_found", "no events of session %q between %s and %s; widen from/to", clip(id), f.from.Format(time.RFC3339), f.to.Format(time.RFC3339))
	}
	n := withinBytes(sizes, maxSessionEvents)
	truncated := n < len(sizes)
	rows, err := s.eventsByKey(r, sizes[:n], true)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return errorf(http.StatusNotFound, "session_not_found", "the events of session %q are gone (expired while read); retry", clip(id))
	}
	events := make([]eventJSON, len(rows))
	var pageviews int
	var entry, exit, profile string
	for i, e := range rows {
		events[i] = e.json()
		if isPageType(e.Type) {
			pageviews++
			if entry == "" {
				entry = e.Path
			}
			exit = e.Path
		}
		if profile == "" {
			profile = e.ProfileID
		}
	}
	first, last := rows[0].TimeMS, rows[len(rows)-1].TimeMS
	return writeJSON(w, http.StatusOK, map[string]any{
		"session_id": id, "profile_id": profile,
		"first": msTime(first), "last": msTime(last), "duration": float64(last-first) / 1000,
		"event_count": len(rows), "pageviews": pageviews, "entry_page": entry, "exit_page": exit,
		"truncated": truncated, "events": events,
	})
}

func isPageType(t string) bool { return t == "page" || t == "page-view" || t == "screen" }

// statsFunnel: GET /api/v1/stats/funnel — visitors reaching each ordered
// step within window of their first step.
func (s *Server) statsFunnel(w http.ResponseWriter, r *http.Request, _ principal) error {
	p, err := newParams(r.URL.Query(), "prop.", append([]string{"step", "window"}, filterParams...)...)
	if err != nil {
		return err
	}
	f, err := p.filter(s.now())
	if err != nil {
		return err
	}
	if err := p.eventFilters(&f); err != nil {
		return err
	}
	if len(f.types) > 0 {
		return badRequest("invalid_parameter", "a funnel's event types are its steps; leave type out")
	}
	steps, err := parseSteps(p.q["step"])
	if err != nil {
		return err
	}
	win := 24 * time.Hour
	if ws, err := p.str("window", 16); err != nil {
		return err
	} else if ws != "" {
		if win, err = time.ParseDuration(ws); err != nil || win < time.Second || win > 90*24*time.Hour {
			return badRequest("invalid_parameter", "window must be a duration from 1s to 2160h (e.g. 30m, 24h)")
		}
	}
	type levelRow struct {
		Level    int    `json:"level"`
		Visitors uint64 `json:"visitors"`
	}
	q := funnelSQL(f, steps, win)
	rows, err := runQuery[levelRow](s, r, q)
	if err != nil {
		return err
	}
	reached := make([]uint64, len(steps))
	for _, row := range rows {
		for i := 0; i < row.Level && i < len(steps); i++ {
			reached[i] += row.Visitors
		}
	}
	type stepJSON struct {
		Step           string  `json:"step"`
		Visitors       uint64  `json:"visitors"`
		Conversion     float64 `json:"conversion"`
		StepConversion float64 `json:"step_conversion"`
	}
	out := make([]stepJSON, len(steps))
	for i, st := range steps {
		out[i] = stepJSON{Step: st.String(), Visitors: reached[i], Conversion: ratio(reached[i], reached[0]), StepConversion: 1}
		if i > 0 {
			out[i].StepConversion = ratio(reached[i], reached[i-1])
		}
		if reached[0] == 0 {
			out[i].Conversion, out[i].StepConversion = 0, 0
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"range": rangeOf(f), "window": win.String(), "steps": out, "scanned": q.scans()})
}

// statsRealtime: GET /api/v1/stats/realtime — events and active visitors
// in the last minutes (default 5, at most 60: the current minute and the
// ones before it), per minute and in total. Exact: from the minute rollup
// for recent ranges, raw events otherwise.
func (s *Server) statsRealtime(w http.ResponseWriter, r *http.Request, _ principal) error {
	p, err := newParams(r.URL.Query(), "", "minutes", "source", "type", "bots")
	if err != nil {
		return err
	}
	mins, err := p.int("minutes", 5, 1, 60)
	if err != nil {
		return err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	f, err := p.filter(now)
	if err != nil {
		return err
	}
	if err := s.knowCopies(r, &f); err != nil {
		return err
	}
	// Whole minutes: the current one and the mins-1 before it.
	f.to = now.Truncate(time.Minute).Add(time.Minute)
	f.from = f.to.Add(-time.Duration(mins) * time.Minute)
	// The rollup's horizon is ClickHouse's clock (its TTL), not s.now.
	rollup := f.realtimeRollup(time.Now())
	q := realtimeSQL(f, rollup)
	rows, err := runQuery[countsRow](s, r, q)
	if err != nil {
		return err
	}
	type minuteJSON struct {
		T        string `json:"t"`
		Events   uint64 `json:"events"`
		Visitors uint64 `json:"visitors"`
	}
	buckets, _ := minute.buckets(f.from, f.to)
	per := make([]minuteJSON, len(buckets))
	at := map[int64]*minuteJSON{}
	for i, b := range buckets {
		per[i].T = b.Format(time.RFC3339)
		at[b.Unix()] = &per[i]
	}
	var total countsRow
	for _, row := range rows {
		if row.T == 0 {
			total = row
		} else if m := at[row.T]; m != nil {
			m.Events, m.Visitors = row.Events, row.Visitors
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"range": rangeOf(f), "minutes": mins, "rollup": rollup, "scanned": q.scans(),
		"events": total.Events, "visitors": total.Visitors, "sessions": total.Sessions, "per_minute": per,
	})
}
