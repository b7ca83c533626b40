package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/jsonread"
)

// benchProps and benchContext make events of about 800 bytes, like a
// page view from a browser tracker.
var (
	benchProps = map[string]any{
		"url":      "https://shop.example.com/products/running-shoes/trail-runner-3000?utm_source=newsletter&utm_medium=email",
		"title":    "Trail Runner 3000 - Running shoes - Example Shop",
		"referrer": "https://www.example.org/search?q=trail+running+shoes",
		"price":    129.95,
		"currency": "EUR",
		"tags":     []string{"running", "trail", "outdoor"},
	}
	benchContext = map[string]any{
		"browser": map[string]any{
			"userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
			"language":  "de-DE",
		},
		"page":   map[string]any{"url": "https://shop.example.com/products/running-shoes/trail-runner-3000", "referrer": "https://www.example.org/"},
		"screen": map[string]any{"width": 1920, "height": 1080},
	}
)

// benchTrackBody is a /track request of n page-view events.
func benchTrackBody(b testing.TB, n int) []byte {
	b.Helper()
	events := make([]any, n)
	for i := range events {
		events[i] = map[string]any{
			"id": fmt.Sprintf("0193a5f2-7c1e-7a3b-9f00-%012d", i), "type": "page-view",
			"time":       goldenReceivedAt.Add(-time.Duration(i) * time.Second),
			"properties": benchProps, "context": benchContext,
		}
	}
	body, err := json.Marshal(map[string]any{
		"source":  map[string]any{"id": "src_test"},
		"session": map[string]any{"id": "0193a5f2-7c1e-7a3b-9f00-5d2c8e4b1a77"},
		"profile": map[string]any{"id": "0193a5f2-7c1e-7a3b-9f00-5d2c8e4b1a78"},
		"events":  events,
	})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// benchSegmentBody is a /v1/batch request of n track calls.
func benchSegmentBody(b *testing.B, n int) []byte {
	b.Helper()
	calls := make([]any, n)
	for i := range calls {
		calls[i] = map[string]any{
			"type": "track", "messageId": fmt.Sprintf("0193a5f2-7c1e-7a3b-9f00-%012d", i), "anonymousId": "0193a5f2-7c1e-7a3b-9f00-5d2c8e4b1a77",
			"event": "Product Viewed", "properties": benchProps, "context": benchContext,
			"timestamp": goldenReceivedAt.Add(-time.Duration(i) * time.Second),
		}
	}
	body, err := json.Marshal(map[string]any{"writeKey": "src_test", "sentAt": goldenReceivedAt, "batch": calls})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkPipeline measures the CPU work of one request short of Kafka:
// harden-scan, decode, authenticate, validate each event (core limits and
// JSON Schema), normalise and encode each record. It reports events/s on
// one core and allocations per event.
func BenchmarkPipeline(b *testing.B) {
	set := goldenSchemas(b)
	lim := limitsOf(config.Default().Ingest)
	lookup := goldenSources()
	budget := newPathBudget(lim.MaxSourcePaths)
	for _, api := range []string{"track", "segment"} {
		for _, n := range []int{1, 50} {
			b.Run(fmt.Sprintf("api=%s/events=%d", api, n), func(b *testing.B) {
				body := benchTrackBody(b, n)
				decode := func() (*batch, error) { return decodeTrack(body, lim, budget.hashSeed()) }
				if api == "segment" {
					body = benchSegmentBody(b, n)
					decode = func() (*batch, error) { return decodeSegment(body, "batch", lim, budget.hashSeed()) }
				}
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				var ms0, ms1 runtime.MemStats
				runtime.ReadMemStats(&ms0)
				cpu0 := cpuTime(b)
				for b.Loop() {
					bt, err := decode()
					if err != nil {
						b.Fatal(err)
					}
					src, rerr := authenticate(bt, goldenMeta, lookup, nil)
					if rerr != nil {
						b.Fatal(rerr)
					}
					events, rejected := judge(bt, &src, &goldenMeta, &lim, set, budget)
					if len(events) != n || len(rejected) != 0 {
						b.Fatalf("%d events accepted, %v rejected", len(events), rejected)
					}
					rs := getRecordSet()
					if err := rs.encode(events); err != nil {
						b.Fatal(err)
					}
					rs.release()
				}
				cpu := cpuTime(b) - cpu0
				runtime.ReadMemStats(&ms1)
				perEvent := float64(b.Elapsed().Nanoseconds()) / float64(b.N*n)
				b.ReportMetric(1e9/perEvent, "events/s")
				// Events per second of CPU time (all threads, GC included):
				// the per-core figure, steady even on a busy machine.
				b.ReportMetric(float64(b.N*n)/cpu.Seconds(), "events/cpu-s")
				b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N*n), "allocs/event")
			})
		}
	}
}

