package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/internal/testkit/client"
)

// storedIDs reads, straight from the embedded ClickHouse, every event id
// of source and how many rows it has (before ReplacingMergeTree merges).
func storedIDs(t *testing.T, db *chdb.DB, source string) map[string]int {
	t.Helper()
	out, err := db.QueryParams(t.Context(),
		"SELECT event_id, count() FROM trackstream.events WHERE source_id = {s:String} GROUP BY event_id",
		"TabSeparated", map[string]string{"s": source})
	if err != nil {
		t.Fatalf("read event ids of %s: %v", source, err)
	}
	ids := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		id, n, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("unexpected row %q", sc.Text())
		}
		c, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("unexpected count in %q", sc.Text())
		}
		ids[id] = c
	}
	return ids
}

// outcome is one scenario's measured figures for the report.
type outcome struct {
	Scenario     string            `json:"scenario"`
	Requests     int               `json:"requests"`
	Sent         int               `json:"events_sent"`
	Acked        int               `json:"events_acknowledged"`
	Stored       int               `json:"events_stored"`
	Missing      int               `json:"acknowledged_missing"`
	Unexpected   int               `json:"stored_never_sent"`
	StoredUnack  int               `json:"stored_not_acknowledged"`
	CountedTwice int               `json:"counted_twice"`
	DupRows      int               `json:"duplicate_rows_before_merge"`
	Status503    int               `json:"status_503"`
	Status429    int               `json:"status_429"`
	Figures      map[string]string `json:"figures"`
}

// quiesce waits until the pipeline is still, so that figures compared
// afterwards can no longer move, and returns each scenario's admin count
// read then. Still means: no running ingest replica holds records Kafka has
// not acknowledged (a request answered 503 may still be delivered after its
// answer), the processor has committed every record of the events topic,
// and every count has stayed the same over several polls a second apart,
// all checked in the same polls.
func (s *stack) quiesce(results []*result, within time.Duration) map[string]int {
	const stablePolls = 3
	ctx := s.t.Context()
	var (
		counts   map[string]int
		stable   int
		lastPoll time.Time
		state    = "not polled yet"
	)
	testkit.Eventually(s.t, within, "the pipeline to be quiet", func() bool {
		if time.Since(lastPoll) < time.Second {
			return false
		}
		lastPoll = time.Now()
		for _, p := range s.ingest {
			if !p.Running() {
				continue
			}
			b, err := client.Metric(ctx, p.OpsAddr(), "trackstream_ingest_producer_buffered_bytes")
			if err != nil || b != 0 {
				stable, state = 0, fmt.Sprintf("%s holds %.0f bytes Kafka has not acknowledged (%v)", p.Name(), b, err)
				return false
			}
		}
		if lag, err := s.lag(ctx); err != nil || lag != 0 {
			stable, state = 0, fmt.Sprintf("consumer lag %d (%v)", lag, err)
			return false
		}
		now := map[string]int{}
		for _, r := range results {
			if now[r.source] = s.count(r.source); now[r.source] < 0 {
				stable, state = 0, "the count of "+r.name+" cannot be read"
				return false
			}
		}
		if maps.Equal(now, counts) {
			stable++
		} else {
			counts, stable = now, 1
		}
		state = fmt.Sprintf("counts the same over %d polls", stable)
		return stable >= stablePolls
	}, func() string { return state })
	return counts
}

