package processor

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/store"
	"github.com/trackstream/trackstream/internal/testkit"
)

const (
	// drainStored is the events the store holds before the drains, a
	// month of history older than the dedup window: what the event_ids
	// lookup searches.
	drainStored = 1_000_000
	// drainBacklog is the records of one drain, 1% of them resent copies.
	drainBacklog = 100_000
)

var (
	preloadDrain sync.Once
	// drained counts the events the drains of this process stored.
	drained atomic.Int64
)

// drainSource is the one source of the history and of every drain: the
// lookup searches the ids of the same source, as it does for a site.
const drainSource = "drain-site"

// BenchmarkDrain is the processor end to end on a preloaded partition: a
// backlog of events with client times (1% resends) in one partition is
// drained into the embedded ClickHouse, which already holds drainStored
// older events, with the dedup window on and off (the sub-benchmarks
// alternate; run with -count for pairs). It reports rows stored per
// CPU-second of the whole process (processor, kfake and chDB: the shape
// of `trackstream all` draining a backlog), the CPU of a drain and the
// ids looked up in ClickHouse.
func BenchmarkDrain(b *testing.B) {
	testkit.SkipShort(b)
	preloadDrain.Do(func() {
		at := time.Now().Add(-3 * 24 * time.Hour)
		for chunk := 0; chunk < drainStored/50_000; chunk++ {
			events := clientEvents(drainSource, 50_000, at.Add(-time.Duration(chunk)*13*time.Hour))
			rows := make([]store.Row, len(events))
			for i := range events {
				events[i].ID = fmt.Sprintf("hist-%d-%d", chunk, i)
				rows[i] = store.Row{Event: events[i]}
			}
			if err := testStore.InsertRows(ctxFor(b, 5*time.Minute), fmt.Sprintf("drain-history-%d", chunk), rows); err != nil {
				b.Fatalf("preload: %v", err)
			}
		}
	})
	quiet := slog.New(slog.DiscardHandler)
	for _, window := range []time.Duration{48 * time.Hour, 0} {
		b.Run(fmt.Sprintf("window=%s", window), func(b *testing.B) {
			var cpu, wall time.Duration
			var lookups float64
			for range b.N {
				k := newKafka(b, 1, quiet)
				group := newGroup(b)
				events := clientEvents(drainSource, drainBacklog-drainBacklog/100, time.Now())
				for i := range events {
					events[i].ID = fmt.Sprintf("%s-%d", group, i)
				}
				events = append(events, resend(events[:drainBacklog/100])...)
				recs := make([]*kgo.Record, len(events))
				for i := range events {
					recs[i] = eventRecord(b, events[i])
				}
				for i := 0; i < len(recs); i += 10_000 {
					k.produce(b, recs[i:min(i+10_000, len(recs))]...)
				}
				cfg := testConfig(group, 50_000, time.Second)
				cfg.DedupWindow = window
				start, before := time.Now(), cpuTime()
				r := k.start(b, cfg, testStore, nil)
				testkit.Eventually(b, 10*time.Minute, "the backlog drained", func() bool { ok, _ := k.committedAtEnd(b, group); return ok })
				cpu += cpuTime() - before
				wall += time.Since(start)
				lookups += r.lookups(b)
				r.stop(b)
				want := drainStored + drained.Add(int64(len(events)-drainBacklog/100))
				if got := countEvents(b, drainSource); got != uint64(want) {
					b.Fatalf("stored %d events of %s, want %d", got, drainSource, want)
				}
			}
			rows := float64(b.N * (drainBacklog - drainBacklog/100))
			b.ReportMetric(rows/cpu.Seconds(), "rows/cpu-s")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/drain")
			b.ReportMetric(lookups/float64(b.N), "lookups/drain")
			b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s/drain")
		})
	}
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
