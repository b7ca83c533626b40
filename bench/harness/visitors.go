package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/trackstream/trackstream/internal/chdb"
)

// The visitors figures of S7's answers against exact counts: before the
// node starts, a helper process (trackstream-bench exact-visitors) counts
// the distinct visitors of every answer row (summary period, series
// bucket, breakdown value) from the raw event rows of the same data dir
// with uniqExact; the figures of each query's warm-up answer are then
// compared with those counts, outside the timed calls.

// ExactVisitors is the exact visitors of each query case's answer rows:
// case name -> row key (summary "current"/"previous", series bucket
// start in RFC 3339, breakdown value) -> distinct visitors.
type ExactVisitors map[string]map[string]uint64

// VisitorsError is how far one answer's visitors figures are from the
// exact counts (relative error, percent).
type VisitorsError struct {
	// Rows is how many figures were compared; Estimated how many of
	// them the answer labels as estimates.
	Rows      int     `json:"rows"`
	Estimated int     `json:"estimated"`
	MaxPct    float64 `json:"max_pct"`
	MedianPct float64 `json:"median_pct"`
	// Worst is the row key of the largest error, with its figure and the
	// exact count.
	Worst      string `json:"worst,omitempty"`
	WorstGot   uint64 `json:"worst_answer,omitempty"`
	WorstExact uint64 `json:"worst_exact,omitempty"`
}

// targetVisitorsErrorPct is the largest relative error (percent) an
// estimated visitors figure may have.
const targetVisitorsErrorPct = 1.0

// visitorsBreakdownColumns are the event columns of the breakdown
// dimensions S7 asks for, as the admin API groups them; entry and exit
// pages are per session and have no reference here.
var visitorsBreakdownColumns = map[string]string{
	"type": "event_type", "name": "name", "page": "url_path", "host": "url_host", "referrer_host": "referrer_host",
	"referrer_medium": "referrer_medium", "utm_source": "utm_source", "utm_medium": "utm_medium",
	"utm_campaign": "utm_campaign", "utm_term": "utm_term", "utm_content": "utm_content", "country": "country",
	"region": "region", "city": "city", "browser": "browser", "os": "os", "device": "device_type",
}

// visitorsSeriesBuckets are the bucket starts of the series intervals
// whose visitors have a reference (the minute series reads raw rows).
var visitorsSeriesBuckets = map[string]string{
	"hour": "toStartOfHour(event_time)",
	"day":  "toStartOfDay(event_time)",
	"week": "toDateTime(toMonday(event_time), 'UTC')",
}

// exactVisitorsSQL is the statement counting the exact visitors of each
// row of c's answer (columns key, visitors) and its parameters; ok is
// false for the queries without visitors figures or a reference here
// (property filters and breakdowns, funnels, listings, realtime).
func exactVisitorsSQL(c QueryCase) (sql string, params map[string]string, ok bool) {
	path, rawQuery, _ := strings.Cut(c.Path, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", nil, false
	}
	for k := range q {
		if strings.HasPrefix(k, "prop.") || k == "property" || k == "profile" || k == "session" || k == "limit" {
			return "", nil, false
		}
	}
	from, errFrom := time.Parse(time.RFC3339Nano, q.Get("from"))
	to, errTo := time.Parse(time.RFC3339Nano, q.Get("to"))
	if errFrom != nil || errTo != nil {
		return "", nil, false
	}
	params = map[string]string{}
	cond := func(from, to time.Time) string {
		params["from"], params["to"] = chTime(from), chTime(to)
		c := []string{"event_time >= {from:DateTime64(3, 'UTC')}", "event_time < {to:DateTime64(3, 'UTC')}", "visitor != ''"}
		if s := q.Get("source"); s != "" {
			params["source"] = s
			c = append(c, "source_id = {source:String}")
		}
		if t := q.Get("type"); t != "" {
			params["type"] = t
			c = append(c, "event_type = {type:String}")
		}
		if q.Get("bots") != "true" {
			c = append(c, "NOT is_bot")
		}
		return strings.Join(c, " AND ")
	}
	const visitor = "WITH multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id) AS visitor "
	var key string
	switch path {
	case "/api/v1/stats/summary":
		// The previous period is as long as the range and ends at its start.
		where := cond(from.Add(-to.Sub(from)), to)
		return visitor + "SELECT if(event_time >= {start:DateTime64(3, 'UTC')}, 'current', 'previous') AS key, uniqExact(visitor) AS visitors " +
			"FROM trackstream.events WHERE " + where + " GROUP BY key", withParam(params, "start", chTime(from)), true
	case "/api/v1/stats/series":
		if key, ok = visitorsSeriesBuckets[q.Get("interval")]; !ok {
			return "", nil, false
		}
		key = "formatDateTime(" + key + ", '%Y-%m-%dT%H:%i:%SZ', 'UTC')"
	case "/api/v1/stats/breakdown":
		if key, ok = visitorsBreakdownColumns[q.Get("dimension")]; !ok {
			return "", nil, false
		}
		key = "toString(" + key + ")"
	default:
		return "", nil, false
	}
	return visitor + "SELECT " + key + " AS key, uniqExact(visitor) AS visitors FROM trackstream.events WHERE " + cond(from, to) +
		" GROUP BY key", params, true
}

