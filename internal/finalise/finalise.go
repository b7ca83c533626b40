// Package finalise keeps the figures of closed hours and days that
// dashboards read as a few rows instead of grouping every session or
// counting every visitor: trackstream.sessions_hourly, the session figures
// of closed hours (migration 0006), trackstream.sessions_by_type, the same
// per event type (migration 0018), trackstream.visitors_exact, the exact
// unique visitors of closed hours and days (migration 0019), and
// trackstream.session_pages, the entry and exit pages of closed days
// (migrations 0009, 0014). One job: a pass finds the hours to (re)compute
// and recomputes each of their UTC days, the figures from the per-session
// rollup events_sessions, the figures per event type and the visitors
// from the days' events and, for days that are over, the pages from the
// day's events; Run makes a pass every interval.
//
// An hour is finalised once it is closed (now >= hour + lateness) and
// recomputed when it is 24 h old (its UTC day, the longest a session can
// run, is over), when a later pass of its day runs (each new closed hour
// recomputes its day's closed hours), and when its day received events
// after it ended (trackstream.sessions_dirty). A day's pages are written
// with its hours once every hour of the day is closed, and a day that is
// over and has no pages yet is recomputed whole, as is a day with an hour
// finalised without per-minute rows (before migration 0015) or without
// figures per event type (before migration 0018) or without exact
// visitors (before migration 0019). A pass starts at the earliest hour
// with session data, so a data directory written before migration 0006,
// 0009, 0015, 0018 or 0019 is caught up on the first pass.
//
// With an events TTL (Settings.TTL) a day is recomputed only while none of
// its raw events can have expired: a day past that horizon keeps the rows
// it was finalised with, whatever marks it (a late event, a missing
// marker); Pass counts such days and Run reports them once.
//
// Passes are idempotent and may run in several processes at once: a pass
// writes every row of the hours it computes, and a marker row per hour,
// in one insert under a version of its own, and readers take each hour's
// newest version, so two passes never add up.
package finalise

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trackstream/trackstream/schemas"
)

// Store is what the finaliser needs of ClickHouse: read-only queries
// answered as JSON rows and writing statements, both with server-side
// parameters. Both stores of internal/store have them.
type Store interface {
	QueryJSON(ctx context.Context, sql string, params, settings map[string]string) ([]json.RawMessage, error)
	Write(ctx context.Context, sql string, params map[string]string) error
}

// Settings are the finaliser's timing (defaults in internal/config).
type Settings struct {
	// Interval is the time between passes.
	Interval time.Duration
	// Lateness is how long after an hour's start it is first finalised.
	Lateness time.Duration
	// TTL is the events table's TTL (internal/config ClickHouse.TTL; the
	// store applies it in whole hours); 0: events are kept. The finaliser
	// never recomputes a day any of whose events may have expired.
	TTL time.Duration
}

const (
	sessionsTable  = schemas.Database + ".events_sessions"
	sessionsHourly = schemas.Database + ".sessions_hourly"
	sessionsByType = schemas.Database + ".sessions_by_type"
	sessionsDirty  = schemas.Database + ".sessions_dirty"
	sessionPages   = schemas.Database + ".session_pages"
	visitorsExact  = schemas.Database + ".visitors_exact"
	eventsTable    = schemas.Database + ".events"

	// recheckAfter is the age at which an hour is recomputed once more:
	// its UTC day is over, so every session that started in it is whole.
	recheckAfter = 24 * time.Hour
	// dirtySlack is how much earlier than a pass a day's late-event mark
	// may be and still make the day recompute: insert times come from the
	// ClickHouse clock and versions from this process's.
	dirtySlack = 5 * time.Minute
	day        = 24 * time.Hour
	// maxSpanDays is the most UTC days one statement recomputes.
	maxSpanDays = 7
	// ttlMargin is how long before its first events reach the TTL a day
	// stops being recomputed. ClickHouse drops expired rows by its own
	// clock, which may run minutes ahead of this process's (dirtySlack),
	// and a pass's statements run after the now it was given, minutes
	// later for a catch-up of many days; an hour covers both with room, and
	// costs only that a day is left alone an hour earlier.
	ttlMargin = time.Hour
)

// Finaliser writes the finalised figures. Its passes are serialised by Run;
// Pass may be called directly (tests, a one-off catch-up).
type Finaliser struct {
	st  Store
	set Settings
	log *slog.Logger
	m   *metrics

	// reported is the expired days (and their marks) Run last logged, so
	// that the same days are logged once, not at every pass.
	reported string
}

