package storeresearch

import (
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/store"
)

// BenchmarkEncodeFormats compares the embedded store's row encoding,
// RowBinary (store.AppendRowBinary, what InsertRows sends), with the
// JSONEachRow encoding it sent before (appendRow).
func BenchmarkEncodeFormats(b *testing.B) {
	rs := realisticRows("src-bench", 1000, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	for _, enc := range []struct {
		name   string
		append func([]byte, *store.Row) []byte
	}{{"rowbinary", store.AppendRowBinary}, {"jsoneachrow", appendRow}} {
		b.Run(enc.name, func(b *testing.B) {
			buf := make([]byte, 0, 1<<20)
			b.ReportAllocs()
			for b.Loop() {
				buf = buf[:0]
				for i := range rs {
					buf = enc.append(buf, &rs[i])
				}
			}
			b.SetBytes(int64(len(buf)))
			b.ReportMetric(float64(len(rs)*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
