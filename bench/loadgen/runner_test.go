package loadgen

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// trackServer is a stand-in collector that decodes each body (gunzipping
// it when asked) and answers like ingest. It is an HTTP peer for the load
// generator, not a stand-in for Kafka or ClickHouse.
type trackServer struct {
	delay    time.Duration
	short    bool // accept one event fewer than sent
	close    bool // answer with Connection: close
	events   atomic.Int64
	gzipped  atomic.Int64
	mu       sync.Mutex
	ids      map[string]int
	failures atomic.Int64
}

func (s *trackServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			s.failures.Add(1)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.gzipped.Add(1)
		body = zr
	}
	var p tracardiBody
	if err := json.NewDecoder(body).Decode(&p); err != nil || r.URL.Path != "/track" {
		s.failures.Add(1)
		http.Error(w, fmt.Sprint("bad request ", r.URL.Path, err), http.StatusBadRequest)
		return
	}
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	if s.close {
		w.Header().Set("Connection", "close")
	}
	n := len(p.Events)
	if s.short {
		n--
	}
	s.mu.Lock()
	for _, e := range p.Events[:n] {
		s.ids[e.ID]++
	}
	s.mu.Unlock()
	s.events.Add(int64(n))
	fmt.Fprintf(w, `{"accepted":%d,"ids":[],"rejected":[]}`, n)
}

func startServer(t *testing.T, s *trackServer) string {
	t.Helper()
	s.ids = map[string]int{}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return strings.TrimPrefix(ts.URL, "http://")
}

func readIDs(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func TestClosedLoopCountsEveryAcknowledgedEvent(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprint("gzip=", gz), func(t *testing.T) {
			srv := &trackServer{}
			addr := startServer(t, srv)
			idsPath := filepath.Join(t.TempDir(), "ids.txt")
			f, err := os.Create(idsPath)
			if err != nil {
				t.Fatal(err)
			}
			var progress atomic.Int64
			res, err := Run(context.Background(), Options{
				Target: addr, Conns: 4, Duration: 700 * time.Millisecond, Warmup: 100 * time.Millisecond,
				Gzip: gz, IDs: f, Progress: &progress,
				Gen: GenConfig{SourceID: "src_t", EventsPerRequest: 3, RunID: "t"},
			})
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			if srv.failures.Load() != 0 {
				t.Fatalf("server refused %d requests", srv.failures.Load())
			}
			if gz && srv.gzipped.Load() == 0 {
				t.Fatal("gzip on, but no body arrived gzipped")
			}
			if res.Mode != "closed" || res.Requests == 0 || res.OK != res.Requests || res.Status[200] != res.Requests {
				t.Fatalf("unexpected result: %+v", res)
			}
			ids := readIDs(t, idsPath)
			if int64(len(ids)) != srv.events.Load() || res.TotalAcked != srv.events.Load() || progress.Load() != srv.events.Load() {
				t.Fatalf("server stored %d events; ids file %d, total acked %d, progress %d",
					srv.events.Load(), len(ids), res.TotalAcked, progress.Load())
			}
			for _, id := range ids {
				if srv.ids[id] != 1 {
					t.Fatalf("id %s recorded as acknowledged, server saw it %d times", id, srv.ids[id])
				}
			}
			if res.Events >= res.TotalAcked || res.Events != 3*res.OK {
				t.Errorf("measured events %d (of %d requests) should be 3 per request and fewer than the %d acked with warm-up", res.Events, res.OK, res.TotalAcked)
			}
			var tl int64
			for _, n := range res.Timeline {
				tl += n
			}
			if tl != res.TotalAcked {
				t.Errorf("timeline sums to %d, want %d", tl, res.TotalAcked)
			}
			if res.Latency.P50 <= 0 || res.Latency.P99 < res.Latency.P50 || res.Latency.Max < res.Latency.P99 {
				t.Errorf("latency out of order: %+v", res.Latency)
			}
		})
	}
}

