package harness

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/bench/loadgen"
	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/testkit"
)

func run(eps, rps float64, p50, p99, p999 float64) Run {
	return Run{Result: loadgen.Result{EPS: eps, RPS: rps, Requests: 100, OK: 100, Status: map[int]int64{200: 100},
		Latency: loadgen.Latency{P50: p50, P99: p99, P999: p999}}}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		eps  []float64
		want float64
	}{{nil, 0}, {[]float64{5}, 5}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2}}
	for _, tt := range tests {
		sc := Scenario{}
		for _, e := range tt.eps {
			sc.Runs = append(sc.Runs, run(e, e, 1, 1, 1))
		}
		if got := sc.Median().EPS; got != tt.want {
			t.Errorf("median of %v = %g, want %g", tt.eps, got, tt.want)
		}
	}
}

// sampleReport is a report whose verdicts are known.
func sampleReport() *Report {
	r := &Report{Started: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Machine: "2 x test CPU", Version: "v-test", Profiles: map[string]string{"cpu": "      flat  flat%\n  1s 50% main.f"}}
	r.H = Scenario{Name: "H", Runs: []Run{run(60000, 60000, 1, 2, 3)}}
	hb := run(500000, 10000, 2, 4, 6)
	hb.Traffic = "H with batches of 50: tracardi, 50 event(s)/request, seed 1"
	r.H.Runs = append(r.H.Runs, hb)
	s1 := run(40000, 40000, 1, 5, 9)
	s1.PerCoreEPS = 30000
	r.S1 = Scenario{Name: "S1", Runs: []Run{s1}}
	s2 := run(100000, 2000, 3, 9, 12)
	s2.PerCoreEPS = 70000 // below the 80k target
	r.S2 = Scenario{Name: "S2", Runs: []Run{s2}}
	r.K = []ProduceResult{{RecordsPerS: 200000, ValueBytes: 900}}
	r.C = &InsertResult{RowsPerS: 300000, BatchRows: 50000, BytesPerRow: 40}
	for _, f := range []float64{0.2, 0.6, 1.0} {
		x := run(f*40000, f*40000, 1+f, 10*f, 30*f)
		x.OfferedRate = f * 40000
		r.S4.Runs = append(r.S4.Runs, x)
	}
	for _, n := range []int{1, 50} {
		b := run(float64(n)*1000, 1000, 1, 2, 3)
		b.Traffic = "tracardi, " + map[int]string{1: "1", 50: "50"}[n] + " event(s)/request, seed 3"
		b.PerCoreEPS = float64(n) * 900
		r.Batches.Runs = append(r.Batches.Runs, b)
	}
	r.S5 = Memory{Conns: 1000, LoadPeakRSSMiB: 80, OutagePeakMiB: 90, Recovery: run(1, 1, 1, 1, 1)}
	r.S3 = []EndToEnd{{Batch: 1, Run: run(25000, 25000, 2, 4, 6), FreshnessCount: 10, Freshness: loadgen.Latency{P50: 900, P99: 1500}}}
	r.S6 = &SizeResult{Rows: 1000, Bytes: 120000, BytesPerRow: 120, Columns: map[string]int64{"context": 60000}}
	return r
}

func TestMarkdownVerdicts(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteMarkdown(&b, "benchmarks.svg", "task bench:run", "## Notes\n\nhand-written"); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| S1 single events, ingest only | >= 0.5 x H | 40000 events/s | S1/H = 0.67; S1/K = 0.20 | **met** |",
		"| S1 per ingest core | >= 25k events/s per core | 30000 events per ingest CPU-second",
		"S2/H50 = 0.20",
		"| S5 ingest RSS at 1000 connections, S1 load | <= 64 MiB | peak 80.0 MiB",
		"S3/C = 0.08",
		"p50 900 ms, p99 1500 ms (10 probes) | | **met** |",
		"120.0 B/event",
		"![throughput and latency against offered load and batch size](benchmarks.svg)",
		"task bench:run",
		"hand-written",
		"main.f",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// S2 per core, S5 load memory and S6 miss their targets.
	for _, row := range []string{"| S2 batches of 50", "| S5 ingest RSS at 1000", "| S6 bytes per event"} {
		line := lineWith(md, row)
		if !strings.HasSuffix(line, "**not met** |") {
			t.Errorf("row %q should be not met: %s", row, line)
		}
	}
	if line := lineWith(md, "| S4 open loop"); !strings.Contains(line, "offered 24000 req/s") || !strings.HasSuffix(line, "**met** |") {
		t.Errorf("S4 should pick the run at 60%% (24000 req/s) and meet: %s", line)
	}
}

func lineWith(s, prefix string) string {
	for line := range strings.SplitSeq(s, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

func TestSVGIsWellFormed(t *testing.T) {
	for name, r := range map[string]*Report{"full": sampleReport(), "empty": {}} {
		var b bytes.Buffer
		if err := r.WriteSVG(&b); err != nil {
			t.Fatal(err)
		}
		dec := xml.NewDecoder(&b)
		elems := 0
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: SVG is not well-formed XML: %v", name, err)
			}
			if _, ok := tok.(xml.StartElement); ok {
				elems++
			}
		}
		if elems < 5 {
			t.Errorf("%s: only %d elements", name, elems)
		}
	}
}

func TestTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		log    bool
		first  float64
		last   float64
	}{
		{0, 47, false, 0, 50},
		{0, 40000, false, 0, 40000},
		{1, 180, true, 1, 1000},
		{0.3, 12, true, 0.1, 100},
	}
	for _, tt := range tests {
		got := ticks(tt.lo, tt.hi, tt.log)
		if got[0] != tt.first || got[len(got)-1] != tt.last || len(got) < 2 {
			t.Errorf("ticks(%g, %g, log=%v) = %v; want %g..%g", tt.lo, tt.hi, tt.log, got, tt.first, tt.last)
		}
	}
	if human(1500) != "1.5k" || human(2e6) != "2M" || human(0.25) != "0.25" || human(0) != "0" {
		t.Errorf("human: %s %s %s %s", human(1500), human(2e6), human(0.25), human(0))
	}
}

func TestProcReaders(t *testing.T) {
	// Burn CPU until the counter (in clock ticks) is above zero; on a busy
	// machine that can take longer than any fixed burn.
	deadline := time.Now().Add(30 * time.Second)
	cpu, err := cpuSeconds(os.Getpid())
	for err == nil && cpu <= 0 && time.Now().Before(deadline) {
		for x := 0; x < 1_000_000; x++ {
			_ = x * x
		}
		cpu, err = cpuSeconds(os.Getpid())
	}
	if err != nil || cpu <= 0 {
		t.Fatalf("cpuSeconds(self) = %g, %v", cpu, err)
	}
	rss, err := memKiB(os.Getpid(), "VmRSS")
	if err != nil || rss < 1024 {
		t.Fatalf("VmRSS(self) = %d KiB, %v", rss, err)
	}
	if _, err := memKiB(os.Getpid(), "NoSuchField"); err == nil {
		t.Fatal("missing field read without error")
	}
}

// announced waits until out starts with prefix and returns the rest of
// its first line.
func announced(t *testing.T, out *testkit.Buffer, prefix string) string {
	t.Helper()
	var rest string
	testkit.Eventually(t, 20*time.Second, fmt.Sprintf("%q announced", prefix), func() bool {
		r, ok := strings.CutPrefix(out.String(), prefix)
		rest = strings.TrimSpace(r)
		return ok
	})
	return rest
}

func TestHTTPCeilingServesLoad(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out testkit.Buffer
	done := make(chan error, 1)
	go func() { done <- ServeHTTPCeiling(ctx, "127.0.0.1:0", &out) }()
	addr := announced(t, &out, httpAnnounce)
	for _, gz := range []bool{false, true} {
		res, err := loadgen.Run(context.Background(), loadgen.Options{Target: addr, Conns: 4, Duration: 300 * time.Millisecond, Gzip: gz, Gen: loadgen.GenConfig{SourceID: "s"}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests == 0 || res.Status[204] != res.Requests {
			t.Fatalf("gzip=%v: ceiling H answered %v, want only 204", gz, res.Status)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ceiling H stopped with %v", err)
	}
}

func TestProduceCeilingAgainstBroker(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var out testkit.Buffer
	done := make(chan error, 1)
	dir := t.TempDir()
	go func() { done <- ServeBroker(ctx, dir, &out, log) }()
	addr := strings.Split(announced(t, &out, brokerAnnounce), ",")[0]
	base, err := brokerOpts([]string{addr}, dir, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := publishSource(context.Background(), base); err != nil {
		t.Fatalf("create topics and publish a source: %v", err)
	}
	res, err := produceCeiling(context.Background(), base, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records < 100 || res.RecordsPerS <= 0 || res.ValueBytes < 300 || res.Errors != 0 {
		t.Fatalf("ceiling K produced too little: %+v", res)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestCHDBCeilingAndSize(t *testing.T) {
	lib := testkit.CHDBLib(t)
	dir := filepath.Join(t.TempDir(), "ch")
	res, err := CHDBCeiling(context.Background(), lib, dir, 3000, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 3000 || res.RowsPerS <= 0 || res.BytesPerRow <= 0 || res.BytesPerRow > 2000 {
		t.Fatalf("unexpected ceiling C result: %+v", res)
	}
	// Ceiling C lays its data out like trackstream: chDB under
	// <dir>/clickhouse, the product's database.
	size, err := TableSize(context.Background(), lib, filepath.Join(dir, "clickhouse"), "")
	if err != nil {
		t.Fatal(err)
	}
	// Per-column sizes stay 0 for small (compact) parts, so only the
	// totals are checked here.
	if size.Rows != 3000 || size.Bytes != res.BytesOnDisk || len(size.Columns) < 9 {
		t.Fatalf("table size after reopening: %+v", size)
	}
}

// Ceiling C without a view inserts nothing into that view's table and
// still feeds the others; a name that is not a view is refused before
// anything is inserted.
func TestCHDBCeilingDropView(t *testing.T) {
	lib := testkit.CHDBLib(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "ch")
	if _, err := CHDBCeiling(ctx, lib, dir, 1000, 1000, []string{"dims_daily_mv"}); err != nil {
		t.Fatal(err)
	}
	db, err := chdb.Open(lib, filepath.Join(dir, "clickhouse"), 1)
	if err != nil {
		t.Fatal(err)
	}
	out, err := db.Query(ctx, "SELECT (SELECT count() FROM trackstream.dims_daily), (SELECT sum(events) FROM trackstream.counts_by_type_daily)", "TabSeparated")
	_ = db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "0\t1000" {
		t.Fatalf("dims_daily rows and counts_by_type_daily events after dropping dims_daily_mv: %q, want 0 and 1000", got)
	}
	_, err = CHDBCeiling(ctx, lib, filepath.Join(t.TempDir(), "ch"), 1000, 1000, []string{"events"})
	if err == nil || !strings.Contains(err.Error(), "not a materialized view") {
		t.Fatalf("dropping the events table: got %v, want a refusal", err)
	}
}

func TestDownsample(t *testing.T) {
	xs := make([]int64, 100)
	for i := range xs {
		xs[i] = int64(i)
	}
	got := downsample(xs, 5)
	if len(got) != 5 || got[0] != 0 || got[4] != 99 {
		t.Fatalf("downsample(0..99, 5) = %v", got)
	}
	if short := downsample(xs[:3], 5); len(short) != 3 {
		t.Fatalf("a short slice must be kept whole, got %v", short)
	}
}

// A run without S1 (-only s4) measures its own maximum: S4's 60 % row is
// picked against it, says so, and a merge into an earlier report keeps it
// with S4 rather than against the earlier S1.
func TestS4AgainstItsOwnReference(t *testing.T) {
	cur := &Report{S4: sampleReport().S4}
	ref := run(66667, 66667, 1, 2, 3)
	cur.S4Max, cur.S4Reference = 66667, &ref // 60 % = 40000: the run offered 40000 (f=1.0 of 40000)
	skip, err := ParseSkip("", "s4")
	if err != nil {
		t.Fatal(err)
	}
	m := Merge(sampleReport(), cur, skip)
	var b bytes.Buffer
	if err := m.WriteMarkdown(&b, "b.svg", "task bench:run", ""); err != nil {
		t.Fatal(err)
	}
	line := lineWith(b.String(), "| S4 open loop")
	if !strings.Contains(line, "offered 40000 req/s (of 66667, a closed-loop S1 run in the same invocation)") {
		t.Errorf("S4 should pick the run at 60%% of its own reference (40000 req/s): %s", line)
	}
}
