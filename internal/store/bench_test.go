package store

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/enrich"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/testkit"
)

var benchUserAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
}

var benchReferrers = []string{"", "https://www.google.com/", "https://t.co/x", "https://shop.example/cart", "https://news.example.org/a"}

// realisticRows are page views and clicks of 2,000 visitors on one site,
// enriched the way the processor enriches them.
func realisticRows(source string, n int, start time.Time) []Row {
	en := enrich.New(enrich.Options{UserAgent: true, URL: true, Referrer: true})
	types := []string{"page-view", "page-view", "page-view", "click", "add-to-cart"}
	out := make([]Row, n)
	for i := range out {
		visitor := i % 2000
		e := event.Event{
			SourceID: source, ID: fmt.Sprintf("0193a1b2-%04x-7%03x-8%03x-%012x", i>>16&0xffff, i>>4&0xfff, i&0xfff, i*7919),
			Type: types[i%len(types)], Time: start.Add(time.Duration(i) * 50 * time.Millisecond),
			SessionID: fmt.Sprintf("s-%d-%d", visitor, i/20000), ProfileID: fmt.Sprintf("p-%06d", visitor),
			AnonymousID: fmt.Sprintf("anon-%06d", visitor), IP: fmt.Sprintf("203.0.%d.0", visitor%256),
			UserAgent: benchUserAgents[visitor%len(benchUserAgents)],
			URL:       fmt.Sprintf("https://shop.example/products/%d?utm_source=newsletter&utm_campaign=c%d", i%500, i%7),
			Referrer:  benchReferrers[i%len(benchReferrers)],
			Properties: json.RawMessage(fmt.Sprintf(`{"title":"Product %d","price":%d.%02d,"plan":"%s","items":%d,"logged_in":%t}`,
				i%500, i%200, i%100, []string{"free", "pro", "team"}[i%3], i%7, i%3 == 0)),
			Context: json.RawMessage(fmt.Sprintf(`{"page":{"title":"Product %d","width":%d},"library":{"name":"trackstream.js","version":"1.2.0"}}`, i%500, 1280+visitor%3*100)),
		}
		e.ReceivedAt = e.Time.Add(120 * time.Millisecond)
		out[i] = Row{Event: e, Fields: en.Event(&e)}
	}
	return out
}

// BenchmarkEncodeRows is the embedded store's row encoding: RowBinary,
// what InsertRows sends (bench/storeresearch compares it with the
// JSONEachRow encoding it replaced).
func BenchmarkEncodeRows(b *testing.B) {
	rs := realisticRows("src-bench", 1000, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	buf := make([]byte, 0, 1<<20)
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for i := range rs {
			buf = appendRowBinary(buf, &rs[i])
		}
	}
	b.SetBytes(int64(len(buf)))
	b.ReportMetric(float64(len(rs)*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkInsertRows inserts batches of realistic rows into chDB and
// reports rows/s, then the bytes per event on disk after OPTIMIZE FINAL.
//
//	go test ./internal/store -run '^$' -bench InsertRows -benchtime 20x
func BenchmarkInsertRows(b *testing.B) {
	const batch = 50_000
	ctx := context.Background()
	s, err := OpenEmbedded(ctx, testkit.CHDBLib(b), filepath.Join(b.TempDir()), quiet, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	batches := make([][]Row, 4)
	for i := range batches {
		batches[i] = realisticRows("src-bench", batch, start)
	}
	var encoded int
	for i := range batches[0] {
		encoded += len(appendRowBinary(nil, &batches[0][i]))
	}
	b.SetBytes(int64(encoded))
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	cpuStart := cpuTime(b)
	for b.Loop() {
		rs := batches[n%len(batches)]
		// New ids per batch so every row is a distinct event.
		for i := range rs {
			rs[i].Event.ID = strconv.Itoa(n) + "-" + strconv.Itoa(i)
		}
		if err := s.InsertRows(ctx, "bench-"+strconv.Itoa(n), rs); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n*batch)/b.Elapsed().Seconds(), "rows/s")
	// CPU time of the whole process (chDB runs in it): rows per CPU second
	// does not depend on what else the machine runs.
	b.ReportMetric(float64(n*batch)/(cpuTime(b)-cpuStart).Seconds(), "rows/cpu-s")
	b.StopTimer()
	if err := s.db.Exec(ctx, "OPTIMIZE TABLE trackstream.events FINAL"); err != nil {
		b.Fatal(err)
	}
	out, err := s.db.Query(ctx, "SELECT sum(bytes_on_disk), sum(rows) FROM system.parts WHERE database = 'trackstream' AND table = 'events' AND active", "TabSeparated")
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(out))
	bytesOnDisk, _ := strconv.ParseFloat(f[0], 64)
	stored, _ := strconv.ParseFloat(f[1], 64)
	if stored != float64(n*batch) {
		b.Fatalf("%v rows stored, want %d", stored, n*batch)
	}
	b.ReportMetric(bytesOnDisk/stored, "disk-bytes/event")
	b.ReportMetric(float64(encoded)/batch, "rowbinary-bytes/event")
}

// cpuTime is the user+system CPU time of this process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
