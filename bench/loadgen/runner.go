// Package loadgen is trackstream's load generator: realistic, seedable
// tracking traffic (Tracardi /track or Segment /v1/batch bodies, single
// events or batches, gzip on or off) sent over many keep-alive connections
// in a closed loop (as fast as answers come back) or an open loop (a
// constant rate whose latency is measured from each request's intended
// send time, so a stalled server cannot hide its stall: no coordinated
// omission). It records latencies in a log-linear histogram, counts every
// answer by status, and can write the id of every acknowledged event to a
// file so a run can be checked for exactness against what was stored.
//
// One goroutine does all of it, over non-blocking sockets and one epoll
// instance (Linux), with each request encoded once into its connection's
// buffer and each answer parsed in place: per request a write, a read and
// a share of an epoll wake-up, close to wrk's cost, so the generator does
// not take the CPU of the server it measures on a small machine.
package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options configure one run.
type Options struct {
	// Target is the server, host:port (plain HTTP).
	Target string
	// Path overrides the request path; default Gen.Path().
	Path string
	// Gen describes the traffic.
	Gen GenConfig
	// Conns is the number of keep-alive connections and of workers (each
	// worker has at most one request in flight). Default 64.
	Conns int
	// Duration is how long requests are sent, warm-up included. Required.
	Duration time.Duration
	// Warmup is the first part of Duration whose requests are sent and
	// acknowledged but not measured. Default 0.
	Warmup time.Duration
	// Rate is the offered load in requests per second for an open loop;
	// 0 runs a closed loop.
	Rate float64
	// Gzip compresses every body (Content-Encoding: gzip, fastest level).
	Gzip bool
	// Timeout bounds one request. Default 10s.
	Timeout time.Duration
	// IDs, when set, receives the id of every event of every 2xx answer,
	// one per line.
	IDs io.Writer
	// Progress, when set, is increased by the number of acknowledged events
	// as they are acknowledged, so a caller can watch a run.
	Progress *atomic.Int64
}

