package adminapi

import (
	"encoding/base64"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trackstream/trackstream/internal/event"
)

// Bounds of the statistics endpoints' parameters.
const (
	// defaultRange is the time range when from and to are both absent.
	defaultRange = 7 * 24 * time.Hour
	// maxRange is the longest time range a query may cover.
	maxRange = 400 * 24 * time.Hour
	// maxBuckets caps the points of a time series.
	maxBuckets = 2000
	// maxBreakdown caps the rows of a breakdown.
	maxBreakdown = 1000
	// defaultPage and maxPage are event search's page sizes.
	defaultPage, maxPage = 50, 1000
	// maxPropFilters caps the property equality filters of one request.
	maxPropFilters = 8
	// maxFunnelSteps caps a funnel's steps.
	maxFunnelSteps = 10
	// maxValueLen caps any filter value's length in bytes.
	maxValueLen = 1024
	// maxSessionEvents caps the events a session detail lists.
	maxSessionEvents = 1000
)

// propKeyPattern is what a property key (a path in the properties JSON,
// dots between levels) may look like. The key travels as a query
// parameter anyway; the pattern turns junk into a 400 early.
var propKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_$][A-Za-z0-9_$-]{0,63}(\.[A-Za-z0-9_$][A-Za-z0-9_$-]{0,63}){0,4}$`)

// filter is what every statistics query is restricted by. Zero string
// fields mean "no restriction".
type filter struct {
	from, to time.Time
	source   string
	// types restricts event_type to one of these.
	types []string
	// profile matches profile_id; session matches session_id.
	profile, session string
	// props are property equality filters: the value of the key, as text,
	// equals the value.
	props []propFilter
	// bots includes events flagged as bots (excluded by default).
	bots bool
	// dims are dimension equality filters (filter.<dimension>=<value>):
	// the dimension's column equals the value.
	dims []dimFilter
	// uniqueAfter is the copy horizon (migration 0011, Server.knowCopies):
	// every row received after it is its event's only row; the zero time
	// when no event has copies. nil (not read): every row is counted by
	// distinct id.
	uniqueAfter *time.Time
}

type propFilter struct{ key, value string }

// dimFilter is one filter.<dimension>=<value>; column comes from dimensions.
type dimFilter struct{ column, value string }

// dimFilterPrefix starts the dimension filter parameters every statistics
// endpoint accepts (filter.browser=Firefox, filter.page=/pricing).
const dimFilterPrefix = "filter."

// eventLevel reports whether f filters on what only event rows hold
// (profile, session, property, dimension): the rollups keep source, event
// type, bot flag and time only.
func (f filter) eventLevel() bool {
	return f.profile != "" || f.session != "" || len(f.props) > 0 || len(f.dims) > 0
}

// hourAligned reports whether f's range is whole hours.
func (f filter) hourAligned() bool {
	return f.from.Equal(f.from.Truncate(time.Hour)) && f.to.Equal(f.to.Truncate(time.Hour))
}

// countsRollup reports whether the count rollups answer f's events,
// pageviews and visitors: no event-level filter and at least one whole
// hour in the range (the partial hours at its ends come from event rows,
// see spansOf).
func (f filter) countsRollup() bool {
	return !f.eventLevel() && ceilHour(f.from).Before(f.to.Truncate(time.Hour))
}

// minuteRollup reports whether the minute rollup (counts_minutely, no
// event type) answers f's events, pageviews and visitors by minute: no
// event-level or event type filter and at least one whole minute in the
// range (the parts of a minute at its ends come from event rows, see
// minuteSpans).
func (f filter) minuteRollup() bool {
	return !f.eventLevel() && len(f.types) == 0 && ceilMinute(f.from).Before(f.to.Truncate(time.Minute))
}

// ceilMinute is the first whole minute at or after t.
func ceilMinute(t time.Time) time.Time {
	if m := t.Truncate(time.Minute); m.Before(t) {
		return m.Add(time.Minute)
	}
	return t
}

// ceilDay is the first whole UTC day at or after t.
func ceilDay(t time.Time) time.Time {
	if d := t.Truncate(24 * time.Hour); d.Before(t) {
		return d.Add(24 * time.Hour)
	}
	return t
}

// ceilHour is the first whole hour at or after t.
func ceilHour(t time.Time) time.Time {
	if h := t.Truncate(time.Hour); h.Before(t) {
		return h.Add(time.Hour)
	}
	return t
}

// params reads a request's query string, refusing parameters the endpoint
// does not know and repeated ones it does not expect.
type params struct {
	q     url.Values
	known map[string]bool
	// prefix, when set, also accepts parameters starting with it (prop.).
	prefix string
}

func newParams(q url.Values, prefix string, known ...string) (*params, error) {
	p := &params{q: q, known: map[string]bool{}, prefix: prefix}
	for _, k := range known {
		p.known[k] = true
	}
	for k := range q {
		if !p.known[k] && !strings.HasPrefix(k, dimFilterPrefix) && (prefix == "" || !strings.HasPrefix(k, prefix)) {
			return nil, badRequest("unknown_parameter", "unknown query parameter %q; allowed: %s", clip(k), strings.Join(slices.Sorted(maps.Keys(p.known)), ", "))
		}
	}
	return p, nil
}

// clip shortens a hostile value before it is echoed in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// str returns the single value of name ("" when absent), at most max bytes.
func (p *params) str(name string, max int) (string, error) {
	vs := p.q[name]
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1:
		return "", badRequest("invalid_parameter", "%s is given %d times; give it once", name, len(vs))
	case len(vs[0]) > max:
		return "", badRequest("invalid_parameter", "%s is longer than %d bytes", name, max)
	}
	return vs[0], nil
}

// int returns name as an integer in [min, max], def when absent.
func (p *params) int(name string, def, min, max int) (int, error) {
	s, err := p.str(name, 20)
	if err != nil || s == "" {
		return def, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, badRequest("invalid_parameter", "%s must be an integer from %d to %d", name, min, max)
	}
	return n, nil
}

// parseTime accepts RFC 3339 (2026-11-01T00:00:00Z) or a date (2026-11-01, UTC midnight).
func parseStatsTime(name, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if t, err = time.Parse(time.DateOnly, s); err != nil {
			return time.Time{}, badRequest("invalid_parameter", "%s must be RFC 3339 (2026-11-01T00:00:00Z) or a date (2026-11-01)", name)
		}
	}
	if t = t.UTC(); t.Before(minStatsTime) || t.After(maxStatsTime) {
		return time.Time{}, badRequest("invalid_parameter", "%s must be between %s and %s", name, minStatsTime.Format(time.DateOnly), maxStatsTime.Format(time.DateOnly))
	}
	return t, nil
}

// minStatsTime and maxStatsTime bound from and to: the event times
// trackstream answers queries about (ingest refuses earlier ones).
var (
	minStatsTime = event.MinTime
	maxStatsTime = event.MaxTime
)

// filterParams are the parameters filter reads.
var filterParams = []string{"from", "to", "source", "type", "bots"}

// filter reads from, to, source, type and bots. With neither from nor to,
// the range is the defaultRange up to now; to defaults to now, from to
// defaultRange before to.
func (p *params) filter(now time.Time) (filter, error) {
	var f filter
	fromS, err := p.str("from", 64)
	if err != nil {
		return f, err
	}
	toS, err := p.str("to", 64)
	if err != nil {
		return f, err
	}
	f.to = now.UTC().Truncate(time.Millisecond)
	if toS != "" {
		if f.to, err = parseStatsTime("to", toS); err != nil {
			return f, err
		}
	}
	f.from = f.to.Add(-defaultRange)
	if fromS != "" {
		if f.from, err = parseStatsTime("from", fromS); err != nil {
			return f, err
		}
	}
	if !f.from.Before(f.to) {
		return f, badRequest("invalid_parameter", "from must be before to")
	}
	if f.to.Sub(f.from) > maxRange {
		return f, badRequest("invalid_parameter", "the range from..to is at most %d days", int(maxRange/(24*time.Hour)))
	}
	if f.source, err = p.str("source", 128); err != nil {
		return f, err
	}
	for _, t := range p.q["type"] {
		if t == "" || len(t) > 128 {
			return f, badRequest("invalid_parameter", "type must be 1-128 bytes")
		}
		f.types = append(f.types, t)
	}
	if len(f.types) > 20 {
		return f, badRequest("invalid_parameter", "at most 20 type values")
	}
	bots, err := p.str("bots", 8)
	if err != nil {
		return f, err
	}
	switch bots {
	case "", "false", "exclude":
	case "true", "include":
		f.bots = true
	default:
		return f, badRequest("invalid_parameter", "bots must be true (include bot traffic) or false (the default)")
	}
	return f, p.dimFilters(&f)
}

// dimFilters reads filter.<dimension>=<value> into f; filter.type adds to
// the event types, so it keeps the rollups usable.
func (p *params) dimFilters(f *filter) error {
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range p.q {
			if strings.HasPrefix(k, dimFilterPrefix) && !yield(k) {
				return
			}
		}
	}) {
		dim := strings.TrimPrefix(k, dimFilterPrefix)
		col, ok := dimensions[dim]
		if !ok {
			return badRequest("unknown_dimension", "%s: %q is not one of %s", clip(k), clip(dim), strings.Join(dimensionNames(), ", "))
		}
		v, err := p.str(k, maxValueLen)
		if err != nil {
			return err
		}
		if dim == "type" {
			f.types = append(f.types, v)
			continue
		}
		f.dims = append(f.dims, dimFilter{col, v})
	}
	if len(f.dims) > maxPropFilters {
		return badRequest("invalid_parameter", "at most %d filter.<dimension> parameters", maxPropFilters)
	}
	return nil
}

// eventFilters reads profile, session and prop.<key>=<value> into f.
func (p *params) eventFilters(f *filter) error {
	var err error
	if f.profile, err = p.str("profile", 256); err != nil {
		return err
	}
	if f.session, err = p.str("session", 256); err != nil {
		return err
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range p.q {
			if strings.HasPrefix(k, "prop.") && !yield(k) {
				return
			}
		}
	}) {
		key := strings.TrimPrefix(k, "prop.")
		if !propKeyPattern.MatchString(key) {
			return badRequest("invalid_property", "property key %q: use letters, digits, _ $ - and dots between levels (at most 5 levels of 64)", clip(key))
		}
		v, err := p.str(k, maxValueLen)
		if err != nil {
			return err
		}
		f.props = append(f.props, propFilter{key, v})
	}
	if len(f.props) > maxPropFilters {
		return badRequest("invalid_parameter", "at most %d property filters", maxPropFilters)
	}
	return nil
}

// eventCursor is the position after the last event of a search page.
type eventCursor struct {
	t      time.Time
	source string
	id     string
}

func (c eventCursor) String() string {
	enc := base64.RawURLEncoding
	return strconv.FormatInt(c.t.UnixMilli(), 10) + "." + enc.EncodeToString([]byte(c.source)) + "." + enc.EncodeToString([]byte(c.id))
}

func parseEventCursor(s string) (eventCursor, error) {
	bad := badRequest("invalid_cursor", "cursor is not one this API returned; start again without it")
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return eventCursor{}, bad
	}
	ms, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || ms < 0 || ms > 1e14 {
		return eventCursor{}, bad
	}
	src, err1 := base64.RawURLEncoding.DecodeString(parts[1])
	id, err2 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || len(src) > 128 || len(id) > 256 {
		return eventCursor{}, bad
	}
	return eventCursor{t: time.UnixMilli(ms).UTC(), source: string(src), id: string(id)}, nil
}

// interval is a time series bucket size.
type interval string

const (
	minute interval = "minute"
	hour   interval = "hour"
	day    interval = "day"
	week   interval = "week"
)

func parseInterval(s string) (interval, error) {
	switch interval(s) {
	case minute, hour, day, week:
		return interval(s), nil
	case "":
		return day, nil
	}
	return "", badRequest("invalid_parameter", "interval must be minute, hour, day or week")
}

// truncate is the start of t's bucket (weeks start on Monday, UTC).
func (iv interval) truncate(t time.Time) time.Time {
	t = t.UTC()
	switch iv {
	case minute:
		return t.Truncate(time.Minute)
	case hour:
		return t.Truncate(time.Hour)
	case day:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
}

func (iv interval) next(t time.Time) time.Time {
	switch iv {
	case minute:
		return t.Add(time.Minute)
	case hour:
		return t.Add(time.Hour)
	case day:
		return t.AddDate(0, 0, 1)
	}
	return t.AddDate(0, 0, 7)
}

// buckets are the bucket starts covering [from, to).
func (iv interval) buckets(from, to time.Time) ([]time.Time, error) {
	var out []time.Time
	for t := iv.truncate(from); t.Before(to); t = iv.next(t) {
		if len(out) == maxBuckets {
			return nil, badRequest("too_many_buckets", "the range has more than %d %ss; choose a larger interval or a shorter range", maxBuckets, iv)
		}
		out = append(out, t)
	}
	return out, nil
}

// funnelStep is one step: an event type and optionally a page path.
type funnelStep struct{ typ, path string }

func (s funnelStep) String() string {
	if s.path == "" {
		return s.typ
	}
	return s.typ + "@" + s.path
}

// parseSteps reads step=<type> or step=<type>@<url path>, in order.
func parseSteps(vs []string) ([]funnelStep, error) {
	if len(vs) < 2 || len(vs) > maxFunnelSteps {
		return nil, badRequest("invalid_parameter", "a funnel needs 2 to %d step parameters (step=<event type> or step=<event type>@<url path>)", maxFunnelSteps)
	}
	out := make([]funnelStep, 0, len(vs))
	for _, v := range vs {
		typ, path, _ := strings.Cut(v, "@")
		if typ == "" || len(typ) > 128 || len(path) > maxValueLen {
			return nil, badRequest("invalid_parameter", "step %q: want <event type> (1-128 bytes) or <event type>@<url path>", clip(v))
		}
		out = append(out, funnelStep{typ, path})
	}
	return out, nil
}

// chTime is a time as a DateTime64(3) query parameter value.
func chTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }

func msTime(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }
