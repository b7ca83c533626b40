package adminapi

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/loadgen/bench"
)

// TestQueryLatency seeds TRACKSTREAM_QUERY_BENCH_EVENTS events (default
// 1,000,000) plus 1% resent duplicates into the embedded engine and
// reports p50/p95 latencies of the statistics endpoints through HTTP: the
// dataset and queries of the benchmark harness's S7 (package
// internal/loadgen/bench), in-process. It runs only with
// TRACKSTREAM_QUERY_BENCH=1:
//
//	TRACKSTREAM_QUERY_BENCH=1 TRACKSTREAM_QUERY_BENCH_EVENTS=10000000 go test ./admin-api -run TestQueryLatency -v -timeout 60m
func TestQueryLatency(t *testing.T) {
	if os.Getenv("TRACKSTREAM_QUERY_BENCH") != "1" {
		t.Skip("set TRACKSTREAM_QUERY_BENCH=1 to measure query latencies (seeds millions of events)")
	}
	total := uint64(1_000_000)
	if s := os.Getenv("TRACKSTREAM_QUERY_BENCH_EVENTS"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n < 1000 {
			t.Fatalf("TRACKSTREAM_QUERY_BENCH_EVENTS=%q: want a number >= 1000", s)
		}
		total = n
	}
	st, db := chStore(t)
	ctx := context.Background()
	start := time.Now()
	const chunk = 1_000_000
	for from := uint64(0); from < total; from += chunk {
		if err := db.Exec(ctx, bench.QuerySeedSQL(from, min(chunk, total-from), total)); err != nil {
			t.Fatalf("seed rows %d..: %v", from, err)
		}
	}
	// 1% resent: the same ids again in another insert.
	if err := db.Exec(ctx, bench.QuerySeedSQL(0, total/100, total)); err != nil {
		t.Fatalf("seed duplicates: %v", err)
	}
	t.Logf("seeded %d events + %d duplicates in %s", total, total/100, time.Since(start).Round(time.Second))
	n, err := st.CountEvents(ctx, "bench-a")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("distinct events of bench-a: %d", n)

	// A generous query timeout, so slow figures are measured rather than
	// cut at the default 10 s.
	e := startWithTimeout(t, st, &clock{t: bench.QueryBase.Add(bench.QueryDays * 24 * time.Hour)}, 2*time.Minute)
	tok := e.login("admin", strong)
	runs := 20
	if total > 2_000_000 {
		runs = 10
	}
	t.Logf("%d runs per query after one warm-up", runs)
	for _, c := range bench.QueryCases() {
		lat := make([]time.Duration, 0, runs)
		// The first call warms caches and is not counted.
		e.call("GET", c.Path, tok, "")
		for range runs {
			t0 := time.Now()
			r := e.call("GET", c.Path, tok, "")
			lat = append(lat, time.Since(t0))
			if r.code != http.StatusOK {
				t.Fatalf("%s: %d %s", c.Name, r.code, r.raw)
			}
		}
		slices.Sort(lat)
		t.Logf("%-46s p50 %7.1f ms  p95 %7.1f ms", c.Name, ms(lat[runs/2]), ms(lat[runs*95/100-1]))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
