// Package traffic is the end-to-end suite's minimal load generator: workers
// POST /track requests whose event ids are known in advance, spread over
// the ingest replicas like a round-robin load balancer, and record which
// requests got a 2xx. From that the suite knows the exact set of event ids
// ClickHouse must hold. It is test-only; the benchmark load generator lives
// elsewhere.
package traffic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config says what to send.
type Config struct {
	// Targets are the ingest base URLs (http://host:port); requests go
	// round robin, and a refused connection moves on to the next, as a load
	// balancer would.
	Targets []string
	// Source is the source id every request carries.
	Source string
	// Prefix starts every event id; distinct per run.
	Prefix string
	// Workers send concurrently, one request at a time each; default 4.
	Workers int
	// EventsPerRequest is the size of each request; default 10.
	EventsPerRequest int
	// PropertyBytes pads each event's properties; default 64.
	PropertyBytes int
	// Pause is each worker's wait between requests; default none.
	Pause time.Duration
	// ResendShare is the share (0-1) of requests sent a second time with the
	// same body and ids, as a client retrying would.
	ResendShare float64
	// Timeout bounds each request; default 15 s.
	Timeout time.Duration
	// MaxRequests stops the run after this many requests; 0 runs until Stop.
	MaxRequests int
	// FirstSeq is the first request number, so that two runs with the same
	// Prefix send different ids.
	FirstSeq int
}

// Outcome is one HTTP attempt.
type Outcome struct {
	Seq        int // request number; its ids are ID(prefix, Seq, 0..N-1)
	N          int // events in the request
	Target     int // index of the replica that answered (or failed)
	Start, End time.Time
	Status     int    // HTTP status, 0 on a transport error
	ErrClass   string // "", "refused", "reset", "eof", "timeout", "other"
	Err        string
	RetryAfter string // the Retry-After header of a 503/429
	Accepted   int    // "accepted" of a 200 body
	Resend     bool
}

// Latency is End - Start.
func (o Outcome) Latency() time.Duration { return o.End.Sub(o.Start) }

// OK reports a 2xx.
func (o Outcome) OK() bool { return o.Status >= 200 && o.Status < 300 }

// ID is the event id of event i of request seq.
func ID(prefix string, seq, i int) string { return fmt.Sprintf("%s-%07d-%03d", prefix, seq, i) }

// Run is a running load.
type Run struct {
	cfg    Config
	client *http.Client
	stop   chan struct{} // closed by Stop: start no new request
	once   sync.Once
	wg     sync.WaitGroup
	start  time.Time

	mu       sync.Mutex
	seq      int
	rr       int
	outcomes []Outcome
}

// Start begins sending until Stop or MaxRequests; ctx cancels requests
// in flight (Stop lets them finish).
func Start(ctx context.Context, cfg Config) *Run {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.EventsPerRequest <= 0 {
		cfg.EventsPerRequest = 10
	}
	if cfg.PropertyBytes <= 0 {
		cfg.PropertyBytes = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	r := &Run{
		cfg:   cfg,
		stop:  make(chan struct{}),
		start: time.Now(),
		client: &http.Client{
			Timeout: cfg.Timeout,
			Transport: &http.Transport{
				DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
				MaxIdleConnsPerHost: cfg.Workers,
				DisableCompression:  true,
			},
		},
	}
	for w := range cfg.Workers {
		r.wg.Add(1)
		go r.worker(ctx, w)
	}
	return r
}

// Wait blocks until every worker finished (MaxRequests reached).
func (r *Run) Wait() *Report {
	r.wg.Wait()
	return r.Stop()
}

// Stop ends the run: no new request starts, the ones in flight finish
// (each bounded by Timeout), and the report is returned.
func (r *Run) Stop() *Report {
	r.once.Do(func() { close(r.stop) })
	r.wg.Wait()
	r.client.CloseIdleConnections()
	r.mu.Lock()
	defer r.mu.Unlock()
	return newReport(r.cfg, r.outcomes, r.start)
}

// Snapshot is the report so far, while the run goes on.
func (r *Run) Snapshot() *Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return newReport(r.cfg, slices.Clone(r.outcomes), r.start)
}

func (r *Run) next() (seq, target int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cfg.MaxRequests > 0 && r.seq >= r.cfg.MaxRequests {
		return 0, 0, false
	}
	seq, target = r.cfg.FirstSeq+r.seq, r.rr
	r.seq++
	r.rr = (r.rr + 1) % len(r.cfg.Targets)
	return seq, target, true
}

func (r *Run) worker(ctx context.Context, w int) {
	defer r.wg.Done()
	rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
	for !r.stopped() && ctx.Err() == nil {
		seq, target, ok := r.next()
		if !ok {
			return
		}
		body := r.body(seq, w)
		o := r.send(ctx, seq, target, body, false)
		r.record(o)
		if r.cfg.ResendShare > 0 && rng.Float64() < r.cfg.ResendShare && !r.stopped() {
			r.record(r.send(ctx, seq, (target+1)%len(r.cfg.Targets), body, true))
		}
		if r.cfg.Pause > 0 {
			select {
			case <-ctx.Done():
			case <-r.stop:
			case <-time.After(r.cfg.Pause):
			}
		}
	}
}

func (r *Run) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

func (r *Run) record(o Outcome) {
	r.mu.Lock()
	r.outcomes = append(r.outcomes, o)
	r.mu.Unlock()
}