// verifyExact waits until the pipeline is quiet, reads the admin counts,
// stops the processor,admin-api process cleanly, opens its ClickHouse data
// and checks every scenario: the acknowledged ids are all stored, nothing
// stored was never sent, the admin count equals the distinct ids (nothing
// counted twice), and only scenarios with faults may hold ids of requests
// that got no 2xx.
func verifyExact(t *testing.T, s *stack, results []*result) {
	start := time.Now()
	counts := s.quiesce(results, 3*time.Minute)
	t.Logf("pipeline quiet after %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if err := s.store.Terminate(40 * time.Second); err != nil {
		t.Errorf("processor,admin-api after SIGTERM: %v, want exit 0 (G7 clean stop)", err)
	}
	t.Logf("processor,admin-api stopped in %s", time.Since(start).Round(time.Millisecond))
	db, err := chdb.Open(s.chdbLib, filepath.Join(s.dir, "store", "clickhouse"), 1)
	if err != nil {
		t.Fatalf("open the store's ClickHouse data: %v", err)
	}
	defer db.Close()

	var report []outcome
	for _, r := range results {
		stored := storedIDs(t, db, r.source)
		sent, acked := r.sent(), r.acked()
		o := outcome{Scenario: r.name, Sent: len(sent), Acked: len(acked), Stored: len(stored),
			Status503: r.status(503), Status429: r.status(429), Figures: r.figures}
		for _, rep := range r.runs {
			o.Requests += rep.Requests
		}
		var missing, unexpected []string
		for id := range acked {
			if _, ok := stored[id]; !ok {
				missing = append(missing, id)
			}
		}
		for id, n := range stored {
			o.DupRows += n - 1
			if _, ok := sent[id]; !ok {
				unexpected = append(unexpected, id)
			} else if _, ok := acked[id]; !ok {
				o.StoredUnack++
			}
		}
		o.Missing, o.Unexpected = len(missing), len(unexpected)
		o.CountedTwice = counts[r.source] - len(stored)
		report = append(report, o)
		t.Run(r.name, func(t *testing.T) {
			slices.Sort(missing)
			slices.Sort(unexpected)
			if len(missing) > 0 {
				t.Errorf("%d acknowledged events are not stored (lost), e.g. %v", len(missing), missing[:min(5, len(missing))])
			}
			if len(unexpected) > 0 {
				t.Errorf("%d stored events were never sent by the normal traffic, e.g. %v", len(unexpected), unexpected[:min(5, len(unexpected))])
			}
			if counts[r.source] != len(stored) {
				t.Errorf("admin count %d != %d distinct stored ids", counts[r.source], len(stored))
			}
			if !r.allowUnacked && o.StoredUnack > 0 {
				t.Errorf("%d events stored whose request got no 2xx, in a scenario where every request should have been acknowledged", o.StoredUnack)
			}
			if len(acked) == 0 {
				t.Errorf("nothing was acknowledged; the scenario proves nothing")
			}
		})
	}
	writeReport(t, report)
}

// writeReport logs the outcomes as a Markdown table and, with
// TRACKSTREAM_E2E_REPORT=<file>, writes them there as JSON.
func writeReport(t *testing.T, report []outcome) {
	var b strings.Builder
	b.WriteString("\n| scenario | requests | sent | acknowledged | stored | lost | stored, not acked | counted twice | duplicate rows before merge | 503s | 429s | figures |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, o := range report {
		keys := make([]string, 0, len(o.Figures))
		for k := range o.Figures {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var fig []string
		for _, k := range keys {
			fig = append(fig, k+": "+o.Figures[k])
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %s |\n", o.Scenario, o.Requests, o.Sent, o.Acked, o.Stored,
			o.Missing, o.StoredUnack, o.CountedTwice, o.DupRows, o.Status503, o.Status429, strings.ReplaceAll(strings.Join(fig, "; "), "|", "/"))
	}
	t.Log(b.String())
	if path := os.Getenv("TRACKSTREAM_E2E_REPORT"); path != "" {
		js, _ := json.MarshalIndent(report, "", "  ")
		if err := os.WriteFile(path, js, 0o644); err != nil {
			t.Errorf("write report: %v", err)
		}
		if err := os.WriteFile(strings.TrimSuffix(path, filepath.Ext(path))+".md", []byte(b.String()), 0o644); err != nil {
			t.Errorf("write report: %v", err)
		}
	}
}