// New returns a finaliser over st, its metrics registered on reg.
func New(st Store, set Settings, log *slog.Logger, reg prometheus.Registerer) (*Finaliser, error) {
	if set.Interval <= 0 || set.Lateness < time.Hour || set.Lateness > 23*time.Hour {
		return nil, fmt.Errorf("session finaliser: interval %s must be positive and lateness %s within 1h-23h", set.Interval, set.Lateness)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	if ttl := set.TTL.Truncate(time.Hour); ttl > 0 && ttl < shortestFullTTL {
		log.Warn("the events TTL is shorter than the session finaliser needs: a day's last hours lose their re-check a day later (sessions going on past a pass, late events), "+
			"and below a day plus the lateness some closed hours are never finalised and are answered from the rollups and raw events as before finalisation; "+
			"set TRACKSTREAM_CLICKHOUSE_TTL to at least "+shortestFullTTL.String()+" to keep them exact",
			"ttl", ttl, "lateness", set.Lateness)
	}
	return &Finaliser{st: st, set: set, log: log, m: m}, nil
}

// shortestFullTTL is the shortest events TTL under which the finaliser
// still makes every pass a day needs: the day's last hour is re-checked a
// day after it closed, two days after the day's start, and a day is left
// alone ttlMargin before its first events expire.
const shortestFullTTL = 2*day + ttlMargin

// Run makes a pass at once and then every interval until ctx ends. A
// failed pass is logged, counted and tried again at the next interval.
func (f *Finaliser) Run(ctx context.Context) error {
	t := time.NewTicker(f.set.Interval)
	defer t.Stop()
	for {
		start := time.Now()
		res, err := f.Pass(ctx, start)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				f.m.errors.Inc()
				f.log.Warn("session finaliser pass failed; retrying at the next interval", "error", err, "interval", f.set.Interval)
			}
		case res.Hours > 0:
			f.log.Info("finalised session figures", "days", res.Days, "hours", res.Hours, "corrections", res.Corrections,
				"finalised_until", res.Until, "took", time.Since(start).Round(time.Millisecond))
		}
		if e := res.Expired; err == nil && e.Days > 0 && e.key != f.reported {
			f.reported = e.key
			f.log.Warn("session finaliser left days alone: some of their raw events may have expired under the events TTL, and figures recomputed from the rest would be too small; "+
				"their finalised rows stay as they were, their hours never finalised are answered as before finalisation",
				"days", e.Days, "first", e.First.Format(time.DateOnly), "last", e.Last.Format(time.DateOnly), "with_late_events", e.Dirty, "ttl", f.set.TTL)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Result is what one pass did.
type Result struct {
	// Days and Hours are the days recomputed and the hours written.
	Days, Hours int
	// Corrections are the hours, finalised before, whose figures changed.
	Corrections int
	// Until is the end of the finalised hours after the pass (zero: none).
	Until time.Time
	// Expired are the days that needed a pass but were left alone: past
	// the events TTL (Settings.TTL), some of their events may be gone.
	Expired Expired
}

// Expired are days a pass left alone because of the events TTL.
type Expired struct {
	// Days is how many days needed a pass; Dirty how many of them received
	// events after their last pass (a day may also need one for hours never
	// finalised, not re-checked at 24 h or finalised before a migration, or
	// for its pages).
	Days, Dirty int
	// First and Last are the first and last of them.
	First, Last time.Time
	// key identifies the days and their marks, for Run to log a change.
	key string
}

// Pass finalises, as of now, every closed hour that needs it, a UTC day
// at a time in ascending order, stopping at the first error.
func (f *Finaliser) Pass(ctx context.Context, now time.Time) (Result, error) {
	var res Result
	now = now.UTC()
	end := now.Add(-f.set.Lateness).Truncate(time.Hour).Add(time.Hour) // hours before end are closed
	st, err := f.state(ctx)
	if err != nil {
		return res, err
	}
	first := st.firstData
	for h := range st.versions {
		if first.IsZero() || h.Before(first) {
			first = h
		}
	}
	if !first.IsZero() {
		// Consecutive days that need a pass are computed together, up to
		// maxSpanDays at a time (a catch-up over many quiet days is a few
		// statements, not one per day).
		var lo time.Time
		flush := func(hi time.Time) error {
			if lo.IsZero() {
				return nil
			}
			n, err := f.finaliseSpan(ctx, lo, hi, st.newVersion(lo, hi, now))
			if err != nil {
				return err
			}
			res.Days += int((hi.Sub(lo) + day - 1) / day)
			res.Hours += int(hi.Sub(lo) / time.Hour)
			res.Corrections += n
			for h := lo; h.Before(hi); h = h.Add(time.Hour) {
				st.versions[h] = 0 // present; the value no longer matters
				delete(st.noMinutes, h)
				st.typed[h] = true
				st.exact[h] = true
			}
			for d := lo; !d.Add(day).After(hi); d = d.Add(day) {
				st.pages[d] = true
			}
			lo = time.Time{}
			return nil
		}
		d := first.Truncate(day)
		// Days before keep may have lost events to the TTL: needs() is asked
		// only to report them.
		for keep := f.keepFrom(now); d.Before(keep) && d.Before(end); d = d.Add(day) {
			if !st.needs(d, minTime(d.Add(day), end), now) {
				continue
			}
			e := &res.Expired
			if e.Days == 0 {
				e.First = d
			}
			e.Days, e.Last = e.Days+1, d
			mark, dirty := st.dirty[d]
			if dirty {
				e.Dirty++
			}
			e.key += fmt.Sprintf("%d:%d,", d.Unix(), mark.UnixMilli())
		}
		for ; d.Before(end); d = d.Add(day) {
			hi := minTime(d.Add(day), end)
			if !st.needs(d, hi, now) {
				if err := flush(d); err != nil {
					return res, err
				}
				continue
			}
			if lo.IsZero() {
				lo = d
			} else if d.Sub(lo) >= maxSpanDays*day {
				if err := flush(d); err != nil {
					return res, err
				}
				lo = d
			}
		}
		if err := flush(minTime(d, end)); err != nil {
			return res, err
		}
	}
	for h := range st.versions {
		if u := h.Add(time.Hour); u.After(res.Until) {
			res.Until = u
		}
	}
	if !res.Until.IsZero() {
		f.m.until.Set(float64(res.Until.Unix()))
		f.m.lag.Set(now.Sub(res.Until).Seconds())
	}
	f.m.hours.Add(float64(res.Hours))
	f.m.expired.Set(float64(res.Expired.Days))
	f.m.corrections.Add(float64(res.Corrections))
	return res, nil
}

// keepFrom is the first day a pass at now may recompute: every day before
// it may have lost events to the TTL (its first hour's events expire
// TTL after its start, ttlMargin early here). Zero without a TTL.
func (f *Finaliser) keepFrom(now time.Time) time.Time {
	ttl := f.set.TTL.Truncate(time.Hour) // as the store applies it
	if ttl <= 0 {
		return time.Time{}
	}
	// The days d with d + ttl - ttlMargin > now.
	return now.Add(ttlMargin - ttl).Truncate(day).Add(day)
}

// state is what sessions_hourly, events_sessions and sessions_dirty say
// before a pass.
type state struct {
	// versions is the newest version of every finalised hour.
	versions map[time.Time]uint64
	// noMinutes are the finalised hours whose newest version has no
	// per-minute rows (written before migration 0015).
	noMinutes map[time.Time]bool
	// typed are the hours with figures per event type (a marker row in
	// sessions_by_type; hours finalised before migration 0018 have none).
	typed map[time.Time]bool
	// exact are the hours with exact visitors (a marker row in
	// visitors_exact; hours finalised before migration 0019 have none).
	exact map[time.Time]bool
	// firstData is the earliest hour with session data (zero: none).
	firstData time.Time
	// dirty is, per day, when it last received events after it ended.
	dirty map[time.Time]time.Time
	// pages are the days whose entry and exit pages are written.
	pages map[time.Time]bool
}

// versionTime is when the pass that wrote version v ran: versions are
// milliseconds times versionSpread plus a random part, so two passes at
// the same millisecond (two processors) still write different versions.
func versionTime(v uint64) time.Time { return time.UnixMilli(int64(v / versionSpread)).UTC() }

const versionSpread = 1_000_000

// newVersion is the version of a pass over [d, hi) at now: after every
// version those hours have (a clock behind another processor's, or a
// repeated pass at one instant, still supersedes what it recomputes).
func (s *state) newVersion(d, hi, now time.Time) uint64 {
	v := uint64(now.UnixMilli())*versionSpread + uint64(rand.IntN(versionSpread))
	for h := d; h.Before(hi); h = h.Add(time.Hour) {
		if old := s.versions[h]; old >= v {
			v = old + 1 + uint64(rand.IntN(versionSpread))
		}
	}
	return v
}

// needs reports whether the hours [d, hi) of day d need a pass at now:
// one is not finalised or has no per-minute rows, no figures per event
// type or no exact visitors, one is due its re-check, the day received events
// after its last pass, or the day is over (hi is its end) and its pages
// are not written.
func (s *state) needs(d, hi, now time.Time) bool {
	if hi.Equal(d.Add(day)) && !s.pages[d] {
		return true
	}
	oldest := time.Time{}
	for h := d; h.Before(hi); h = h.Add(time.Hour) {
		v, ok := s.versions[h]
		if !ok || s.noMinutes[h] || !s.typed[h] || !s.exact[h] {
			return true
		}
		at := versionTime(v)
		if !now.Before(h.Add(recheckAfter)) && at.Before(h.Add(recheckAfter)) {
			return true
		}
		if oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
	}
	mark, ok := s.dirty[d]
	return ok && mark.After(oldest.Add(-dirtySlack))
}

func (f *Finaliser) state(ctx context.Context) (*state, error) {
	st := &state{versions: map[time.Time]uint64{}, noMinutes: map[time.Time]bool{}, typed: map[time.Time]bool{}, exact: map[time.Time]bool{}, dirty: map[time.Time]time.Time{}, pages: map[time.Time]bool{}}
	var marks []struct {
		H int64  `json:"h"`
		V uint64 `json:"v"`
		M uint8  `json:"m"`
	}
	// A marker written with per-minute rows has minute = hour (0015).
	if err := f.query(ctx, &marks, "SELECT toUnixTimestamp(hour) AS h, max(version) AS v, argMax(minute, version) = hour AS m FROM "+sessionsHourly+" WHERE source_id = '' GROUP BY hour", nil); err != nil {
		return nil, err
	}
	for _, m := range marks {
		h := time.Unix(m.H, 0).UTC()
		st.versions[h] = m.V
		if m.M == 0 {
			st.noMinutes[h] = true
		}
	}
	var typed []struct {
		H int64 `json:"h"`
	}
	if err := f.query(ctx, &typed, "SELECT toUnixTimestamp(hour) AS h FROM "+sessionsByType+" WHERE event_type = '' AND source_id = '' GROUP BY hour", nil); err != nil {
		return nil, err
	}
	for _, m := range typed {
		st.typed[time.Unix(m.H, 0).UTC()] = true
	}
	var exact []struct {
		H int64 `json:"h"`
	}
	if err := f.query(ctx, &exact, "SELECT toUnixTimestamp(start) AS h FROM "+visitorsExact+" WHERE event_type = '' AND source_id = '' AND hours = 1 GROUP BY start", nil); err != nil {
		return nil, err
	}
	for _, m := range exact {
		st.exact[time.Unix(m.H, 0).UTC()] = true
	}
	var first []struct {
		H int64 `json:"h"`
		N int64 `json:"n"`
	}
	if err := f.query(ctx, &first, "SELECT toUnixTimestamp(min(hour)) AS h, count() AS n FROM "+sessionsTable, nil); err != nil {
		return nil, err
	}
	if len(first) == 1 && first[0].N > 0 {
		st.firstData = time.Unix(first[0].H, 0).UTC()
	}
	var dirty []struct {
		D int64 `json:"d"`
		M int64 `json:"m"`
	}
	if err := f.query(ctx, &dirty, "SELECT toUnixTimestamp(toDateTime(day, 'UTC')) AS d, toUnixTimestamp64Milli(max(marked_at)) AS m FROM "+sessionsDirty+" GROUP BY day", nil); err != nil {
		return nil, err
	}
	for _, d := range dirty {
		st.dirty[time.Unix(d.D, 0).UTC()] = time.UnixMilli(d.M).UTC()
	}
	var pages []struct {
		D int64 `json:"d"`
	}
	if err := f.query(ctx, &pages, "SELECT toUnixTimestamp(toDateTime(day, 'UTC')) AS d FROM "+sessionPages+" WHERE source_id = '' GROUP BY day", nil); err != nil {
		return nil, err
	}
	for _, d := range pages {
		st.pages[time.Unix(d.D, 0).UTC()] = true
	}
	return st, nil
}

// finaliseSQL writes the figures of the sessions that started in
// [lo, hi) (reading the whole days [d0, d1)) per start hour and minute,
// and a marker row per hour (minute = hour), under one version.
// A session is (source_id, session_id, UTC day); its start is its first
// event, its bot flag that event's (a tie counts as human), a bounce when
// it has one distinct event, its duration from its first to its last
// event. The admin API's open tail (admin-api/sessions_sql.go) groups the
// same way.
const finaliseSQL = "INSERT INTO " + sessionsHourly + " (source_id, hour, is_bot, minute, sessions, bounces, duration_ms, version) " +
	"SELECT source_id, hour, is_bot, minute, sum(n), sum(nb), sum(ms), {v:UInt64} FROM (" +
	"SELECT source_id, toStartOfHour(toDateTime(start, 'UTC')) AS hour, bot AS is_bot, toStartOfMinute(toDateTime(start, 'UTC')) AS minute, toUInt64(1) AS n, toUInt64(single) AS nb, toUInt64(dur) AS ms FROM (" +
	"SELECT source_id, min(first) AS start, argMin(is_bot, (first, is_bot)) AS bot, min(min_event) = max(max_event) AS single, " +
	"dateDiff('millisecond', min(first), max(last)) AS dur FROM " + sessionsTable +
	" WHERE hour >= {d0:DateTime('UTC')} AND hour < {d1:DateTime('UTC')} GROUP BY source_id, session_id, toDate(hour)" +
	" HAVING start >= {lo:DateTime('UTC')} AND start < {hi:DateTime('UTC')})" +
	" UNION ALL SELECT '' AS source_id, toDateTime(toUnixTimestamp({lo:DateTime('UTC')}) + 3600 * number, 'UTC') AS hour, false AS is_bot, hour AS minute, " +
	"toUInt64(0) AS n, toUInt64(0) AS nb, toUInt64(0) AS ms FROM numbers({hours:UInt32})" +
	") GROUP BY source_id, hour, is_bot, minute"

// byTypeSQL writes finaliseSQL's rows per event type into
// sessions_by_type, with a marker row per hour (event_type and source_id
// empty, minute = hour), under one version: the sessions made of one type's
// events only (the key, start, bot flag, bounce and duration as in
// finaliseSQL, over that type's events), read from the days' events
// (events_sessions has no type). The admin API's raw path
// (admin-api/sessions_sql.go, sessionsFromEvents with one type) groups
// the same way.
const byTypeSQL = "INSERT INTO " + sessionsByType + " (event_type, source_id, hour, is_bot, minute, sessions, bounces, duration_ms, version) " +
	"SELECT event_type, source_id, hour, is_bot, minute, sum(n), sum(nb), sum(ms), {v:UInt64} FROM (" +
	"SELECT event_type, source_id, toStartOfHour(toDateTime(start, 'UTC')) AS hour, bot AS is_bot, toStartOfMinute(toDateTime(start, 'UTC')) AS minute, toUInt64(1) AS n, toUInt64(single) AS nb, toUInt64(dur) AS ms FROM (" +
	"SELECT event_type, source_id, min(event_time) AS start, argMin(is_bot, (event_time, is_bot)) AS bot, min(event_id) = max(event_id) AS single, " +
	"dateDiff('millisecond', min(event_time), max(event_time)) AS dur FROM " + eventsTable +
	" WHERE event_time >= {d0:DateTime64(3, 'UTC')} AND event_time < {d1:DateTime64(3, 'UTC')} AND session_id != ''" +
	" GROUP BY event_type, source_id, session_id, toDate(event_time)" +
	" HAVING start >= {lo:DateTime('UTC')} AND start < {hi:DateTime('UTC')})" +
	" UNION ALL SELECT '' AS event_type, '' AS source_id, toDateTime(toUnixTimestamp({lo:DateTime('UTC')}) + 3600 * number, 'UTC') AS hour, false AS is_bot, hour AS minute, " +
	"toUInt64(0) AS n, toUInt64(0) AS nb, toUInt64(0) AS ms FROM numbers({hours:UInt32})" +
	") GROUP BY event_type, source_id, hour, is_bot, minute"

// visitorsSQL writes the exact unique visitors of the hours [lo, hi) and
// of the whole days among them (those before {days_end}), under one
// version: per event type and source, per type over all sources (source
// empty), per source over all types (type empty) and over everything, each per
// hour (hours = 1) and per day (hours = 24), with bots (visitors) and
// without (human_visitors: the visitors with a human event in the
// period), plus a marker row (type and source empty) for every hour and
// whole day, with or without visitors. A visitor is the admin API's
// (visitorExpr); events without one are left out, as there. uniqExact
// counts each visitor once however many copies of its events are stored.
const visitorsSQL = "INSERT INTO " + visitorsExact + " (event_type, source_id, hours, start, visitors, human_visitors, version) " +
	"SELECT et, src, hours, start, sum(a), sum(h), {v:UInt64} FROM (" +
	"SELECT if(grouping(event_type) = 1, '', event_type) AS et, if(grouping(source_id) = 1, '', source_id) AS src, " +
	"toUInt8(if(grouping(hour) = 1, 24, 1)) AS hours, if(hours = 1, hour, toDateTime(day, 'UTC')) AS start, " +
	"uniqExact(visitor) AS a, uniqExactIf(visitor, NOT is_bot) AS h FROM (" +
	"SELECT event_type, source_id, is_bot, toStartOfHour(toDateTime(event_time, 'UTC')) AS hour, toDate(event_time) AS day, " + visitorExpr + " AS visitor " +
	"FROM " + eventsTable + " WHERE event_time >= {lo:DateTime64(3, 'UTC')} AND event_time < {hi:DateTime64(3, 'UTC')} AND visitor != '')" +
	" GROUP BY GROUPING SETS ((event_type, source_id, hour), (source_id, hour), (event_type, hour), (hour)," +
	" (event_type, source_id, day), (source_id, day), (event_type, day), (day))" +
	" UNION ALL SELECT '', '', toUInt8(1), toDateTime(toUnixTimestamp({lo:DateTime('UTC')}) + 3600 * number, 'UTC'), toUInt64(0), toUInt64(0) FROM numbers({hours:UInt32})" +
	" UNION ALL SELECT '', '', toUInt8(24), toDateTime(toUnixTimestamp({lo:DateTime('UTC')}) + 86400 * number, 'UTC'), toUInt64(0), toUInt64(0) FROM numbers({days:UInt32})" +
	") WHERE hours = 1 OR start < {days_end:DateTime('UTC')} GROUP BY et, src, hours, start"

// pagesSQL writes the entry and exit pages of the sessions of day
// [d0, d1) and the day's marker row, under one version: per session its
// first and last pageview's path and visitor (by event time, then event
// id, so copies of an event change nothing), the sessions and a visitor
// sketch per path. Sessions without a pageview have no pages. The admin
// API's raw breakdown (admin-api/sessions_sql.go, sessionPagesSQL) picks
// the same pageviews, with the same page types and visitor expression.
const pagesSQL = "INSERT INTO " + sessionPages + " (source_id, day, is_bot, kind, page, sessions, visitors, version) " +
	"SELECT source_id, toDate({d0:DateTime64(3, 'UTC')}) AS day, is_bot, kind, page, sum(n), uniqCombined64StateIf(12)(visitor, visitor != ''), {v:UInt64} FROM (" +
	"SELECT source_id, bot AS is_bot, p.1 AS kind, p.2 AS page, p.3 AS visitor, toUInt64(1) AS n FROM (" +
	"SELECT source_id, argMin(is_bot, (event_time, is_bot)) AS bot, " +
	"argMinIf(url_path, (event_time, event_id), " + isPage + ") AS entry_page, argMaxIf(url_path, (event_time, event_id), " + isPage + ") AS exit_page, " +
	"argMinIf(" + visitorExpr + ", (event_time, event_id), " + isPage + ") AS entry_visitor, argMaxIf(" + visitorExpr + ", (event_time, event_id), " + isPage + ") AS exit_visitor " +
	"FROM " + eventsTable + " WHERE event_time >= {d0:DateTime64(3, 'UTC')} AND event_time < {d1:DateTime64(3, 'UTC')} AND session_id != ''" +
	" GROUP BY source_id, session_id HAVING countIf(" + isPage + ") > 0" +
	") ARRAY JOIN [('entry', entry_page, entry_visitor), ('exit', exit_page, exit_visitor)] AS p" +
	" UNION ALL SELECT '', false, 'entry', '', '', toUInt64(0)" +
	") GROUP BY source_id, is_bot, kind, page"

const (
	// isPage is a pageview (admin-api/stats_sql.go, pageTypes).
	isPage = "event_type IN ('page', 'page-view', 'screen')"
	// visitorExpr is an event's visitor (admin-api/stats_sql.go).
	visitorExpr = "multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id)"
)

// hourFiguresSQL is each hour's totals at its newest version.
const hourFiguresSQL = "SELECT toUnixTimestamp(hour) AS h, sum(sessions) AS s, sum(bounces) AS b, sum(duration_ms) AS d FROM " + sessionsHourly +
	" FINAL WHERE hour >= {lo:DateTime('UTC')} AND hour < {hi:DateTime('UTC')} AND (hour, version) IN (SELECT hour, max(version) FROM " + sessionsHourly +
	" WHERE hour >= {lo:DateTime('UTC')} AND hour < {hi:DateTime('UTC')} GROUP BY hour) GROUP BY hour"

// finaliseSpan recomputes the hours [d, hi) (d a day's start; the days
// they touch are read whole) and returns how many of them had been
// finalised with other figures.
func (f *Finaliser) finaliseSpan(ctx context.Context, d, hi time.Time, version uint64) (int, error) {
	span := map[string]string{"lo": chHour(d), "hi": chHour(hi)}
	before, err := f.hourFigures(ctx, span)
	if err != nil {
		return 0, err
	}
	params := map[string]string{
		"v":  strconv.FormatUint(version, 10),
		"d0": chHour(d), "d1": chHour(hi.Add(-time.Nanosecond).Truncate(day).Add(day)), "lo": chHour(d), "hi": chHour(hi),
		"hours": strconv.Itoa(int(hi.Sub(d) / time.Hour)),
		"days":  strconv.Itoa(int(hi.Sub(d) / day)), "days_end": chHour(d.Add(hi.Sub(d) / day * day)),
	}
	// Inserts each whole, sessions_hourly's last: should one fail,
	// sessions_hourly is as before this pass, so what made it recompute
	// these hours makes the next pass recompute them again.
	if err := f.st.Write(ctx, visitorsSQL, params); err != nil {
		return 0, fmt.Errorf("finalise the exact visitors of %s to %s: %w", d.Format(time.DateTime), hi.Format(time.DateTime), err)
	}
	if err := f.st.Write(ctx, byTypeSQL, params); err != nil {
		return 0, fmt.Errorf("finalise the sessions per event type of %s to %s: %w", d.Format(time.DateTime), hi.Format(time.DateTime), err)
	}
	if err := f.st.Write(ctx, finaliseSQL, params); err != nil {
		return 0, fmt.Errorf("finalise the sessions of %s to %s: %w", d.Format(time.DateTime), hi.Format(time.DateTime), err)
	}
	// The pages of the days that are over, a day per statement (its
	// memory is one day's sessions).
	for dd := d; !dd.Add(day).After(hi); dd = dd.Add(day) {
		p := map[string]string{"v": params["v"], "d0": chHour(dd), "d1": chHour(dd.Add(day))}
		if err := f.st.Write(ctx, pagesSQL, p); err != nil {
			return 0, fmt.Errorf("finalise the entry and exit pages of %s: %w", dd.Format(time.DateOnly), err)
		}
	}
	after, err := f.hourFigures(ctx, span)
	if err != nil {
		return 0, err
	}
	n := 0
	for h, b := range before {
		if after[h] != b {
			n++
			f.log.Info("session figures of a finalised hour changed", "hour", time.Unix(h, 0).UTC(), "before", b, "after", after[h])
		}
	}
	return n, nil
}

func (f *Finaliser) hourFigures(ctx context.Context, span map[string]string) (map[int64][3]uint64, error) {
	var rows []struct{ H, S, B, D uint64 }
	if err := f.query(ctx, &rows, hourFiguresSQL, span); err != nil {
		return nil, err
	}
	out := make(map[int64][3]uint64, len(rows))
	for _, r := range rows {
		out[int64(r.H)] = [3]uint64{r.S, r.B, r.D}
	}
	return out, nil
}

// query runs a read-only statement and decodes its rows into out.
func (f *Finaliser) query(ctx context.Context, out any, sql string, params map[string]string) error {
	rows, err := f.st.QueryJSON(ctx, sql, params, nil)
	if err != nil {
		return fmt.Errorf("session finaliser: %w", err)
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("session finaliser: decode answer: %w", err)
	}
	return nil
}

func chHour(t time.Time) string { return t.UTC().Format(time.DateTime) }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
