package processor

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/enrich"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/store"
)

// BenchmarkDecodeEnrich is the per-record work of the consume loop before
// the insert: decode the record value and derive the enrichment columns.
// (The encode and insert paths are benchmarked in internal/store.)
func BenchmarkDecodeEnrich(b *testing.B) {
	e := event.Event{
		SourceID: "src_abc", ID: "0193a1b2-0000-7000-8000-000000000001", Type: "page-view",
		Time: time.Now().UTC(), ReceivedAt: time.Now().UTC(), SessionID: "s-1", ProfileID: "p-1",
		IP: "203.0.113.0", UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		URL: "https://shop.example/products/42?utm_source=newsletter&gclid=abc", Referrer: "https://www.google.com/",
		Properties: json.RawMessage(`{"title":"Product 42","price":12.5,"plan":"pro"}`),
		Context:    json.RawMessage(`{"page":{"title":"Product 42"},"library":{"name":"trackstream.js"}}`),
	}
	value, err := e.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	en := enrich.New(enrichOptions(config.Processor{Enrich: []string{config.EnrichUserAgent, config.EnrichURL, config.EnrichReferrer}}))
	rows := make([]store.Row, 0, 1)
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		d, err := event.Unmarshal(event.FormatVersion, value)
		if err != nil {
			b.Fatal(err)
		}
		rows = append(rows[:0], store.Row{Event: d, Fields: en.Event(&d)})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