func withParam(params map[string]string, k, v string) map[string]string {
	params[k] = v
	return params
}

// chTime writes t as a DateTime64(3) parameter value.
func chTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }

// CountExactVisitors opens the chDB data dir of a trackstream data dir
// that no process uses (read only: no migration runs) and counts the
// exact visitors of every answer row of cases that have a reference.
func CountExactVisitors(ctx context.Context, libPath, dataDir string, cases []QueryCase) (ExactVisitors, error) {
	db, err := chdb.Open(libPath, filepath.Join(dataDir, "clickhouse"), 1)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dataDir, err)
	}
	defer db.Close()
	out := ExactVisitors{}
	for _, c := range cases {
		sql, params, ok := exactVisitorsSQL(c)
		if !ok {
			continue
		}
		b, err := db.QueryParams(ctx, sql+" SETTINGS output_format_json_quote_64bit_integers = 0", "JSONEachRow", params)
		if err != nil {
			return nil, fmt.Errorf("exact visitors of %q: %w", c.Name, err)
		}
		rows := map[string]uint64{}
		for line := range strings.Lines(string(b)) {
			var r struct {
				Key      string `json:"key"`
				Visitors uint64 `json:"visitors"`
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return nil, fmt.Errorf("exact visitors of %q: row %q: %w", c.Name, line, err)
			}
			rows[r.Key] = r.Visitors
		}
		out[c.Name] = rows
	}
	return out, nil
}

// visitorsFigure is one visitors figure of an answer.
type visitorsFigure struct {
	visitors  uint64
	estimated bool
}

// answerVisitors reads the visitors figures of a summary ("metrics" and
// "previous.metrics", each with its visitors_estimated), series ("points",
// each with its visitors_estimated, else the answer's) or breakdown
// ("rows") answer, by row key (see ExactVisitors); the rows of a
// breakdown take the answer's visitors_estimated.
func answerVisitors(answer []byte) map[string]visitorsFigure {
	type metrics struct {
		Visitors  *uint64 `json:"visitors"`
		Estimated bool    `json:"visitors_estimated"`
	}
	var a struct {
		Estimated bool     `json:"visitors_estimated"`
		Metrics   *metrics `json:"metrics"`
		Previous  struct {
			Metrics *metrics `json:"metrics"`
		} `json:"previous"`
		Points []struct {
			T         string  `json:"t"`
			Visitors  *uint64 `json:"visitors"`
			Estimated *bool   `json:"visitors_estimated"`
		} `json:"points"`
		Rows []struct {
			Value    string  `json:"value"`
			Visitors *uint64 `json:"visitors"`
		} `json:"rows"`
	}
	if json.Unmarshal(answer, &a) != nil {
		return nil
	}
	out := map[string]visitorsFigure{}
	for key, m := range map[string]*metrics{"current": a.Metrics, "previous": a.Previous.Metrics} {
		if m != nil && m.Visitors != nil {
			out[key] = visitorsFigure{*m.Visitors, m.Estimated}
		}
	}
	for _, p := range a.Points {
		if p.Visitors != nil {
			est := a.Estimated
			if p.Estimated != nil {
				est = *p.Estimated
			}
			out[p.T] = visitorsFigure{*p.Visitors, est}
		}
	}
	for _, r := range a.Rows {
		if r.Visitors != nil {
			out[r.Value] = visitorsFigure{*r.Visitors, a.Estimated}
		}
	}
	return out
}

