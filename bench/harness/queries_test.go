package harness

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseSkip(t *testing.T) {
	got, err := ParseSkip("s3", "s7, S3")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ScenarioNames {
		if want := n != "S7"; got[n] != want {
			t.Errorf("-only s7,S3 -skip s3: skip[%s] = %v, want %v", n, got[n], want)
		}
	}
	got, err = ParseSkip("H,profile", "")
	if err != nil || !got["H"] || !got["profile"] || got["S7"] || got["S1"] {
		t.Errorf("-skip H,profile: %v, %v", got, err)
	}
	if _, err := ParseSkip("", "s9"); err == nil || !strings.Contains(err.Error(), `unknown scenario "s9"`) {
		t.Errorf("-only s9: err %v, want unknown scenario", err)
	}
}

func TestMergeKeepsSkippedScenarios(t *testing.T) {
	prev := sampleReport()
	cur := &Report{Started: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Version: "v2", S7: sampleQueryRuns()}
	skip, err := ParseSkip("", "s7")
	if err != nil {
		t.Fatal(err)
	}
	m := Merge(prev, cur, skip)
	if len(m.S7) != 2 || m.S1.Median().EPS != prev.S1.Median().EPS || m.S6 != prev.S6 || m.Version != "v2" {
		t.Fatalf("merge: S7 %d runs, S1 %.0f, S6 %v, version %q", len(m.S7), m.S1.Median().EPS, m.S6, m.Version)
	}
	if !strings.Contains(m.Merged, "S7 from the run started 2026-01-02 03:04 UTC at v2") || m.Provenance["S1"] != runLabel(prev) {
		t.Errorf("merged note: %q, provenance %v", m.Merged, m.Provenance)
	}
	// A second partial run keeps what the first one attributed.
	cur2 := &Report{Started: time.Date(2026, 1, 3, 4, 5, 0, 0, time.UTC), Version: "v3"}
	skip2, err := ParseSkip("", "h")
	if err != nil {
		t.Fatal(err)
	}
	m2 := Merge(m, cur2, skip2)
	for _, want := range []string{"H from the run started 2026-01-03 04:05 UTC at v3", "S7 from the run started 2026-01-02 03:04 UTC at v2", "S1, "} {
		if !strings.Contains(m2.Merged, want) {
			t.Errorf("second merge note %q lacks %q", m2.Merged, want)
		}
	}
	if len(prev.S7) != 0 {
		t.Error("merge changed the earlier report")
	}
	// S7 merges per dataset size: a later run at 10M replaces 10M only.
	later := &Report{S7: []QueryRun{{Events: 10_000_000, QueryCalls: 5}}}
	m = Merge(m, later, skip)
	if len(m.S7) != 2 || m.S7[0].QueryCalls != 5 || m.S7[1].Events != 1_000_000 || m.S7[1].QueryCalls != 20 {
		t.Errorf("S7 after a 10M-only run: %+v", m.S7)
	}
}

func sampleQueryRuns() []QueryRun {
	yes, no := true, false
	at := func(events uint64, summary, search float64) QueryRun {
		return QueryRun{Events: events, QueryCalls: 20, Queries: []QueryTiming{
			{QueryCase: QueryCase{Name: "summary, 30 days, all sources", Class: "summary"}, Calls: 20, P50: summary, P95: summary * 2, Rollup: &yes},
			{QueryCase: QueryCase{Name: "search, newest 50, 30 days", Class: "search", Path: "/api/v1/events"}, Calls: 20, P50: search, P95: search, Rollup: nil},
			{QueryCase: QueryCase{Name: "breakdown by page, 30 days", Class: "breakdown"}, Err: "admin GET: status 504", Rollup: &no},
		}}
	}
	return []QueryRun{at(10_000_000, 400, 90), at(1_000_000, 40, 30)}
}