func (o Options) withDefaults() (Options, error) {
	if o.Target == "" {
		return o, errors.New("loadgen: no target host:port")
	}
	if o.Duration <= 0 {
		return o, errors.New("loadgen: duration must be positive")
	}
	if o.Warmup < 0 || o.Warmup >= o.Duration {
		return o, fmt.Errorf("loadgen: warm-up %s must be shorter than the duration %s", o.Warmup, o.Duration)
	}
	if o.Rate < 0 {
		return o, fmt.Errorf("loadgen: rate %g must not be negative", o.Rate)
	}
	o.Gen = o.Gen.withDefaults()
	if o.Path == "" {
		o.Path = o.Gen.Path()
	}
	if o.Conns <= 0 {
		o.Conns = 64
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	return o, nil
}

// Result is what one run measured. Counts and rates cover the measured
// window (after warm-up) unless named otherwise.
type Result struct {
	Mode          string  `json:"mode"` // "closed" or "open"
	Target        string  `json:"target"`
	Path          string  `json:"path"`
	Traffic       string  `json:"traffic"`
	Gzip          bool    `json:"gzip"`
	Conns         int     `json:"conns"`
	OfferedRate   float64 `json:"offered_rate_rps,omitempty"`
	WindowSeconds float64 `json:"window_s"`
	Requests      int64   `json:"requests"`
	OK            int64   `json:"ok"`
	Events        int64   `json:"events_acked"`
	// Status counts answers by status code; 0 counts transport errors.
	Status     map[int]int64 `json:"status"`
	RPS        float64       `json:"requests_per_s"`
	EPS        float64       `json:"events_per_s"`
	BodyBytes  float64       `json:"mean_body_bytes"`
	Latency    Latency       `json:"latency_ms"`
	TotalAcked int64         `json:"total_events_acked"` // warm-up included
	// LateStarts counts open-loop requests sent more than 1 ms after their
	// intended time because every connection was busy (their latency
	// includes that wait).
	LateStarts int64 `json:"late_starts,omitempty"`
	// SendLagP99 is the 99th percentile of how late the open loop sent
	// its requests (ms): the generator's own delay, included in Latency.
	SendLagP99 float64 `json:"send_lag_p99_ms,omitempty"`
	// Unsent counts open-loop requests whose intended time fell inside the
	// run but that were never sent because every connection stayed busy
	// until the end; a non-zero value means the offered rate was not
	// delivered and the latency misses those requests.
	Unsent int64 `json:"unsent,omitempty"`
	// Timeline is acknowledged events per second of the whole run.
	Timeline []int64 `json:"events_per_second_timeline"`
	// ClientCPU is the CPU seconds this process used during the run.
	ClientCPU float64 `json:"client_cpu_s"`
	// FirstError is an example of a failed request, if any.
	FirstError string `json:"first_error,omitempty"`
}

// Latency is a latency summary in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Summarize turns a nanosecond histogram into a Latency.
func Summarize(h *Histogram) Latency {
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	return Latency{
		P50: ms(h.Quantile(0.50)), P90: ms(h.Quantile(0.90)), P99: ms(h.Quantile(0.99)),
		P999: ms(h.Quantile(0.999)), Max: ms(h.Max()), Mean: h.Mean() / 1e6,
	}
}

// tick is the open loop's schedule grain: the requests due within one
// millisecond share its start as their intended send time and go out
// together, so the generator wakes once per tick, not once per request.
const tick = time.Millisecond

// stats is what the requests of the measured window did.
type stats struct {
	hist      *Histogram
	status    map[int]int64
	requests  int64
	ok        int64
	events    int64
	allAcked  int64
	bodyBytes int64
	firstErr  string
}

// measured is what one engine run returns to Run.
type measured struct {
	stats
	elapsed time.Duration
	// total is the open loop's request count over the duration.
	total     int64
	attempted int64
	late      int64
	lag       *Histogram
	timeline  *timeline
}

// Run sends load as configured until the duration is over or ctx ends,
// then waits (up to the timeout) for the requests in flight and returns
// what it measured.
func Run(ctx context.Context, o Options) (Result, error) {
	o, err := o.withDefaults()
	if err != nil {
		return Result{}, err
	}
	var ids *idSink
	if o.IDs != nil {
		ids = &idSink{w: bufio.NewWriterSize(o.IDs, 256<<10)}
	}
	cpu0 := cpuSeconds()
	m, err := runEngine(ctx, o, ids)
	if err != nil {
		return Result{}, err
	}
	var idErr error
	if ids != nil {
		idErr = ids.flush()
	}
	res := Result{
		Mode: "closed", Target: o.Target, Path: o.Path, Traffic: o.Gen.String(), Gzip: o.Gzip,
		Conns: o.Conns, Status: m.status,
		WindowSeconds: (min(m.elapsed, o.Duration) - o.Warmup).Seconds(),
		ClientCPU:     cpuSeconds() - cpu0,
		Requests:      m.requests, OK: m.ok, Events: m.events, TotalAcked: m.allAcked, FirstError: m.firstErr,
		Latency:  Summarize(m.hist),
		Timeline: m.timeline.counts(),
	}
	if o.Rate > 0 {
		res.Mode, res.OfferedRate = "open", o.Rate
		res.Unsent = max(m.total-m.attempted, 0)
		res.LateStarts = m.late
		res.SendLagP99 = float64(m.lag.Quantile(0.99)) / 1e6
	}
	if res.WindowSeconds > 0 {
		res.RPS = float64(res.Requests) / res.WindowSeconds
		res.EPS = float64(res.Events) / res.WindowSeconds
	}
	if res.Requests > 0 {
		res.BodyBytes = float64(m.bodyBytes) / float64(res.Requests)
	}
	if idErr != nil {
		return res, fmt.Errorf("loadgen: write acknowledged ids: %w", idErr)
	}
	return res, nil
}

var acceptedKey = []byte(`"accepted":`)

// record counts one finished request: its answer's status and body, or
// err for a transport failure (status 0). intended is when it was meant to
// be sent, done when its answer was read.
func (m *measured) record(o *Options, ids *idSink, intended, done, measureFrom time.Time, sent []string, bodyN int, status int, body []byte, err error) {
	ok := err == nil && status >= 200 && status < 300
	n := int64(len(sent))
	if ok && status == 200 {
		// An ingest 200 must have accepted every event sent.
		if got, found := acceptedCount(body); found && got != len(sent) {
			ok, status = false, -1
			err = fmt.Errorf("server accepted %d of %d events", got, len(sent))
		}
	}
	if ok {
		m.allAcked += n
		m.timeline.add(done, n)
		if ids != nil {
			ids.write(sent)
		}
		if o.Progress != nil {
			o.Progress.Add(n)
		}
	}
	if intended.Before(measureFrom) {
		return
	}
	m.requests++
	m.bodyBytes += int64(bodyN)
	m.status[status]++
	m.hist.RecordDuration(done.Sub(intended))
	switch {
	case ok:
		m.ok++
		m.events += n
	case m.firstErr != "":
	case err != nil:
		m.firstErr = err.Error()
	default:
		m.firstErr = fmt.Sprintf("status %d: %.200s", status, body)
	}
}

// acceptedCount finds "accepted":N in an ingest answer.
func acceptedCount(body []byte) (int, bool) {
	i := bytes.Index(body, acceptedKey)
	if i < 0 {
		return 0, false
	}
	rest := body[i+len(acceptedKey):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(string(rest[:j]))
	return n, err == nil
}

// idSink writes acknowledged ids, one per line, from every worker.
type idSink struct {
	mu  sync.Mutex
	w   *bufio.Writer
	err error
}

func (s *idSink) write(ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	for _, id := range ids {
		if _, err := s.w.WriteString(id); err != nil {
			s.err = err
			return
		}
		if err := s.w.WriteByte('\n'); err != nil {
			s.err = err
			return
		}
	}
}

func (s *idSink) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	return s.w.Flush()
}

// timeline counts acknowledged events per second of a run.
type timeline struct {
	start time.Time
	secs  []atomic.Int64
}

func newTimeline(start time.Time, d time.Duration) *timeline {
	return &timeline{start: start, secs: make([]atomic.Int64, int(d/time.Second)+2)}
}

func (t *timeline) add(at time.Time, n int64) {
	i := int(at.Sub(t.start) / time.Second)
	i = min(max(i, 0), len(t.secs)-1)
	t.secs[i].Add(n)
}

func (t *timeline) counts() []int64 {
	out := make([]int64, len(t.secs))
	for i := range t.secs {
		out[i] = t.secs[i].Load()
	}
	// Trim the trailing empty seconds (the run's slack).
	for len(out) > 0 && out[len(out)-1] == 0 {
		out = out[:len(out)-1]
	}
	return out
}

// cpuSeconds is the user+system CPU time of this process.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