// compareVisitors is the error of an answer's visitors figures against
// the exact counts of its rows (a row the reference lacks has 0 exact
// visitors); nil when the answer has no visitors figures or no reference.
func compareVisitors(answer []byte, exact map[string]uint64) *VisitorsError {
	figures := answerVisitors(answer)
	if exact == nil || len(figures) == 0 {
		return nil
	}
	e := &VisitorsError{}
	errs := make([]float64, 0, len(figures))
	for _, key := range slices.Sorted(maps.Keys(figures)) {
		f, want := figures[key], exact[key]
		var pct float64
		switch {
		case want > 0:
			pct = math.Abs(float64(f.visitors)-float64(want)) / float64(want) * 100
		case f.visitors > 0:
			pct = 100
		}
		e.Rows++
		if f.estimated {
			e.Estimated++
		}
		if pct > e.MaxPct || e.Worst == "" {
			e.MaxPct, e.Worst, e.WorstGot, e.WorstExact = pct, key, f.visitors, want
		}
		errs = append(errs, pct)
	}
	slices.Sort(errs)
	e.MedianPct = percentile(errs, 0.5)
	return e
}

// visitorsErrorMet reports whether an answer's visitors figures are
// within the target: estimates within targetVisitorsErrorPct, figures
// labelled exact equal to the exact counts.
func visitorsErrorMet(e *VisitorsError) bool {
	if e.Estimated == 0 {
		return e.MaxPct == 0
	}
	return e.MaxPct <= targetVisitorsErrorPct
}

// visitorsErrorCell writes e as "max 0.84% / median 0.21% of 10 estimated
// rows (worst /p/3: 9,916 for 10,000)".
func visitorsErrorCell(e *VisitorsError) string {
	rows := fmt.Sprintf("%d estimated rows", e.Rows)
	if e.Estimated == 0 {
		rows = fmt.Sprintf("%d exact rows", e.Rows)
	} else if e.Estimated < e.Rows {
		rows = fmt.Sprintf("%d rows, %d of them estimated", e.Rows, e.Estimated)
	}
	return fmt.Sprintf("max %.2f%% / median %.2f%% of %s (worst %s: %d for %d)", e.MaxPct, e.MedianPct, rows, e.Worst, e.WorstGot, e.WorstExact)
}

// writeS7Visitors writes the visitors errors of every dataset size.
func (r *Report) writeS7Visitors(p func(string, ...any), runs []QueryRun) {
	measured := false
	for _, run := range runs {
		for _, t := range run.Queries {
			measured = measured || t.VisitorsError != nil
		}
	}
	if !measured {
		return
	}
	p("### Visitors against exact counts\n\n")
	p("Each answer's visitors figures (per summary period, series bucket or breakdown value) against the exact distinct visitors of the same rows, counted from the raw event rows of the same data dir with `uniqExact` before the node started. Target: an estimated figure within %.0f%% of the exact count (labelled `visitors_estimated`); a figure not labelled an estimate equal to it.\n\n", targetVisitorsErrorPct)
	p("| query | events | relative error of visitors | verdict |\n|---|---|---|---|\n")
	for _, c := range QueryCases() {
		for _, run := range runs {
			if t, ok := timingOf(run, c.Name); ok && t.VisitorsError != nil {
				p("| %s | %s | %s | %s |\n", c.Name, eventsLabel(run.Events), visitorsErrorCell(t.VisitorsError), verdict(visitorsErrorMet(t.VisitorsError), true))
			}
		}
	}
	p("\n")
}

// writeS7VisitorsTarget writes the targets-table row of the visitors
// errors at the largest dataset: the largest error of an estimated
// figure, over every answer.
func writeS7VisitorsTarget(p func(string, ...any), run QueryRun) {
	var worst *VisitorsError
	var worstName string
	met, measured := true, false
	for _, t := range run.Queries {
		if e := t.VisitorsError; e != nil {
			measured = true
			met = met && visitorsErrorMet(e)
			if worst == nil || e.MaxPct > worst.MaxPct {
				worst, worstName = e, t.Name
			}
		}
	}
	if !measured {
		return
	}
	p("| S7 visitors at %s events against exact counts | estimates within %.0f%%, the rest exact | worst: %s, %s | | %s |\n",
		eventsLabel(run.Events), targetVisitorsErrorPct, worstName, visitorsErrorCell(worst), verdict(met, true))
}
