package jsonbench

import (
	"bytes"
	"strconv"
	"time"

	"github.com/trackstream/trackstream/bench/loadgen"
)

// Seed is the load generator seed of every sample, so runs compare the
// same bytes.
const Seed = 7

// sampleTime stamps the samples, so they are byte-identical across runs.
var sampleTime = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// Sample is one request body of the load generator.
type Sample struct {
	// Name is "<shape>/batch=<n>", used in benchmark names.
	Name  string
	Shape loadgen.Shape
	Batch int
	// Bodies are consecutive requests of one generator (different
	// visitors, pages and properties); benchmarks cycle through them.
	Bodies [][]byte
	// IDs are the event ids of each body, as the generator reported them.
	IDs [][]string
}

// Bytes is the mean body length.
func (s Sample) Bytes() int {
	n := 0
	for _, b := range s.Bodies {
		n += len(b)
	}
	return n / len(s.Bodies)
}

// Samples makes n bodies of each shape (Tracardi, Segment) and batch size
// (1, 50) with the load generator.
func Samples(n int) []Sample {
	var out []Sample
	for _, shape := range []loadgen.Shape{loadgen.ShapeTracardi, loadgen.ShapeSegment} {
		for _, batch := range []int{1, 50} {
			g := loadgen.NewGenerator(loadgen.GenConfig{
				Seed: Seed, RunID: "bench", SourceID: "src-bench", Shape: shape,
				EventsPerRequest: batch, Now: func() time.Time { return sampleTime },
			}, 0)
			s := Sample{Name: string(shape) + "/batch=" + strconv.Itoa(batch), Shape: shape, Batch: batch}
			for range n {
				body, ids := g.Next()
				s.Bodies = append(s.Bodies, bytes.Clone(body))
				s.IDs = append(s.IDs, append([]string(nil), ids...))
			}
			out = append(out, s)
		}
	}
	return out
}

// Decode runs c's decode for the shape of s.
func (c Codec) Decode(s Sample, body []byte, r *Result) error {
	if s.Shape == loadgen.ShapeSegment {
		return c.DecodeSegment(body, r)
	}
	return c.DecodeTrack(body, r)
}

// SampleRecord is a normalised event as ingest produces it, with the
// properties and context of a generated page view.
func SampleRecord() RecordInput {
	return RecordInput{
		SourceID: "src-bench", ID: "bench-0-1f", Type: "page-view",
		SessionID: "s-3k2j1h4g5f6d", ProfileID: "p-1a2b",
		IP: "203.0.113.0", UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		URL: "https://shop.example.com/blog/winter-boots-412?utm_source=newsletter&utm_medium=email&utm_campaign=winter-sale", Referrer: "https://www.google.com/",
		Time: sampleTime, ReceivedAt: sampleTime.Add(120 * time.Millisecond), ClientTime: sampleTime.Add(-2 * time.Second),
		Properties: []byte(`{"title":"Winter boots 412 | shop.example.com","path":"/blog/winter-boots-412","load_ms":1234}`),
		Context:    []byte(`{"page":{"url":"https://shop.example.com/blog/winter-boots-412?utm_source=newsletter&utm_medium=email&utm_campaign=winter-sale","path":"/blog/winter-boots-412","title":"Winter boots 412 | shop.example.com","referrer":"https://www.google.com/"},"browser":{"userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36","language":"de-DE"},"screen":{"width":1920,"height":1080},"timezone":"Europe/Berlin","utm":{"source":"newsletter","medium":"email","name":"winter-sale"},"library":{"name":"trackstream-loadgen","version":"1.0.0"}}`),
	}
}