func TestMarkdownS7AndS8(t *testing.T) {
	r := sampleReport()
	r.S7 = sampleQueryRuns()
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b, "benchmarks.svg", "task bench:run", ""); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	// Targets at the largest dataset: summary misses, search meets, an
	// error is not met.
	for prefix, suffix := range map[string]string{
		"| S7 summary, 30 days, all sources at 10M events | p50 <= 50 ms, p95 <= 200 ms | p50 400.0 ms, p95 800.0 ms (rollup)": "**not met** |",
		"| S7 search, newest 50, 30 days at 10M events | p50 <= 100 ms | p50 90.0 ms":                                          "**met** |",
		"| S7 breakdown by page, 30 days at 10M events | p50 <= 50 ms, p95 <= 200 ms | admin GET: status 504":                  "**not met** |",
		// S8: sizes in ascending order; rollup growth 10x is not flat,
		// search growth 3x is within linear.
		// The read path's growth between the two largest sizes: 10x is
		// more than 2x for a dashboard query; a search is not judged.
		"| summary, 30 days, all sources | summary | yes | 40.0 / 80.0 (CPU 0) | 400.0 / 800.0 (CPU 0) | 10.00x | flat (<= 1.5x)": "**not met** | 10.00x | **not met** |",
		"| search, newest 50, 30 days | search | - | 30.0 / 30.0 (CPU 0) | 90.0 / 90.0 (CPU 0) | 3.00x | at most linear (10x)":    "**met** | 3.00x | - |",
	} {
		line := lineWith(md, prefix)
		if line == "" || !strings.HasSuffix(line, suffix) {
			t.Errorf("report lacks %q ... %q; got %q", prefix, suffix, line)
		}
	}
	if !strings.Contains(md, "the data grew 10x") {
		t.Error("report does not say how much the data grew")
	}
	var svg bytes.Buffer
	if err := r.WriteSVG(&svg); err != nil || !strings.Contains(svg.String(), "S8: admin query p50 vs stored events") {
		t.Errorf("svg lacks the S8 panel (err %v)", err)
	}
}

func TestPercentileAndLabels(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	if p50, p95 := percentile(xs, 0.5), percentile(xs, 0.95); p50 != 10 || p95 != 19 {
		t.Errorf("p50 %v p95 %v of 1..20, want 10 and 19", p50, p95)
	}
	for n, want := range map[uint64]string{1_000_000: "1M", 10_000_000: "10M", 2_500_000: "2.5M", 100_000: "100k", 1234: "1234"} {
		if got := eventsLabel(n); got != want {
			t.Errorf("eventsLabel(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestQuerySeedSQLNumbersItsRange(t *testing.T) {
	q := QuerySeedSQL(2_000_000, 1_000_000, 10_000_000)
	for _, want := range []string{"FROM numbers(2000000, 1000000)", "INSERT INTO trackstream.events", "toDateTime64('2025-06-01 00:00:00.000', 3, 'UTC')", "% 666666 AS v"} {
		if !strings.Contains(q, want) {
			t.Errorf("seed SQL lacks %q", want)
		}
	}
}

func TestFlatVerdict(t *testing.T) {
	n := func(v uint64) *uint64 { return &v }
	at := func(p50 float64, distinct *uint64) QueryTiming { return QueryTiming{P50: p50, Distinct: distinct} }
	for _, c := range []struct {
		class      string
		prev, last QueryTiming
		want       string
	}{
		{"realtime", at(6.5, n(11937)), at(12.0, n(93785)), "1.85x | **met**"},
		{"realtime", at(6.5, nil), at(14.6, nil), "2.25x | **not met**"},
		// Within the growth of what it counts, though not within 2x.
		{"realtime", at(6.5, n(11937)), at(14.6, n(93785)), "2.25x (visitors and sessions in the window 7.86x) | **met** (grows with the distinct values it counts, not with the events)"},
		// Faster than what it counts: something grows with the events.
		{"realtime", at(6.5, n(10000)), at(14.6, n(12000)), "2.25x (visitors and sessions in the window 1.20x) | **not met**"},
		{"realtime", at(6.5, n(0)), at(14.6, n(93785)), "2.25x | **not met**"},
		// Only realtime answers are judged by what they count.
		{"breakdown", at(20, n(100)), at(50, n(1000)), "2.50x | **not met**"},
		{"breakdown", at(20, nil), at(40, nil), "2.00x | **met**"},
		{"scan", at(400, nil), at(4000, nil), "10.00x | -"},
		{"series", at(0, nil), at(30, nil), "- | not measured"},
	} {
		if got := flatVerdict(c.class, c.prev, c.last); got != c.want {
			t.Errorf("flatVerdict(%q, %v, %v) = %q, want %q", c.class, c.prev.P50, c.last.P50, got, c.want)
		}
	}
}