// cpuTime is the CPU time this process has used so far (user + system).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkScanJSON measures the hardening pre-scan against
// encoding/json's own validity check on the same 50-event body.
func BenchmarkScanJSON(b *testing.B) {
	body := benchTrackBody(b, 50)
	b.Run("Validate", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, _, err := jsonread.Validate(body, jsonread.Limits{MaxDepth: 32}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if !json.Valid(body) {
				b.Fatal("invalid")
			}
		}
	})
}

// BenchmarkSchemaValidate measures validating one page-view's properties.
func BenchmarkSchemaValidate(b *testing.B) {
	set := goldenSchemas(b)
	raw, _ := json.Marshal(benchProps)
	props, _, err := jsonread.Validate(raw, jsonread.Limits{MaxDepth: 32})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, reason, ok := set.validate("page-view", props); !ok {
			b.Fatal(reason)
		}
	}
}

// BenchmarkDecode measures the hardening scan plus the walk that decodes
// a body (no judging, no encoding) on the load generator's bodies in
// testdata/decode (seed 7, fixed clock, 16 consecutive bodies per file),
// the same ones bench/jsonbench gives the JSON libraries, so cpu-ns/op
// compares with its Decode table. bench/jsonbench's tests check the files
// against the generator and rewrite them with -update.
func BenchmarkDecode(b *testing.B) {
	lim := limitsOf(config.Default().Ingest)
	seed := maphash.MakeSeed()
	for _, shape := range []string{"tracardi", "segment"} {
		for _, n := range []int{1, 50} {
			bodies := decodeBodies(b, fmt.Sprintf("%s-batch%d", shape, n))
			size := 0
			for _, body := range bodies {
				size += len(body)
			}
			b.Run(fmt.Sprintf("%s/batch=%d", shape, n), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size / len(bodies)))
				cpu0 := cpuTime(b)
				i := 0
				for b.Loop() {
					body := bodies[i%len(bodies)]
					i++
					var bt *batch
					var err error
					if shape == "tracardi" {
						bt, err = decodeTrack(body, lim, seed)
					} else {
						bt, err = decodeSegment(body, "batch", lim, seed)
					}
					if err != nil || len(bt.items) != n {
						b.Fatalf("%v, %d items", err, len(bt.items))
					}
				}
				b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// decodeBodies reads testdata/decode/name.jsonl.gz: gzip-compressed
// request bodies, one a line.
func decodeBodies(b *testing.B, name string) [][]byte {
	b.Helper()
	f, err := os.Open(filepath.Join("testdata", "decode", name+".jsonl.gz"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatalf("%s: %v", f.Name(), err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		b.Fatalf("%s: %v", f.Name(), err)
	}
	bodies := bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
	if len(bodies) == 0 || len(bodies[0]) == 0 {
		b.Fatalf("%s holds no bodies", f.Name())
	}
	return bodies
}

// BenchmarkTrack measures a /track request of one event as S1 sends it
// (the load generator's bodies, as wrk replays them), through everything
// ingest does short of the connection: fasthttp's header parsing, Fiber's
// middleware and routing, decode, judge, encode, produce to an in-process
// Kafka (kfake) with acks from all replicas, waiting for the ack and the
// answer. kfake's work counts in the CPU figure too, and the socket reads
// and writes of the client's connection are left out, so events/cpu-s is
// higher than the S1 scenario's per-core figure; it moves with it.
// Several requests are in flight at once, as under S1, so the producer
// batches as it does there.
func BenchmarkTrack(b *testing.B) {
	env := newEnv(b, nil)
	handler := env.srv.app.Handler()
	srcID := regexp.MustCompile(`"source":\{"id":"[^"]*"\}`)
	var requests [][]byte
	for _, body := range decodeBodies(b, "tracardi-batch1") {
		body = srcID.ReplaceAll(body, []byte(`"source":{"id":"`+enabledSource+`"}`))
		requests = append(requests, fmt.Appendf(nil, "POST /track HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	}
	peer := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 40000}
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		ctx.Init(new(fasthttp.Request), peer, nil)
		var rd bytes.Reader
		br := bufio.NewReader(&rd)
		for pb.Next() {
			rd.Reset(requests[int(next.Add(1))%len(requests)])
			br.Reset(&rd)
			ctx.Request.Reset()
			ctx.Response.Reset()
			if err := ctx.Request.Read(br); err != nil {
				b.Error(err)
				return
			}
			handler(&ctx)
			if status := ctx.Response.StatusCode(); status != fasthttp.StatusOK {
				b.Errorf("status %d: %s", status, ctx.Response.Body())
				return
			}
		}
	})
	cpu := cpuTime(b) - cpu0
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
}