func (r *Run) body(seq, worker int) []byte {
	pad := strings.Repeat("x", r.cfg.PropertyBytes)
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"source":{"id":%q},"session":{"id":"s-%d"},"profile":{"id":"p-%s-%d"},"context":{"page":{"url":"https://example.com/e2e"}},"events":[`,
		r.cfg.Source, worker, r.cfg.Prefix, worker)
	for i := range r.cfg.EventsPerRequest {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%q,"type":"e2e-load","properties":{"seq":%d,"i":%d,"pad":%q}}`, ID(r.cfg.Prefix, seq, i), seq, i, pad)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// send posts body, moving on to the next replica when a connection is
// refused (a dead replica behind a load balancer).
func (r *Run) send(ctx context.Context, seq, target int, body []byte, resend bool) Outcome {
	var o Outcome
	for try := range len(r.cfg.Targets) {
		t := (target + try) % len(r.cfg.Targets)
		o = r.post(ctx, seq, t, body)
		o.Resend = resend
		if o.ErrClass != "refused" {
			return o
		}
	}
	return o
}

func (r *Run) post(ctx context.Context, seq, target int, body []byte) Outcome {
	o := Outcome{Seq: seq, N: r.cfg.EventsPerRequest, Target: target, Start: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.Targets[target]+"/track", bytes.NewReader(body))
	if err != nil {
		o.End, o.ErrClass, o.Err = time.Now(), "other", err.Error()
		return o
	}
	req.Header.Set("Content-Type", "application/json")
	// The ids make the request idempotent; saying so lets net/http resend it
	// on a keep-alive connection the server closed before reading it.
	req.Header.Set("Idempotency-Key", fmt.Sprintf("%s-%d", r.cfg.Prefix, seq))
	resp, err := r.client.Do(req)
	if err != nil {
		o.End = time.Now()
		o.ErrClass, o.Err = Classify(err), err.Error()
		return o
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	o.End = time.Now()
	if err != nil {
		// The status line arrived but the body was cut: not an answer.
		o.ErrClass, o.Err = Classify(err), "reading body: "+err.Error()
		return o
	}
	o.Status = resp.StatusCode
	o.RetryAfter = resp.Header.Get("Retry-After")
	if o.OK() {
		var ack struct {
			Accepted int `json:"accepted"`
		}
		if err := json.Unmarshal(data, &ack); err != nil {
			o.Status, o.ErrClass, o.Err = 0, "other", fmt.Sprintf("2xx body %q: %v", data, err)
		}
		o.Accepted = ack.Accepted
	}
	return o
}

// Classify names a transport error: refused (nothing was sent), reset or
// eof (the connection broke under a request), timeout, or other.
func Classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return "other"
}

// Report sums up a run.
type Report struct {
	Prefix   string
	Duration time.Duration
	Outcomes []Outcome
	// Requests is the number of distinct requests (resends not counted).
	Requests int
	// Attempts counts every HTTP attempt, resends included.
	Attempts int
	// Sent and Acked are the distinct event ids sent and acknowledged (2xx).
	Sent, Acked map[string]struct{}
	// Status counts attempts by HTTP status; Errors by transport error class.
	Status map[int]int
	Errors map[string]int
	// Partial counts 2xx answers whose accepted count was not the request's.
	Partial int
	// Resends counts repeated requests.
	Resends int
}

func newReport(cfg Config, outs []Outcome, start time.Time) *Report {
	rep := &Report{
		Prefix: cfg.Prefix, Duration: time.Since(start), Outcomes: outs,
		Sent: map[string]struct{}{}, Acked: map[string]struct{}{},
		Status: map[int]int{}, Errors: map[string]int{},
	}
	seqs := map[int]bool{}
	for _, o := range outs {
		rep.Attempts++
		if o.Resend {
			rep.Resends++
		}
		if !seqs[o.Seq] {
			seqs[o.Seq] = true
			rep.Requests++
		}
		for i := range o.N {
			rep.Sent[ID(cfg.Prefix, o.Seq, i)] = struct{}{}
		}
		if o.Status != 0 {
			rep.Status[o.Status]++
		} else {
			rep.Errors[o.ErrClass]++
		}
		if o.OK() {
			if o.Accepted != o.N {
				rep.Partial++
			}
			for i := range o.N {
				rep.Acked[ID(cfg.Prefix, o.Seq, i)] = struct{}{}
			}
		}
	}
	return rep
}

// Count returns how many attempts had the status.
func (rep *Report) Count(status int) int { return rep.Status[status] }

// OKs counts 2xx attempts.
func (rep *Report) OKs() int {
	n := 0
	for s, c := range rep.Status {
		if s >= 200 && s < 300 {
			n += c
		}
	}
	return n
}

// NotOK counts attempts that were not a 2xx (status or transport error),
// leaving out attempts cut by Stop.
func (rep *Report) NotOK() int {
	n := 0
	for s, c := range rep.Status {
		if s < 200 || s >= 300 {
			n += c
		}
	}
	for class, c := range rep.Errors {
		if class != "cancelled" {
			n += c
		}
	}
	return n
}

// Summary is a one-line description for test logs.
func (rep *Report) Summary() string {
	return fmt.Sprintf("%d requests (%d attempts, %d resends) in %s: %d events sent, %d acknowledged; status %v; transport errors %v; partial 2xx %d",
		rep.Requests, rep.Attempts, rep.Resends, rep.Duration.Round(time.Millisecond), len(rep.Sent), len(rep.Acked), rep.Status, rep.Errors, rep.Partial)
}
