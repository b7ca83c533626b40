package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/testkit"
)

// Admin queries filling every query connection of the embedded engine do
// not hold up inserts or health checks: with more slow queries running or
// waiting than there are query connections, a ping and an insert finish
// before the first of those queries does.
func TestEmbeddedWritesDoNotWaitBehindQueries(t *testing.T) {
	testkit.SkipShort(t)
	ctx := context.Background()
	s, err := OpenEmbedded(ctx, testkit.CHDBLib(t), t.TempDir(), quiet, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()

	// Each slow query sleeps 0.1 s per row over 20 rows, in blocks of one
	// row (sleepEachRow's per-block cap is 3 s).
	const slow = "SELECT sleepEachRow(0.1) AS slept FROM numbers(20)"
	var finished atomic.Int64 // slow queries done
	var wg sync.WaitGroup
	n := EmbeddedReadConns + 2
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.QueryJSON(ctx, slow, nil, map[string]string{"max_block_size": "1", "max_execution_time": "60"})
			finished.Add(1)
			errs <- err
		}()
	}
	defer func() {
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("slow query: %v", err)
			}
		}
	}()
	// Wait until every query connection runs a slow query.
	running := 0
	testkit.Eventually(t, 30*time.Second, fmt.Sprintf("%d slow queries running", EmbeddedReadConns), func() bool {
		// On the write connections, so it too must not wait for the
		// slow queries.
		pollCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		out, err := s.db.Query(pollCtx, "SELECT count() FROM system.processes WHERE query LIKE '%sleepEachRow%' AND query NOT LIKE '%system.processes%'", "TabSeparatedRaw")
		if err != nil {
			t.Fatalf("a query on the write connections waited behind the slow queries: %v", err)
		}
		running, _ = strconv.Atoi(strings.TrimSpace(string(out)))
		return running >= EmbeddedReadConns
	}, func() string {
		return fmt.Sprintf("%d running at the last check (made on a write connection): queries and writes share connections", running)
	})

	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if got := finished.Load(); got != 0 {
		t.Fatalf("the ping finished after %d slow queries: it waited for a connection they held", got)
	}
	if err := s.InsertRows(ctx, "pools-1", rows("src-pools", 10, time.Now().UTC())); err != nil {
		t.Fatalf("insert: %v", err)
	}
	if got := finished.Load(); got != 0 {
		t.Fatalf("the insert finished after %d slow queries: it waited for a connection they held", got)
	}
	if got := rawRows(t, s, "src-pools"); got != 10 {
		t.Fatalf("%d rows stored, want 10", got)
	}
}
