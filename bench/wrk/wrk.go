// Package wrk drives wrk (the C HTTP benchmarking tool, Debian package
// wrk) with the load generator's requests, for the closed-loop runs: wrk
// sends a request for about 10 us of CPU, the Go generator in
// bench/loadgen for about 12 (16 in its open loop).
//
// The bodies are made by loadgen.Generator (the same shapes, batches, user
// agents and campaigns), written once to a requests file and replayed
// round robin by an embedded Lua script (replay.lua), which counts answers
// by status and the events each 200 acknowledged. Replayed bodies repeat
// their event ids, so a run here is for throughput and latency; runs that
// check every acknowledged id against what was stored use bench/loadgen.
package wrk

import (
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trackstream/trackstream/bench/loadgen"
)

//go:embed replay.lua
var replayScript []byte

// Options configure one wrk run.
type Options struct {
	// Target is the server, host:port (plain HTTP).
	Target string
	// Gen describes the traffic; its Path is the request path.
	Gen loadgen.GenConfig
	// Gzip compresses every body (Content-Encoding: gzip).
	Gzip bool
	// Conns is the number of keep-alive connections. Default 64.
	Conns int
	// Threads is wrk's thread count (each uses at most one core). Default 1.
	Threads int
	// Duration is how long requests are sent, warm-up included. Required.
	Duration time.Duration
	// Warmup is the first part of Duration, sent by a separate wrk run
	// whose results are counted only in TotalAcked.
	Warmup time.Duration
	// Timeout bounds one request. Default 10s.
	Timeout time.Duration
	// WorkDir holds the requests file and the script. Required.
	WorkDir string
	// CountAnswers counts answers by status and checks that every 200
	// accepted all the events of its request ("accepted":N), at ~4 us of
	// wrk's CPU per request. Without it a run has wrk's own counts only:
	// StatusAnyOK (2xx and 3xx) and StatusAnyError (the rest).
	CountAnswers bool
}

// Pseudo status codes of runs without CountAnswers.
const (
	StatusAnyOK    = -2
	StatusAnyError = -3
)

// Result is a loadgen.Result (closed loop, no timeline) plus what wrk
// itself cost.
type Result struct {
	loadgen.Result
	// Threads is wrk's thread count.
	Threads int `json:"threads"`
}

// Cores is wrk's CPU seconds per second of the measured run.
func (r Result) Cores() float64 {
	if r.WindowSeconds <= 0 {
		return 0
	}
	return r.ClientCPU / r.WindowSeconds
}

// Saturated reports whether wrk kept its threads at least 90 % busy on
// average, so it, not the server, may have set the pace.
func (r Result) Saturated() bool { return r.Threads > 0 && r.Cores() >= 0.9*float64(r.Threads) }

// Available returns the wrk binary's path, or an error saying how to
// install it.
func Available() (string, error) {
	p, err := exec.LookPath("wrk")
	if err != nil {
		return "", errors.New("wrk not found on PATH: install it (Debian/Ubuntu: apt-get install -y wrk; `go tool -modfile=tools/go.mod task bench:wrk` does that), or run the harness with -generator go")
	}
	return p, nil
}

// Run warms up, then runs wrk for the rest of the duration and returns
// what the measured part did.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Target == "" || o.WorkDir == "" || o.Duration <= 0 || o.Warmup < 0 || o.Warmup >= o.Duration {
		return Result{}, fmt.Errorf("wrk: need a target, a work dir and a warm-up shorter than the duration (target %q, work dir %q, %s of %s)", o.Target, o.WorkDir, o.Warmup, o.Duration)
	}
	if o.Conns <= 0 {
		o.Conns = 64
	}
	if o.Threads <= 0 {
		o.Threads = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	bin, err := Available()
	if err != nil {
		return Result{}, err
	}
	script := filepath.Join(o.WorkDir, "wrk-replay.lua")
	if err := os.WriteFile(script, replayScript, 0o644); err != nil {
		return Result{}, fmt.Errorf("wrk script: %w", err)
	}
	shape := o.Gen.Shape
	if shape == "" {
		shape = loadgen.ShapeTracardi
	}
	reqFile := filepath.Join(o.WorkDir, fmt.Sprintf("wrk-requests-%s-%d.bin", shape, max(o.Gen.EventsPerRequest, 1)))
	if o.Gzip {
		reqFile = strings.TrimSuffix(reqFile, ".bin") + "-gzip.bin"
	}
	perRequest, meanBody, err := writeRequests(reqFile, o.Gen, o.Gzip)
	if err != nil {
		return Result{}, err
	}
	var warm runOutput
	if o.Warmup > 0 {
		if warm, err = runOnce(ctx, bin, script, reqFile, perRequest, o, o.Warmup); err != nil {
			return Result{}, fmt.Errorf("wrk warm-up: %w", err)
		}
	}
	out, err := runOnce(ctx, bin, script, reqFile, perRequest, o, o.Duration-o.Warmup)
	if err != nil {
		return Result{}, err
	}
	gen := o.Gen
	res := loadgen.Result{
		Mode: "closed", Target: o.Target, Path: gen.Path(), Traffic: gen.String(), Gzip: o.Gzip,
		Conns: o.Conns, WindowSeconds: float64(out.DurationUS) / 1e6, Requests: out.Requests,
		Events: out.AckedEvents, TotalAcked: out.AckedEvents + warm.AckedEvents,
		Status: map[int]int64{}, BodyBytes: meanBody, ClientCPU: out.cpu,
		Latency: loadgen.Latency{
			P50: out.Latency.P50 / 1e3, P90: out.Latency.P90 / 1e3, P99: out.Latency.P99 / 1e3,
			P999: out.Latency.P999 / 1e3, Max: out.Latency.Max / 1e3, Mean: out.Latency.Mean / 1e3,
		},
	}
	if !out.Counted {
		out.AckedEvents = (out.Requests - out.Errors.Status) * int64(perRequest)
		warm.AckedEvents = (warm.Requests - warm.Errors.Status) * int64(perRequest)
		res.Events, res.TotalAcked = out.AckedEvents, out.AckedEvents+warm.AckedEvents
		res.OK = out.Requests - out.Errors.Status
		res.Status[StatusAnyOK] = res.OK
		if out.Errors.Status > 0 {
			res.Status[StatusAnyError] = out.Errors.Status
			res.FirstError = fmt.Sprintf("%d answers were not 2xx/3xx (run with answers counted to see which)", out.Errors.Status)
		}
	}
	for k, v := range out.Status {
		code, err := strconv.Atoi(k)
		if err != nil {
			return Result{}, fmt.Errorf("wrk result: status %q", k)
		}
		res.Status[code] += v
		if code >= 200 && code < 300 {
			res.OK += v
		}
	}
	res.OK -= out.Partial
	if out.Partial > 0 {
		res.Status[200] -= out.Partial
		res.Status[-1] = out.Partial
		res.FirstError = fmt.Sprintf("%d answers 200 accepted fewer than the %d events sent", out.Partial, perRequest)
	}
	if transport := out.Errors.Connect + out.Errors.Read + out.Errors.Write + out.Errors.Timeout; transport > 0 {
		res.Status[0] = transport
		if res.FirstError == "" {
			res.FirstError = fmt.Sprintf("transport errors: connect %d, read %d, write %d, timeout %d", out.Errors.Connect, out.Errors.Read, out.Errors.Write, out.Errors.Timeout)
		}
	}
	if res.WindowSeconds > 0 {
		res.RPS = float64(res.Requests) / res.WindowSeconds
		res.EPS = float64(res.Events) / res.WindowSeconds
	}
	return Result{Result: res, Threads: o.Threads}, nil
}