func TestOpenLoopHoldsRateOnFastServer(t *testing.T) {
	srv := &trackServer{}
	addr := startServer(t, srv)
	res, err := Run(context.Background(), Options{
		Target: addr, Conns: 8, Duration: time.Second, Rate: 400,
		Gen: GenConfig{SourceID: "s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every slot is either sent or counted unsent; on a busy machine a few
	// may miss the end of the run, but most must go out on time.
	if res.Mode != "open" || res.Requests+res.Unsent < 399 || res.Requests+res.Unsent > 401 || res.Requests < 200 || res.OK != res.Requests {
		t.Fatalf("offered 400 requests in 1s: sent %d, unsent %d, ok %d", res.Requests, res.Unsent, res.OK)
	}
}

// A server slower than the offered rate must show up as growing latency
// measured from the intended send times, not as a lower rate with flat
// latency (coordinated omission).
func TestOpenLoopLatencyIncludesQueueing(t *testing.T) {
	const service = 20 * time.Millisecond
	srv := &trackServer{delay: service}
	addr := startServer(t, srv)
	// Capacity: 2 connections / 20 ms = 100 requests/s; offered 300/s.
	open, err := Run(context.Background(), Options{
		Target: addr, Conns: 2, Duration: time.Second, Rate: 300,
		Gen: GenConfig{SourceID: "s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	closed, err := Run(context.Background(), Options{
		Target: addr, Conns: 2, Duration: time.Second,
		Gen: GenConfig{SourceID: "s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if open.LateStarts == 0 || open.Unsent == 0 {
		t.Errorf("overloaded open loop reports late %d, unsent %d; want both > 0", open.LateStarts, open.Unsent)
	}
	if open.Latency.P99 < 10*float64(service.Milliseconds()) {
		t.Errorf("open loop p99 %.1f ms; with a growing queue it must be far above the %v service time", open.Latency.P99, service)
	}
	// A closed loop waits for each answer: its median is the service
	// time, far below the open loop's queueing delay.
	if closed.Latency.P50 < float64(service.Milliseconds()) || closed.Latency.P50 > open.Latency.P99/2 {
		t.Errorf("closed loop p50 %.1f ms; want about the %v service time, well under the open loop's p99 %.1f ms", closed.Latency.P50, service, open.Latency.P99)
	}
}

func TestPartialAcceptanceIsNotAcknowledged(t *testing.T) {
	srv := &trackServer{short: true}
	addr := startServer(t, srv)
	var ids bytes.Buffer
	res, err := Run(context.Background(), Options{
		Target: addr, Conns: 2, Duration: 300 * time.Millisecond, IDs: &ids,
		Gen: GenConfig{SourceID: "s", EventsPerRequest: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 0 || res.TotalAcked != 0 || ids.Len() != 0 || res.Status[-1] != res.Requests || !strings.Contains(res.FirstError, "accepted 1 of 2") {
		t.Fatalf("a 200 accepting 1 of 2 events counted as success: ok %d acked %d ids %dB status %v err %q",
			res.OK, res.TotalAcked, ids.Len(), res.Status, res.FirstError)
	}
}

func TestTransportErrorsAreCounted(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens there any more
	res, err := Run(context.Background(), Options{Target: addr, Conns: 1, Duration: 200 * time.Millisecond, Gen: GenConfig{SourceID: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Status[0] != res.Requests || res.OK != 0 || res.FirstError == "" {
		t.Fatalf("refused connections not counted as errors: %+v", res)
	}
}

// A server that closes every connection after its answer costs a dial
// per request, never a failed request.
func TestServerClosingConnections(t *testing.T) {
	srv := &trackServer{close: true}
	addr := startServer(t, srv)
	for _, rate := range []float64{0, 300} {
		res, err := Run(context.Background(), Options{Target: addr, Conns: 3, Duration: 400 * time.Millisecond, Rate: rate, Gen: GenConfig{SourceID: "s"}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests < 10 || res.OK != res.Requests || res.TotalAcked != srv.events.Load() {
			t.Fatalf("rate %g: %d requests, %d ok (first error %q), %d acked of %d stored", rate, res.Requests, res.OK, res.FirstError, res.TotalAcked, srv.events.Load())
		}
		srv.events.Store(0)
	}
}

func TestRequestTimeout(t *testing.T) {
	srv := &trackServer{delay: time.Second}
	addr := startServer(t, srv)
	start := time.Now()
	res, err := Run(context.Background(), Options{Target: addr, Conns: 2, Duration: 200 * time.Millisecond, Timeout: 300 * time.Millisecond, Gen: GenConfig{SourceID: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status[0] != 2 || res.Requests != 2 || !strings.Contains(res.FirstError, "no answer within 300ms") {
		t.Fatalf("two requests, each longer than the timeout: %+v", res)
	}
	if took := time.Since(start); took > 900*time.Millisecond {
		t.Errorf("run took %v; the timeout should end it after about 0.5 s, before the server answers", took)
	}
}

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"no target", Options{Duration: time.Second}},
		{"no duration", Options{Target: "x:1"}},
		{"warm-up too long", Options{Target: "x:1", Duration: time.Second, Warmup: time.Second}},
		{"negative rate", Options{Target: "x:1", Duration: time.Second, Rate: -1}},
	}
	for _, tt := range tests {
		if _, err := Run(context.Background(), tt.o); err == nil {
			t.Errorf("%s: Run accepted %+v", tt.name, tt.o)
		}
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	err := WriteTable(&b, []string{"s1"}, []Result{{Mode: "open", Conns: 8, OfferedRate: 100, Requests: 10, OK: 9, RPS: 10, EPS: 9,
		Status: map[int]int64{200: 9, 503: 1}, Latency: Latency{P50: 1.5, P99: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"s1", "open", "90.00", "200:9 503:1", "1.50"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// FuzzAcceptedCount: the server's answer is untrusted input to the load
// generator; reading it must never panic, and a well-formed count is read back.
func FuzzAcceptedCount(f *testing.F) {
	f.Add([]byte(`{"accepted":12,"ids":[]}`), 3)
	f.Add([]byte(`"accepted":`), 0)
	f.Add([]byte(`{"accepted":99999999999999999999999}`), 1)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		acceptedCount(body)
		if n < 0 {
			n = -n
		}
		if n < 0 { // -MinInt
			return
		}
		got, ok := acceptedCount([]byte(fmt.Sprintf(`{"accepted":%d,"ids":[]}`, n)))
		if !ok || got != n {
			t.Fatalf("acceptedCount of %d = %d, %v", n, got, ok)
		}
	})
}
