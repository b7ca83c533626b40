package harness

import (
	"bytes"
	"strings"
	"testing"
)

// An answer's visitors figures are compared with the exact counts of
// their rows: relative error per row, the largest and the median, and
// how many of them the answer labels as estimates.
func TestCompareVisitors(t *testing.T) {
	breakdown := []byte(`{"visitors_estimated":true,"rows":[{"value":"/a","events":5,"visitors":985},{"value":"/b","visitors":100},{"value":"/c","visitors":202}]}`)
	e := compareVisitors(breakdown, map[string]uint64{"/a": 1000, "/b": 100, "/c": 200})
	if e == nil || e.Rows != 3 || e.Estimated != 3 || e.MaxPct != 1.5 || e.MedianPct != 1 || e.Worst != "/a" || e.WorstGot != 985 || e.WorstExact != 1000 {
		t.Errorf("breakdown: %+v, want 3 estimated rows, max 1.5%% at /a (985 for 1000), median 1%%", e)
	}
	if visitorsErrorMet(e) {
		t.Error("an estimate 1.5% off meets the 1% target")
	}
	// A summary labelled exact: its periods (the previous one empty)
	// must equal the counts.
	summary := []byte(`{"metrics":{"visitors":50,"visitors_estimated":false},"previous":{"metrics":{"visitors":0,"visitors_estimated":false}}}`)
	e = compareVisitors(summary, map[string]uint64{"current": 50})
	if e == nil || e.Rows != 2 || e.Estimated != 0 || e.MaxPct != 0 || !visitorsErrorMet(e) {
		t.Errorf("exact summary: %+v, want 2 exact rows without error", e)
	}
	if e := compareVisitors([]byte(`{"metrics":{"visitors":51}}`), map[string]uint64{"current": 50}); e == nil || visitorsErrorMet(e) {
		t.Errorf("a figure labelled exact but off by one meets the target: %+v", e)
	}
	series := []byte(`{"visitors_estimated":true,"points":[{"t":"2025-06-01T00:00:00Z","visitors":10}]}`)
	if e := compareVisitors(series, map[string]uint64{"2025-06-01T00:00:00Z": 10}); e == nil || e.Estimated != 1 {
		t.Errorf("series points without a flag of their own: %+v, want the answer's (estimated)", e)
	}
	// Points with flags of their own: a finalised bucket exact, the
	// open tail estimated.
	mixed := []byte(`{"visitors_estimated":true,"points":[{"t":"a","visitors":10,"visitors_estimated":false},{"t":"b","visitors":101,"visitors_estimated":true}]}`)
	if e := compareVisitors(mixed, map[string]uint64{"a": 10, "b": 100}); e == nil || e.Rows != 2 || e.Estimated != 1 || !visitorsErrorMet(e) {
		t.Errorf("mixed series: %+v, want 2 rows, 1 estimated, within the target", e)
	}
	if e := compareVisitors(mixed, map[string]uint64{"a": 11, "b": 100}); e == nil || visitorsErrorMet(e) {
		t.Errorf("a point labelled exact but off by one meets the target: %+v", e)
	}
	if e := compareVisitors(series, nil); e != nil {
		t.Errorf("no reference: %+v, want nil", e)
	}
	if e := compareVisitors([]byte(`{"rows":[]}`), map[string]uint64{"x": 1}); e != nil {
		t.Errorf("no figures: %+v, want nil", e)
	}
}

// Every S7 query with visitors figures from the rollups has a reference
// statement; those without visitors or with filters the reference does
// not model have none.
func TestExactVisitorsSQL(t *testing.T) {
	want := map[string][]string{
		"summary, 30 days, all sources":         {"'current', 'previous'"},
		"series by hour, 7 days":                {"toStartOfHour(event_time)"},
		"series by hour, 7 days, type=signup":   {"event_type = {type:String}"},
		"series by week, 30 days":               {"toMonday(event_time)"},
		"breakdown by page, 30 days":            {"toString(url_path)"},
		"breakdown by device, 30 days":          {"toString(device_type)"},
		"summary, 7 days unaligned, one source": {"source_id = {source:String}"},
		"summary, 7 days, type=signup":          {"'current', 'previous'", "event_type = {type:String}"},
		"summary, 1 day, all sources":           {"'current', 'previous'"},
	}
	none := []string{"series by minute, 6 hours", "breakdown by entry_page, 30 days", "breakdown by property plan, 7 days",
		"breakdown by page, prop.plan=pro, 7 days", "search, newest 50, 30 days", "realtime, last 5 minutes"}
	for _, c := range QueryCases() {
		sql, _, ok := exactVisitorsSQL(c)
		for _, frag := range want[c.Name] {
			if !ok || !strings.Contains(sql, frag) || !strings.Contains(sql, "NOT is_bot") {
				t.Errorf("%s: %v %q, want a statement with %q and NOT is_bot", c.Name, ok, sql, frag)
			}
		}
		delete(want, c.Name)
		for _, n := range none {
			if c.Name == n && ok {
				t.Errorf("%s: reference %q, want none", c.Name, sql)
			}
		}
	}
	for name := range want {
		t.Errorf("%s: not a query case", name)
	}
}

// The report shows each answer's visitors error and, in the targets
// table, the worst one at the largest dataset with its verdict.
func TestMarkdownVisitorsError(t *testing.T) {
	r := sampleReport()
	r.S7 = sampleQueryRuns()
	r.S7[0].Queries[0].VisitorsError = &VisitorsError{Rows: 2, Estimated: 2, MaxPct: 0.4, MedianPct: 0.2, Worst: "current", WorstGot: 996, WorstExact: 1000}
	r.S7[0].Queries[2].VisitorsError = &VisitorsError{Rows: 10, Estimated: 10, MaxPct: 4.43, MedianPct: 0.6, Worst: "/p/3", WorstGot: 9557, WorstExact: 10000}
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b, "benchmarks.svg", "task bench:run", ""); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for prefix, suffix := range map[string]string{
		"| summary, 30 days, all sources | 10M | max 0.40% / median 0.20% of 2 estimated rows (worst current: 996 for 1000)": "**met** |",
		"| breakdown by page, 30 days | 10M | max 4.43% / median 0.60% of 10 estimated rows":                                 "**not met** |",
		"| S7 visitors at 10M events against exact counts | estimates within 1%, the rest exact | worst: breakdown by page":  "**not met** |",
	} {
		if line := lineWith(md, prefix); line == "" || !strings.HasSuffix(line, suffix) {
			t.Errorf("report lacks %q ... %q; got %q", prefix, suffix, line)
		}
	}
}

// The table cell says how many of the compared figures were estimates.
func TestVisitorsErrorCell(t *testing.T) {
	for _, c := range []struct {
		e    VisitorsError
		want string
	}{
		{VisitorsError{Rows: 10, Estimated: 10, MaxPct: 1.5, Worst: "/a", WorstGot: 985, WorstExact: 1000}, "of 10 estimated rows (worst /a"},
		{VisitorsError{Rows: 2, Estimated: 0, Worst: "current", WorstGot: 5, WorstExact: 5}, "of 2 exact rows (worst current"},
		{VisitorsError{Rows: 2, Estimated: 1, Worst: "current", WorstGot: 5, WorstExact: 5}, "of 2 rows, 1 of them estimated (worst current"},
	} {
		if got := visitorsErrorCell(&c.e); !strings.Contains(got, c.want) {
			t.Errorf("visitorsErrorCell(%+v) = %q, want it to contain %q", c.e, got, c.want)
		}
	}
}