// runOutput is the WRK_RESULT line of replay.lua plus wrk's CPU time.
type runOutput struct {
	DurationUS int64 `json:"duration_us"`
	Requests   int64 `json:"requests"`
	Errors     struct {
		Connect, Read, Write, Status, Timeout int64
	} `json:"errors"`
	Counted     bool             `json:"counted"`
	AckedEvents int64            `json:"acked_events"`
	Partial     int64            `json:"partial"`
	Status      map[string]int64 `json:"status"`
	Latency     struct {
		P50, P90, P99, P999, Max, Mean float64
	} `json:"latency_us"`
	cpu float64
}

const resultPrefix = "WRK_RESULT "

func runOnce(ctx context.Context, bin, script, reqFile string, perRequest int, o Options, d time.Duration) (runOutput, error) {
	secs := max(int(d.Round(time.Second)/time.Second), 1)
	args := []string{
		"-t", strconv.Itoa(o.Threads), "-c", strconv.Itoa(max(o.Conns, o.Threads)),
		"-d", strconv.Itoa(secs) + "s", "--timeout", strconv.Itoa(max(int(o.Timeout/time.Second), 1)) + "s",
		"-s", script, "http://" + o.Target + o.Gen.Path(), "--", reqFile, strconv.Itoa(perRequest),
	}
	if o.Gzip {
		args = append(args, "gzip")
	} else {
		args = append(args, "plain")
	}
	if o.CountAnswers {
		args = append(args, "count")
	} else {
		args = append(args, "nocount")
	}
	cctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return runOutput{}, fmt.Errorf("wrk %s: %w: %s%s", strings.Join(args, " "), err, tail(stderr.String()), tail(stdout.String()))
	}
	var out runOutput
	for line := range strings.SplitSeq(stdout.String(), "\n") {
		if js, ok := strings.CutPrefix(line, resultPrefix); ok {
			if err := json.Unmarshal([]byte(js), &out); err != nil {
				return runOutput{}, fmt.Errorf("wrk result line %q: %w", js, err)
			}
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				out.cpu = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
			}
			return out, nil
		}
	}
	return runOutput{}, fmt.Errorf("wrk printed no %s line (wrong script or wrk without Lua?): %s%s", strings.TrimSpace(resultPrefix), tail(stderr.String()), tail(stdout.String()))
}

// requestsFileBytes is about how many body bytes the requests file holds:
// enough distinct bodies that the server sees varied traffic, few enough
// that every wrk thread keeps its own copy in memory cheaply.
const requestsFileBytes = 4 << 20

// writeRequests writes generated bodies as "<length>\n<bytes>" and
// returns the events per request and the mean body size.
func writeRequests(path string, gen loadgen.GenConfig, gz bool) (perRequest int, meanBody float64, err error) {
	g := loadgen.NewGenerator(gen, 0)
	var buf bytes.Buffer
	var zbuf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zbuf, gzip.BestSpeed)
	n := 0
	for n < 16 || (buf.Len() < requestsFileBytes && n < 8192) {
		body, ids := g.Next()
		perRequest = len(ids)
		if gz {
			zbuf.Reset()
			zw.Reset(&zbuf)
			_, _ = zw.Write(body)
			if err := zw.Close(); err != nil {
				return 0, 0, fmt.Errorf("gzip request body: %w", err)
			}
			body = zbuf.Bytes()
		}
		buf.WriteString(strconv.Itoa(len(body)))
		buf.WriteByte('\n')
		buf.Write(body)
		meanBody += float64(len(body))
		n++
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return 0, 0, fmt.Errorf("wrk requests file: %w", err)
	}
	return perRequest, meanBody / float64(n), nil
}

func tail(s string) string {
	if len(s) > 1000 {
		return s[len(s)-1000:]
	}
	return s
}
