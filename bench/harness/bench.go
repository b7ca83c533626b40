// Package harness is trackstream's benchmark harness. In one run it measures
// the ceilings — H (a bare Fiber server configured like ingest that reads
// the body and answers 204), K (raw franz-go produce of the same records to
// the same kind of broker) and C (raw JSONEachRow insert of the same rows
// into chDB) — and the scenarios against the real `trackstream` binary: S1
// single events and S2 batches against `trackstream ingest` with a kfake
// broker process, S4 open-loop latency against offered load, S5 ingest
// memory at 1,000 connections and during a broker outage, S3 end to end
// through `trackstream all` with consumer lag and freshness, S3 split (the
// same runs against `trackstream ingest` and `trackstream
// processor,admin-api` as separate processes on Apache Kafka, the
// end-to-end suite's broker, with each process's CPU), and S6 bytes per
// event on disk. Because the ceilings run on the same machine in the
// same run, results are reported as ratios as well as absolute numbers.
// Closed-loop runs are driven by wrk replaying the Go generator's bodies
// (bench/wrk; the Go generator costs the shared 2 cores several times
// wrk's CPU per request), open loops and runs that check every
// acknowledged id by bench/loadgen; every run reports its generator's CPU
// and is flagged when the generator saturated.
// The Report it returns renders as docs/benchmarks.md plus an SVG plot,
// with a capacity model (capacity.go) computed from the run's own per-core
// figures.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/bench/loadgen"
	"github.com/trackstream/trackstream/bench/wrk"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/sources"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/internal/testkit/client"
)

// Config is one harness run.
type Config struct {
	// Bin is the trackstream binary under test.
	Bin string
	// Self is this harness's binary; its helper subcommands run the broker,
	// the HTTP ceiling and the chDB measurements as separate processes.
	Self string
	// LibPath is libchdb.so.
	LibPath string
	// WorkDir holds data dirs, logs, profiles and id files.
	WorkDir string
	// Duration and Warmup are per measured run (ceilings, S1, S2, S4, S5).
	Duration, Warmup time.Duration
	// Reps is how many times H, S1 and S2 are run; the median is reported.
	Reps int
	// Conns is the closed-loop connection count.
	Conns int
	// S3Duration is how long each end-to-end run is sustained.
	S3Duration time.Duration
	// S3Rates, when set, replace the targets' rates of S3 and S3 split
	// (a smoke run at low rates).
	S3Rates []S3Rate
	// S5Conns is the connection count of the memory scenario.
	S5Conns int
	// OutageDuration is how long the broker is stopped in S5.
	OutageDuration time.Duration
	// QueryEvents are the dataset sizes of S7/S8 (events seeded before
	// the admin queries are timed), smallest first.
	QueryEvents []uint64
	// QuerySeeded maps dataset sizes of QueryEvents to data dirs seeded
	// earlier (trackstream-bench seed-queries), copied instead of seeding.
	QuerySeeded map[uint64]string
	// QueryMatch, when set, keeps only the S7 queries whose name it
	// matches.
	QueryMatch *regexp.Regexp
	// QueryCalls is how many timed calls each S7 query gets (after one
	// warm-up call).
	QueryCalls int
	// Skip names scenarios to leave out ("H", "K", "C", "S1", ... "S7", "profile").
	Skip map[string]bool
	// Generator is the load generator of the closed-loop runs (H, S1, S2,
	// the sweeps, S5's load): GeneratorWrk (default) or GeneratorGo. Open
	// loops (S3, S4, S5's outage) always use the Go generator.
	Generator string
	// WrkThreads is wrk's thread count. Default 1.
	WrkThreads int
	// Log receives progress.
	Log *slog.Logger
}

// Run is one measured load run with the server's CPU use.
type Run struct {
	loadgen.Result
	// ServerCores is the server process's CPU seconds per second of the run.
	ServerCores float64 `json:"server_cores"`
	// PerCoreEPS is acknowledged events per CPU second of the server.
	PerCoreEPS float64 `json:"events_per_server_core_s"`
	// BrokerCores is the same for the separate broker process of the
	// ingest-only scenarios (0 where there is none).
	BrokerCores float64 `json:"broker_cores,omitempty"`
	// LoadAvg is the machine's 1-minute load average at the end of the
	// run: above the core count, other work competed for the CPU.
	LoadAvg float64 `json:"load_avg_1m"`
	// Generator is the load generator that drove the run: "wrk" or "go"
	// (the Go generator in bench/loadgen, inside the harness process).
	Generator string `json:"generator,omitempty"`
	// GeneratorSaturated is set when the generator kept its cores at
	// least 90 % busy (wrk: its threads; the Go generator: one core of the
	// box), so it may have set the pace rather than the server.
	GeneratorSaturated bool `json:"generator_saturated,omitempty"`
}

// The load generators of the closed-loop runs.
const (
	GeneratorWrk = "wrk"
	GeneratorGo  = "go"
)

// Scenario is a named set of runs (repetitions or a sweep).
type Scenario struct {
	Name  string `json:"name"`
	About string `json:"about"`
	Runs  []Run  `json:"runs"`
	Err   string `json:"error,omitempty"`
}

// Median returns the run with the median events/s (the lower middle for
// an even count), or a zero Run when there is none.
func (s *Scenario) Median() Run {
	if len(s.Runs) == 0 {
		return Run{}
	}
	rs := slices.Clone(s.Runs)
	slices.SortFunc(rs, func(a, b Run) int {
		switch {
		case a.EPS < b.EPS:
			return -1
		case a.EPS > b.EPS:
			return 1
		}
		return 0
	})
	return rs[(len(rs)-1)/2]
}

// Memory is what S5 measured.
type Memory struct {
	Conns          int     `json:"conns"`
	LoadPeakRSSMiB float64 `json:"load_peak_rss_mib"`
	Load           Run     `json:"load"`
	OutagePeakMiB  float64 `json:"outage_peak_rss_mib"`
	Outage         Run     `json:"outage"`
	Recovery       Run     `json:"recovery"`
	// LimitedPeakMiB and Limited are the load run again on a fresh ingest
	// with GOMEMLIMIT=MemLimit, as deploy/kubernetes sets it from the
	// container's memory limit.
	MemLimit       string  `json:"mem_limit,omitempty"`
	LimitedPeakMiB float64 `json:"limited_peak_rss_mib,omitempty"`
	Limited        Run     `json:"limited"`
	Err            string  `json:"error,omitempty"`
}

// s5MemLimit is the soft memory limit of S5's second ingest: below the
// 64 MiB target with room for what the Go runtime does not count.
const s5MemLimit = "48MiB"

// EndToEnd is one S3 run: open loop at OfferedEPS events per second.
type EndToEnd struct {
	Batch          int             `json:"batch"`
	OfferedEPS     float64         `json:"offered_eps"`
	Run            Run             `json:"run"`
	MaxLag         int64           `json:"max_lag"`
	EndLag         int64           `json:"lag_at_end_of_load"`
	LagSamples     []int64         `json:"lag_samples"`
	DrainSeconds   float64         `json:"drain_s"`
	Stored         int64           `json:"stored"`
	Freshness      loadgen.Latency `json:"freshness_ms"`
	FreshnessCount int             `json:"freshness_probes"`
	// RowsPerCPUS is the events stored per CPU-second of the whole
	// pipeline from the start of the load to the end of the drain: the
	// `trackstream all` process in S3 (ingest, broker, processor and chDB
	// together), the sum of every process in S3 split.
	RowsPerCPUS float64 `json:"rows_per_cpu_s,omitempty"`
	// RecordBytes is the mean Kafka record value the processor consumed
	// (its batch bytes / batch rows metrics): what one event weighs.
	RecordBytes float64 `json:"record_bytes,omitempty"`
	// Processes is each process's CPU in S3 split (empty in S3, where the
	// one process is Run's server).
	Processes []ProcessCPU `json:"processes,omitempty"`
	Err       string       `json:"error,omitempty"`
}

// ProcessCPU is one process's CPU during an S3 split run.
type ProcessCPU struct {
	Name string `json:"name"`
	// LoadCores is its CPU seconds per second of the load.
	LoadCores float64 `json:"load_cores"`
	// CPUSeconds is its CPU from the start of the load to the end of the
	// drain (every event acknowledged in the run stored by then).
	CPUSeconds float64 `json:"cpu_s"`
}

// StoredPerCPUS is the events the run stored per CPU-second of this
// process (0 when it used none).
func (p ProcessCPU) StoredPerCPUS(stored int64) float64 {
	if p.CPUSeconds <= 0 {
		return 0
	}
	return float64(stored) / p.CPUSeconds
}

// processRef names a process whose CPU a run reads.
type processRef struct {
	name string
	pid  int
}

// Report is everything one harness run measured.
type Report struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// LoadAvgStart is the 1-minute load average when the run started.
	LoadAvgStart float64 `json:"load_avg_1m_start"`
	// CPUPressure is the kernel's CPU pressure (PSI "some" avg300, the
	// share of time runnable tasks waited for a CPU) at the start and the
	// end of the run, in percent; -1 when unavailable.
	CPUPressure []float64 `json:"cpu_pressure_pct,omitempty"`
	Machine     string    `json:"machine"`
	Version     string    `json:"version"`
	Settings    string    `json:"settings"`
	// Merged, when set, says which results came from which run (a run
	// with -only merged into an earlier one): the scenarios of each run,
	// built from Provenance.
	Merged string `json:"merged,omitempty"`
	// Provenance is, per scenario of a merged report, the run its results
	// come from (when it started, at which version, the load then).
	Provenance map[string]string `json:"provenance,omitempty"`

	H       Scenario        `json:"ceiling_h"`
	K       []ProduceResult `json:"ceiling_k"`
	KErr    string          `json:"ceiling_k_error,omitempty"`
	C       *InsertResult   `json:"ceiling_c,omitempty"`
	CErr    string          `json:"ceiling_c_error,omitempty"`
	S1      Scenario        `json:"s1"`
	S1Gzip  Scenario        `json:"s1_gzip"`
	Conns   Scenario        `json:"s1_conns_sweep"`
	S2      Scenario        `json:"s2"`
	Batches Scenario        `json:"batch_sweep"`
	S4      Scenario        `json:"s4_open_loop_sweep"`
	// S4Max is the maximum request rate S4's fractions are of: S1's
	// median, or, when S1 did not run, S4Reference's rate.
	S4Max float64 `json:"s4_max_rps,omitempty"`
	// S4Reference is the S1-style closed-loop run that measured S4Max in
	// a run without S1 (-only s4).
	S4Reference *Run       `json:"s4_reference,omitempty"`
	S5          Memory     `json:"s5"`
	S3          []EndToEnd `json:"s3"`
	S3Err       string     `json:"s3_error,omitempty"`
	// S3Split is S3 with ingest, processor,admin-api and Apache Kafka as
	// separate processes.
	S3Split    []EndToEnd  `json:"s3_split,omitempty"`
	S3SplitErr string      `json:"s3_split_error,omitempty"`
	S6         *SizeResult `json:"s6,omitempty"`
	S6Err      string      `json:"s6_error,omitempty"`
	// S7 is the admin queries at each dataset size (S8's query growth is
	// read across them).
	S7       []QueryRun        `json:"s7,omitempty"`
	Profiles map[string]string `json:"profiles,omitempty"`
}

// generatorName describes the closed-loop load generator for the report.
func generatorName(cfg Config) string {
	if cfg.Generator == GeneratorWrk {
		return fmt.Sprintf("wrk (%d thread(s), replaying the Go generator's bodies)", cfg.WrkThreads)
	}
	return "the Go generator (bench/loadgen)"
}

// harness holds the state of one run.
type harness struct {
	// brokerPid is the broker process while one runs, else 0.
	brokerPid int
	// brokerDir is the data dir of the broker startBroker runs, where its
	// SASL secret is.
	brokerDir string
	// ceilingAddr is ceiling H's address while it runs: wrk does not
	// count its answers (204s, nothing to check), so it drives the bare
	// server at plain wrk's cost per request.
	ceilingAddr string
	cfg         Config
	rep         *Report
	log         *slog.Logger
	runSeq      atomic.Int64
}

// Execute runs every scenario not skipped and returns the report. A
// scenario that fails is recorded in the report and the others still run;
// only a failure to start the shared pieces is returned as an error.
func Execute(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Reps < 1 {
		cfg.Reps = 1
	}
	if cfg.QueryCalls < 1 {
		cfg.QueryCalls = 20
	}
	if cfg.Skip == nil {
		cfg.Skip = map[string]bool{}
	}
	if cfg.Generator == "" {
		cfg.Generator = GeneratorWrk
	}
	if cfg.WrkThreads < 1 {
		cfg.WrkThreads = 1
	}
	if cfg.Generator == GeneratorWrk {
		if _, err := wrk.Available(); err != nil {
			return nil, err
		}
	}
	h := &harness{cfg: cfg, log: cfg.Log, rep: &Report{Started: time.Now().UTC(), LoadAvgStart: loadAvg(), CPUPressure: []float64{cpuPressure(), -1}, Machine: machine(), Profiles: map[string]string{}}}
	defer func() { h.rep.Finished, h.rep.CPUPressure[1] = time.Now().UTC(), cpuPressure() }()
	h.rep.Settings = fmt.Sprintf("%d reps of %s (first %s unmeasured), %d connections closed loop driven by %s; S3 %s per run; S5 %d connections, %s outage; S7 %d calls per query at %v events",
		cfg.Reps, cfg.Duration, cfg.Warmup, cfg.Conns, generatorName(cfg), cfg.S3Duration, cfg.S5Conns, cfg.OutageDuration, cfg.QueryCalls, cfg.QueryEvents)
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("work dir: %w", err)
	}
	if err := h.ingestPhase(ctx); err != nil {
		return h.rep, err
	}
	if !cfg.Skip["C"] {
		h.ceilingC(ctx)
	}
	if !cfg.Skip["S3"] {
		h.endToEnd(ctx)
	}
	if !cfg.Skip["S3split"] {
		h.endToEndSplit(ctx)
	}
	if !cfg.Skip["S7"] {
		h.queries(ctx)
	}
	return h.rep, nil
}

// load runs the load generator against addr while measuring pid's CPU.
func (h *harness) load(ctx context.Context, pid int, o loadgen.Options) (Run, error) {
	if o.Duration == 0 {
		o.Duration, o.Warmup = h.cfg.Duration, h.cfg.Warmup
	}
	if o.Conns == 0 {
		o.Conns = h.cfg.Conns
	}
	o.Gen.RunID = fmt.Sprintf("b%d", h.runSeq.Add(1))
	o.Gen.Seed = uint64(h.runSeq.Load())
	cpu0, _ := cpuSeconds(pid)
	var bcpu0 float64
	if h.brokerPid != 0 {
		bcpu0, _ = cpuSeconds(h.brokerPid)
	}
	var res loadgen.Result
	var err error
	r := Run{Generator: GeneratorGo}
	if h.cfg.Generator == GeneratorWrk && o.Rate == 0 && o.IDs == nil && o.Progress == nil {
		var wr wrk.Result
		wr, err = wrk.Run(ctx, wrk.Options{Target: o.Target, Gen: o.Gen, Gzip: o.Gzip, Conns: o.Conns, Threads: h.cfg.WrkThreads,
			Duration: o.Duration, Warmup: o.Warmup, Timeout: o.Timeout, WorkDir: h.cfg.WorkDir, CountAnswers: o.Target != h.ceilingAddr})
		res, r.Generator, r.GeneratorSaturated = wr.Result, GeneratorWrk, wr.Saturated()
	} else {
		res, err = loadgen.Run(ctx, o)
	}
	cpu1, _ := cpuSeconds(pid)
	r.Result = res
	if err != nil {
		return r, err
	}
	r.GeneratorSaturated = r.saturated()
	if h.brokerPid != 0 {
		if bcpu1, err := cpuSeconds(h.brokerPid); err == nil {
			r.BrokerCores = (bcpu1 - bcpu0) / o.Duration.Seconds()
		}
	}
	cpu := cpu1 - cpu0
	r.ServerCores = cpu / o.Duration.Seconds()
	r.LoadAvg = loadAvg()
	if cpu > 0 {
		r.PerCoreEPS = float64(res.TotalAcked) / cpu
	}
	h.log.Info("run", "target", o.Target, "mode", res.Mode, "batch", o.Gen.EventsPerRequest, "conns", o.Conns,
		"rate", o.Rate, "eps", int(res.EPS), "p50_ms", res.Latency.P50, "p99_ms", res.Latency.P99,
		"server_cores", fmt.Sprintf("%.2f", r.ServerCores), "broker_cores", fmt.Sprintf("%.2f", r.BrokerCores),
		"generator", r.Generator, "generator_cores", fmt.Sprintf("%.2f", r.clientCores()), "generator_saturated", r.GeneratorSaturated,
		"status", res.Status, "first_error", res.FirstError)
	return r, nil
}

func (h *harness) repeat(ctx context.Context, sc *Scenario, reps int, pid int, o loadgen.Options) {
	for range reps {
		r, err := h.load(ctx, pid, o)
		if err != nil {
			sc.Err = err.Error()
			return
		}
		sc.Runs = append(sc.Runs, r)
	}
}

// ingestPhase: broker process, ceilings H and K, then S1, S2, S4, S5
// against `trackstream ingest`.
func (h *harness) ingestPhase(ctx context.Context) error {
	cfg := h.cfg
	need := func(names ...string) bool {
		for _, n := range names {
			if !cfg.Skip[n] {
				return true
			}
		}
		return false
	}
	if need("H") {
		h.ceilingH(ctx)
	}
	if !need("K", "S1", "S2", "S4", "S5", "profile") {
		return nil
	}
	brk, brokerAddr, err := h.startBroker()
	if err != nil {
		return err
	}
	h.brokerPid = brk.pid()
	defer func() {
		h.brokerPid = 0
		_ = brk.signal(syscall.SIGCONT)
		_ = brk.stop(30 * time.Second)
	}()
	kbase, err := brokerOpts([]string{brokerAddr}, h.brokerDir, h.log)
	if err != nil {
		return err
	}
	src, err := publishSource(ctx, kbase)
	if err != nil {
		return err
	}

	if !cfg.Skip["K"] {
		for range cfg.Reps {
			r, err := produceCeiling(ctx, kbase, cfg.Duration)
			if err != nil {
				h.rep.KErr = err.Error()
				break
			}
			h.log.Info("ceiling K", "records_per_s", int(r.RecordsPerS), "errors", r.Errors)
			h.rep.K = append(h.rep.K, r)
		}
	}
	if !need("S1", "S2", "S4", "S5", "profile") {
		return nil
	}
	ing, ingestAddr, opsAddr, err := h.startIngest(ctx, brokerAddr, "ingest-1")
	if err != nil {
		return err
	}
	defer func() { _ = ing.stop(30 * time.Second) }()
	base := loadgen.Options{Target: ingestAddr, Gen: loadgen.GenConfig{SourceID: src}}

	h.rep.S1 = Scenario{Name: "S1", About: "single events per request, ingest only, closed loop"}
	if !cfg.Skip["S1"] {
		h.repeat(ctx, &h.rep.S1, cfg.Reps, ing.pid(), base)
		gz := base
		gz.Gzip = true
		h.rep.S1Gzip = Scenario{Name: "S1 gzip", About: "S1 with gzip bodies"}
		h.repeat(ctx, &h.rep.S1Gzip, 1, ing.pid(), gz)
		// Ingest answers only after Kafka's ack, so its single-event rate
		// is bounded by requests in flight / ack latency: sweep the
		// connection count.
		h.rep.Conns = Scenario{Name: "S1 conns", About: "S1 at 64 to 2048 connections, one run each"}
		for _, n := range []int{64, 256, 1024, 2048} {
			c := base
			c.Conns = n
			h.repeat(ctx, &h.rep.Conns, 1, ing.pid(), c)
		}
	}
	if !cfg.Skip["profile"] {
		h.profile(ctx, ing.pid(), opsAddr, base)
	}
	if !cfg.Skip["S2"] {
		h.rep.S2 = Scenario{Name: "S2", About: "batches of 50 events, ingest only, closed loop"}
		b := base
		b.Gen.EventsPerRequest = 50
		h.repeat(ctx, &h.rep.S2, cfg.Reps, ing.pid(), b)
		h.rep.Batches = Scenario{Name: "batch sweep", About: "events per request 1..200, ingest only, closed loop, one run each"}
		for _, n := range []int{1, 5, 20, 50, 200} {
			b.Gen.EventsPerRequest = n
			h.repeat(ctx, &h.rep.Batches, 1, ing.pid(), b)
		}
	}
	maxRPS := h.rep.S1.Median().RPS
	if !cfg.Skip["S4"] && maxRPS == 0 {
		// S1 did not run: measure its maximum here, on the same process
		// and box state as the open loops that follow.
		if ref, err := h.load(ctx, ing.pid(), base); err != nil {
			h.rep.S4.Err = "S1 reference run: " + err.Error()
		} else {
			h.rep.S4Reference, maxRPS = &ref, ref.RPS
		}
	}
	if !cfg.Skip["S4"] && maxRPS > 0 {
		h.rep.S4 = Scenario{Name: "S4", About: "open loop at a fraction of S1's maximum request rate"}
		h.rep.S4Max = maxRPS
		for _, f := range []float64{0.2, 0.4, 0.6, 0.8, 1.0} {
			o := base
			o.Rate = f * maxRPS
			o.Conns = 4 * cfg.Conns
			h.repeat(ctx, &h.rep.S4, 1, ing.pid(), o)
		}
	}
	if !cfg.Skip["S5"] {
		// A fresh process so its peak RSS is this scenario's.
		_ = ing.stop(30 * time.Second)
		h.memory(ctx, brk, brokerAddr, base, maxRPS)
	}
	return nil
}

func (h *harness) ceilingH(ctx context.Context) {
	h.rep.H = Scenario{Name: "H", About: "Fiber v2 configured like ingest; reads the body, answers 204"}
	p, err := startProc("ceiling-h", h.cfg.Self, []string{"http-ceiling", "-addr", "127.0.0.1:0"}, nil, filepath.Join(h.cfg.WorkDir, "ceiling-h.log"))
	if err != nil {
		h.rep.H.Err = err.Error()
		return
	}
	defer func() { _ = p.stop(10 * time.Second) }()
	addr, err := waitLine(p, httpAnnounce, 30*time.Second)
	if err != nil {
		h.rep.H.Err = err.Error()
		return
	}
	o := loadgen.Options{Target: addr, Gen: loadgen.GenConfig{SourceID: "src_ceiling"}}
	h.ceilingAddr = addr
	defer func() { h.ceilingAddr = "" }()
	h.repeat(ctx, &h.rep.H, h.cfg.Reps, p.pid(), o)
	for _, n := range []int{50} {
		o.Gen.EventsPerRequest = n
		sc := Scenario{}
		h.repeat(ctx, &sc, 1, p.pid(), o)
		if len(sc.Runs) > 0 {
			r := sc.Runs[0]
			r.Traffic = "H with batches of 50: " + r.Traffic
			h.rep.H.Runs = append(h.rep.H.Runs, r)
		}
	}
}

// ceilingHBatch returns H's batch-of-50 run, if measured.
func (r *Report) ceilingHBatch() (Run, bool) {
	for _, run := range r.H.Runs {
		if strings.HasPrefix(run.Traffic, "H with batches") {
			return run, true
		}
	}
	return Run{}, false
}

// ceilingHSingle is H's median over the single-event runs.
func (r *Report) ceilingHSingle() Run {
	sc := Scenario{}
	for _, run := range r.H.Runs {
		if !strings.HasPrefix(run.Traffic, "H with batches") {
			sc.Runs = append(sc.Runs, run)
		}
	}
	return sc.Median()
}

func (h *harness) startBroker() (*proc, string, error) {
	dir := filepath.Join(h.cfg.WorkDir, "broker")
	h.brokerDir = dir
	_ = os.RemoveAll(dir)
	p, err := startProc("broker", h.cfg.Self, []string{"broker", "-data-dir", dir}, nil, filepath.Join(h.cfg.WorkDir, "broker.log"))
	if err != nil {
		return nil, "", err
	}
	addr, err := waitLine(p, brokerAnnounce, 30*time.Second)
	if err != nil {
		_ = p.stop(5 * time.Second)
		return nil, "", err
	}
	return p, strings.Split(addr, ",")[0], nil
}

// publishSource creates the topics and publishes an enabled source, the
// way admin-api does, so `trackstream ingest` accepts it.
func publishSource(ctx context.Context, base []kgo.Opt) (string, error) {
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, base...), kgo.RequiredAcks(kgo.AllISRAcks()))...)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(tctx, cl, 1, kafka.Topics(6)); err != nil {
		return "", err
	}
	now := time.Now().UTC()
	src := sources.Source{ID: sources.NewID(), Name: "bench", Enabled: true, CreatedAt: now, UpdatedAt: now}
	return src.ID, sources.Publish(tctx, cl, src)
}

func (h *harness) startIngest(ctx context.Context, brokerAddr, name string, extraEnv ...string) (p *proc, ingestAddr, opsAddr string, err error) {
	if ingestAddr, err = freeAddr(); err != nil {
		return nil, "", "", err
	}
	if opsAddr, err = freeAddr(); err != nil {
		return nil, "", "", err
	}
	env := []string{
		"TRACKSTREAM_KAFKA_BROKERS=" + brokerAddr,
		"TRACKSTREAM_INGEST_ADDR=" + ingestAddr,
		"TRACKSTREAM_OPS_ADDR=" + opsAddr,
		"TRACKSTREAM_DATA_DIR=" + filepath.Join(h.cfg.WorkDir, name),
		"TRACKSTREAM_LOG_LEVEL=warn",
	}
	env = append(append(env, brokerEnv(h.brokerDir)...), extraEnv...)
	p, err = startProc(name, h.cfg.Bin, []string{"ingest"}, env, filepath.Join(h.cfg.WorkDir, name+".log"))
	if err != nil {
		return nil, "", "", err
	}
	if err := waitReady(ctx, p, opsAddr, 60*time.Second); err != nil {
		_ = p.stop(5 * time.Second)
		return nil, "", "", err
	}
	return p, ingestAddr, opsAddr, nil
}

// profile takes CPU and allocation profiles of ingest under S1 load and
// keeps the top functions of each.
func (h *harness) profile(ctx context.Context, pid int, opsAddr string, base loadgen.Options) {
	secs := max(int(h.cfg.Duration.Seconds())-2, 2)
	cpuPath := filepath.Join(h.cfg.WorkDir, "ingest-cpu.pprof")
	allocPath := filepath.Join(h.cfg.WorkDir, "ingest-allocs.pprof")
	var wg sync.WaitGroup
	var fetchErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(time.Second)
		fetchErr = fetchTo(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", opsAddr, secs), cpuPath)
	}()
	if _, err := h.load(ctx, pid, base); err != nil {
		h.rep.Profiles["error"] = err.Error()
	}
	wg.Wait()
	if fetchErr != nil {
		h.rep.Profiles["error"] = fetchErr.Error()
		return
	}
	if err := fetchTo(ctx, "http://"+opsAddr+"/debug/pprof/allocs", allocPath); err != nil {
		h.rep.Profiles["error"] = err.Error()
		return
	}
	h.rep.Profiles["cpu"] = pprofTop(ctx, cpuPath, "-top")
	h.rep.Profiles["cpu_cum"] = pprofTop(ctx, cpuPath, "-top", "-cum")
	h.rep.Profiles["alloc_space"] = pprofTop(ctx, allocPath, "-top", "-sample_index=alloc_space")
}

func fetchTo(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("fetch profile %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch profile %s: status %d", url, resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pprofTop runs `go tool pprof -top` on a profile.
func pprofTop(ctx context.Context, path string, args ...string) string {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	full := append([]string{"tool", "pprof", "-nodecount=25"}, args...)
	out, err := exec.CommandContext(cctx, "go", append(full, path)...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go tool pprof failed: %v\n%s", err, out)
	}
	// Drop pprof's header lines up to the table.
	s := string(out)
	if i := strings.Index(s, "      flat"); i >= 0 {
		s = s[i:]
	}
	return s
}

// memory is S5: peak RSS of a fresh ingest process at S5Conns connections
// closed loop, then during a broker outage (SIGSTOP) under an open loop at
// S1's rate, then recovery after SIGCONT.
func (h *harness) memory(ctx context.Context, brk *proc, brokerAddr string, base loadgen.Options, s1RPS float64) {
	m := &h.rep.S5
	m.Conns = h.cfg.S5Conns
	ing, addr, _, err := h.startIngest(ctx, brokerAddr, "ingest-s5")
	if err != nil {
		m.Err = err.Error()
		return
	}
	defer func() { _ = ing.stop(30 * time.Second) }()
	base.Target = addr
	base.Conns = h.cfg.S5Conns
	watched := ing
	watch := func(f func() (Run, error)) (Run, float64, error) {
		stop := make(chan struct{})
		var peak atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				if kib, err := memKiB(watched.pid(), "VmRSS"); err == nil && kib > peak.Load() {
					peak.Store(kib)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		r, err := f()
		close(stop)
		<-done
		return r, float64(peak.Load()) / 1024, err
	}
	var rerr error
	m.Load, m.LoadPeakRSSMiB, rerr = watch(func() (Run, error) { return h.load(ctx, ing.pid(), base) })
	if rerr != nil {
		m.Err = rerr.Error()
		return
	}
	rate := s1RPS
	if rate <= 0 {
		rate = m.Load.RPS
	}
	if err := brk.signal(syscall.SIGSTOP); err != nil {
		m.Err = "stop broker: " + err.Error()
		return
	}
	outage := base
	outage.Rate = rate
	outage.Duration, outage.Warmup = h.cfg.OutageDuration, 0
	outage.Timeout = 15 * time.Second
	m.Outage, m.OutagePeakMiB, rerr = watch(func() (Run, error) { return h.load(ctx, ing.pid(), outage) })
	if err := brk.signal(syscall.SIGCONT); err != nil {
		m.Err = "continue broker: " + err.Error()
		return
	}
	if rerr != nil {
		m.Err = rerr.Error()
		return
	}
	// Let the producer reconnect, then check that ingest serves again.
	time.Sleep(2 * time.Second)
	rec := base
	rec.Conns = h.cfg.Conns
	rec.Duration, rec.Warmup = 5*time.Second, time.Second
	if m.Recovery, rerr = h.load(ctx, ing.pid(), rec); rerr != nil {
		m.Err = rerr.Error()
		return
	}
	m.MemLimit = s5MemLimit
	_ = ing.stop(30 * time.Second) // one ingest at a time on the box
	lim, addr2, _, err := h.startIngest(ctx, brokerAddr, "ingest-s5-limited", "GOMEMLIMIT="+s5MemLimit)
	if err != nil {
		m.Err = err.Error()
		return
	}
	defer func() { _ = lim.stop(30 * time.Second) }()
	watched = lim
	limited := base
	limited.Target = addr2
	if m.Limited, m.LimitedPeakMiB, rerr = watch(func() (Run, error) { return h.load(ctx, lim.pid(), limited) }); rerr != nil {
		m.Err = rerr.Error()
	}
}

// ceilingC runs the chDB insert ceiling in its own process (one chDB data
// path per process).
func (h *harness) ceilingC(ctx context.Context) {
	dir := filepath.Join(h.cfg.WorkDir, "chdb-ceiling")
	_ = os.RemoveAll(dir)
	var res InsertResult
	if err := h.helperJSON(ctx, &res, "chdb-ceiling", "-lib", h.cfg.LibPath, "-path", dir, "-rows", "500000", "-batch", "50000"); err != nil {
		h.rep.CErr = err.Error()
		return
	}
	h.log.Info("ceiling C", "rows_per_s", int(res.RowsPerS), "bytes_per_row", res.BytesPerRow)
	h.rep.C = &res
}

// helperJSON runs a helper subcommand and decodes its JSON output; it
// may take up to 10 minutes.
func (h *harness) helperJSON(ctx context.Context, v any, args ...string) error {
	return h.helperJSONWithin(ctx, 10*time.Minute, v, args...)
}

// helperJSONWithin is helperJSON with its own time limit.
func (h *harness) helperJSONWithin(ctx context.Context, limit time.Duration, v any, args ...string) error {
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(cctx, h.cfg.Self, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", args[0], err, tail(stderr.String(), 2000))
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("%s printed no JSON result (%w): %s", args[0], err, tail(string(out), 500))
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// endToEnd is S3 (and S6 after it): `trackstream all`, sustained single
// events then batches, consumer lag and freshness sampled every second.
func (h *harness) endToEnd(ctx context.Context) {
	dataDir := filepath.Join(h.cfg.WorkDir, "all")
	_ = os.RemoveAll(dataDir)
	n, err := h.startAll(ctx, "all", dataDir)
	if err != nil {
		h.rep.S3Err = err.Error()
		return
	}
	p := n.p
	stopped := false
	defer func() {
		if !stopped {
			_ = p.stop(time.Minute)
		}
	}()
	kbase, err := brokerOpts([]string{n.kafkaAddr}, dataDir, h.log)
	if err != nil {
		h.rep.S3Err = err.Error()
		return
	}
	kcl, err := kgo.NewClient(kbase...)
	if err != nil {
		h.rep.S3Err = err.Error()
		return
	}
	defer kcl.Close()
	for _, r := range h.s3Rates() {
		e := h.endToEndRun(ctx, []processRef{{name: "trackstream all", pid: p.pid()}}, n.adm, kadm.NewClient(kcl), n.ingestAddr, n.opsAddr, r.Batch, r.EPS)
		h.rep.S3 = append(h.rep.S3, e)
	}
	stopped = true
	if err := p.stop(2 * time.Minute); err != nil {
		h.rep.S6Err = err.Error()
		return
	}
	if h.cfg.Skip["S6"] {
		return
	}
	var size SizeResult
	if err := h.helperJSON(ctx, &size, "chdb-size", "-lib", h.cfg.LibPath, "-path", filepath.Join(dataDir, "clickhouse")); err != nil {
		h.rep.S6Err = err.Error()
		return
	}
	h.rep.S6 = &size
}

// s3Rates are S3's runs: the targets' rates offered in open loop (the
// issue's "sustained with consumer lag bounded": a closed loop would let
// ingest take every core and the lag grow by construction), and half the
// batched target, to show a rate the one process sustains. Lowest batched
// rate first: a run that leaves a backlog would load the next one.
var s3Rates = []S3Rate{{1, 20_000}, {50, 20_000}, {50, 40_000}}

// S3Rate is one S3 run: events per request and events per second offered.
type S3Rate struct {
	Batch int
	EPS   float64
}

// s3Rates returns the S3 and S3 split runs to make: Config.S3Rates, or
// the targets' rates.
func (h *harness) s3Rates() []S3Rate {
	if len(h.cfg.S3Rates) > 0 {
		return h.cfg.S3Rates
	}
	return s3Rates
}

// waitLagZero waits, up to d, until the processor has consumed everything
// produced, so a run does not start with the previous run's backlog.
func waitLagZero(ctx context.Context, kadmCl *kadm.Client, d time.Duration) {
	_ = testkit.Poll(ctx, d, func(ctx context.Context) bool {
		lags, err := kadmCl.Lag(ctx, processorGroup)
		l, ok := lags[processorGroup]
		return err == nil && ok && l.Error() == nil && l.Lag.Total() == 0
	})
}

// processorGroup is the default consumer group of trackstream's processor.
const processorGroup = "trackstream-processor"

// endToEndRun is one S3 run against procs (the first one the server of the
// load: the process behind ingestAddr); opsAddr is the processor's ops
// listener.
func (h *harness) endToEndRun(ctx context.Context, procs []processRef, adm *client.Admin, kadmCl *kadm.Client, ingestAddr, opsAddr string, batch int, eps float64) EndToEnd {
	e := EndToEnd{Batch: batch, OfferedEPS: eps}
	src, err := adm.CreateSource(ctx, fmt.Sprintf("bench-s3-%d-%.0f", batch, eps))
	if err != nil {
		e.Err = err.Error()
		return e
	}
	probeSrc, err := adm.CreateSource(ctx, fmt.Sprintf("bench-probe-%d-%.0f", batch, eps))
	if err != nil {
		e.Err = err.Error()
		return e
	}
	for _, s := range []string{src, probeSrc} {
		if err := client.WaitSourceKnown(ctx, "http://"+ingestAddr, s, 30*time.Second); err != nil {
			e.Err = err.Error()
			return e
		}
	}
	waitLagZero(ctx, kadmCl, 3*time.Minute)
	o := loadgen.Options{Target: ingestAddr, Duration: h.cfg.S3Duration, Warmup: min(10*time.Second, h.cfg.S3Duration/4),
		Rate: eps / float64(batch), Conns: 4 * h.cfg.Conns,
		Gen: loadgen.GenConfig{SourceID: src, EventsPerRequest: batch}}

	// Sampler: lag every second, a probe event every second, and the
	// probe count polled to see when each probe became queryable.
	samplerCtx, stopSampler := context.WithCancel(ctx)
	var wg sync.WaitGroup
	fresh := loadgen.NewHistogram()
	var sampleMu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		var acked []time.Time // ack time of probe i
		var seen int          // probes known stored
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		// Each poll is a query of the probe source (~5 ms of chDB CPU
		// while parts are many): 4 a second resolve freshness to 250 ms
		// against a 5 s target for ~2 % of a core.
		poll := time.NewTicker(250 * time.Millisecond)
		defer poll.Stop()
		for {
			select {
			case <-samplerCtx.Done():
				return
			case <-tick.C:
				if lags, err := kadmCl.Lag(samplerCtx, processorGroup); err == nil {
					if l, ok := lags[processorGroup]; ok && l.Error() == nil {
						total := l.Lag.Total()
						sampleMu.Lock()
						e.LagSamples = append(e.LagSamples, total)
						e.MaxLag = max(e.MaxLag, total)
						sampleMu.Unlock()
					}
				}
				if err := sendProbe(samplerCtx, ingestAddr, probeSrc, fmt.Sprintf("probe-%d-%d", batch, len(acked))); err == nil {
					acked = append(acked, time.Now())
				}
			case <-poll.C:
				if seen >= len(acked) {
					continue
				}
				n, err := adm.Count(samplerCtx, probeSrc)
				if err != nil {
					continue
				}
				now := time.Now()
				for ; seen < int(n) && seen < len(acked); seen++ {
					sampleMu.Lock()
					fresh.RecordDuration(now.Sub(acked[seen]))
					sampleMu.Unlock()
				}
			}
		}
	}()
	cpu0 := make([]float64, len(procs))
	for i, p := range procs {
		cpu0[i], _ = cpuSeconds(p.pid)
	}
	bytes0, rows0 := processorBatchTotals(ctx, opsAddr)
	run, err := h.load(ctx, procs[0].pid, o)
	if len(procs) > 1 {
		for i, p := range procs {
			c, _ := cpuSeconds(p.pid)
			e.Processes = append(e.Processes, ProcessCPU{Name: p.name, LoadCores: (c - cpu0[i]) / o.Duration.Seconds()})
		}
	}
	sampleMu.Lock()
	if n := len(e.LagSamples); n > 0 {
		e.EndLag = e.LagSamples[n-1]
	}
	sampleMu.Unlock()
	e.Run = run
	if err != nil {
		stopSampler()
		wg.Wait()
		e.Err = err.Error()
		return e
	}
	// Drain: wait until the processor has consumed and committed
	// everything (it commits only after the insert), reading the consumer
	// lag, which costs the broker next to nothing; then count the stored
	// events exactly. The exact count is a distinct count over every
	// event of the source (~0.5 us of CPU per stored row, ~1 CPU-second at
	// 2.4M rows): polled every 500 ms, as an earlier version of this
	// harness did, it took most of a core from the processor it waited for.
	// The sampler goes on (lag, probes) until the drain ends.
	loadEnd := time.Now()
	var nextCount time.Time
	drainErr := testkit.Poll(ctx, 3*time.Minute, func(ctx context.Context) bool {
		lags, err := kadmCl.Lag(ctx, processorGroup)
		l, ok := lags[processorGroup]
		if err != nil || !ok || l.Error() != nil || l.Lag.Total() != 0 || time.Now().Before(nextCount) {
			return false
		}
		n, err := adm.Count(ctx, src)
		if err == nil {
			e.Stored = int64(n)
		}
		// Short with no lag: a lost event, or a count racing the last
		// insert; ask again in 2 s, not at every poll.
		nextCount = time.Now().Add(2 * time.Second)
		return err == nil && e.Stored >= run.TotalAcked
	})
	if drainErr != nil {
		e.Err = fmt.Sprintf("only %d of %d acknowledged events queryable %s after the load stopped (%v)", e.Stored, run.TotalAcked, time.Since(loadEnd).Round(time.Second), drainErr)
	} else {
		e.DrainSeconds = time.Since(loadEnd).Seconds()
	}
	stopSampler()
	wg.Wait()
	var cpu float64
	for i, p := range procs {
		c, err := cpuSeconds(p.pid)
		if err != nil {
			continue
		}
		cpu += c - cpu0[i]
		if i < len(e.Processes) {
			e.Processes[i].CPUSeconds = c - cpu0[i]
		}
	}
	if cpu > 0 {
		e.RowsPerCPUS = float64(e.Stored) / cpu
	}
	if bytes1, rows1 := processorBatchTotals(ctx, opsAddr); rows1 > rows0 {
		e.RecordBytes = (bytes1 - bytes0) / (rows1 - rows0)
	}
	e.Freshness = loadgen.Summarize(fresh)
	e.FreshnessCount = int(fresh.Count())
	h.log.Info("S3", "processes", len(procs), "batch", batch, "offered_eps", int(eps), "eps", int(run.EPS), "max_lag", e.MaxLag, "drain_s", e.DrainSeconds,
		"stored", e.Stored, "acked", run.TotalAcked, "freshness_p99_ms", e.Freshness.P99)
	return e
}

// processorBatchTotals reads the processor's batch bytes and rows sums
// from the ops listener's metrics (zeros when unreadable).
func processorBatchTotals(ctx context.Context, opsAddr string) (bytes, rows float64) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+opsAddr+"/metrics", nil)
	if err != nil {
		return 0, 0
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	for line := range strings.SplitSeq(string(b), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "trackstream_processor_batch_bytes_sum":
			bytes = v
		case "trackstream_processor_batch_rows_sum":
			rows = v
		}
	}
	return bytes, rows
}

// sendProbe posts one event and returns once it is acknowledged.
func sendProbe(ctx context.Context, addr, source, id string) error {
	body := fmt.Sprintf(`{"source":{"id":%q},"session":{"id":"probe"},"profile":{"id":"probe"},"events":[{"id":%q,"type":"probe"}]}`, source, id)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/track", strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe: status %d", resp.StatusCode)
	}
	return nil
}

// loadAvg is the 1-minute load average, 0 when unknown.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	_, _ = fmt.Sscan(string(b), &l)
	return l
}

// cpuPressure reads avg300 of the "some" line of /proc/pressure/cpu.
func cpuPressure() float64 {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return -1
	}
	for f := range strings.FieldsSeq(string(b)) {
		if v, ok := strings.CutPrefix(f, "avg300="); ok {
			if p, err := strconv.ParseFloat(v, 64); err == nil {
				return p
			}
		}
	}
	return -1
}

// machine describes the CPU and memory of this machine.
func machine() string {
	model, cores, mem := "unknown CPU", 0, ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "model name"); ok && model == "unknown CPU" {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
			}
			if strings.HasPrefix(line, "processor") {
				cores++
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
			}
		}
	}
	return fmt.Sprintf("%d x %s%s", cores, model, mem)
}

// ScenarioNames are the names -skip and -only accept.
var ScenarioNames = []string{"H", "K", "C", "S1", "S2", "S3", "S3split", "S4", "S5", "S6", "S7", "profile"}

// ParseSkip turns comma-separated -skip and -only lists (case-insensitive
// scenario names) into the set of scenarios to leave out.
func ParseSkip(skip, only string) (map[string]bool, error) {
	canon := map[string]string{}
	for _, n := range ScenarioNames {
		canon[strings.ToLower(n)] = n
	}
	names := func(list, flag string) ([]string, error) {
		var out []string
		for s := range strings.SplitSeq(list, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			n, ok := canon[strings.ToLower(s)]
			if !ok {
				return nil, fmt.Errorf("-%s: unknown scenario %q; want some of %s", flag, s, strings.Join(ScenarioNames, ","))
			}
			out = append(out, n)
		}
		return out, nil
	}
	out := map[string]bool{}
	skipped, err := names(skip, "skip")
	if err != nil {
		return nil, err
	}
	for _, n := range skipped {
		out[n] = true
	}
	kept, err := names(only, "only")
	if err != nil {
		return nil, err
	}
	if len(kept) > 0 {
		for _, n := range ScenarioNames {
			out[n] = !slices.Contains(kept, n) || out[n]
		}
	}
	return out, nil
}

// Merge returns prev with the results of the scenarios cur ran (those not
// in skipped) taken from cur, so a partial run (-only) and an earlier full
// run make one complete report. S7 is merged per dataset size (each says
// when it was measured), so `-only s7 -query-events 10000000` adds 10M to
// an earlier 1M. Merged says which results came from when.
func Merge(prev, cur *Report, skipped map[string]bool) *Report {
	out := *prev
	var ran []string
	take := func(name string, copyFields func()) {
		if !skipped[name] {
			copyFields()
			ran = append(ran, name)
		}
	}
	take("H", func() { out.H = cur.H })
	take("K", func() { out.K, out.KErr = cur.K, cur.KErr })
	take("C", func() { out.C, out.CErr = cur.C, cur.CErr })
	take("S1", func() { out.S1, out.S1Gzip, out.Conns = cur.S1, cur.S1Gzip, cur.Conns })
	take("S2", func() { out.S2, out.Batches = cur.S2, cur.Batches })
	take("S3", func() { out.S3, out.S3Err = cur.S3, cur.S3Err })
	take("S3split", func() { out.S3Split, out.S3SplitErr = cur.S3Split, cur.S3SplitErr })
	take("S4", func() { out.S4, out.S4Max, out.S4Reference = cur.S4, cur.S4Max, cur.S4Reference })
	take("S5", func() { out.S5 = cur.S5 })
	take("S6", func() { out.S6, out.S6Err = cur.S6, cur.S6Err })
	take("S7", func() { out.S7 = mergeQueryRuns(prev.S7, cur.S7) })
	take("profile", func() { out.Profiles = cur.Profiles })
	out.Version = cur.Version
	// Scenarios an earlier merge did not attribute come from prev's run
	// (or, when prev was itself merged before provenance was kept, from
	// a run its Merged note names).
	out.Provenance = map[string]string{}
	for _, name := range ScenarioNames {
		switch {
		case slices.Contains(ran, name):
			out.Provenance[name] = runLabel(cur)
		case prev.Provenance[name] != "":
			out.Provenance[name] = prev.Provenance[name]
		case prev.Merged == "":
			out.Provenance[name] = runLabel(prev)
		default:
			out.Provenance[name] = "an earlier run (" + prev.Merged + ")"
		}
	}
	out.Merged = provenanceNote(out.Provenance)
	return &out
}

// runLabel says which run r is: when it started, the version measured and
// the load then.
func runLabel(r *Report) string {
	return fmt.Sprintf("the run started %s at %s (load average %.1f at its start)", r.Started.Format("2006-01-02 15:04 UTC"), r.Version, r.LoadAvgStart)
}

// provenanceNote groups the scenarios by the run they come from, in the
// order of ScenarioNames: "H, S1 from the run started ...; C from ...".
func provenanceNote(prov map[string]string) string {
	var runs []string
	byRun := map[string][]string{}
	for _, name := range ScenarioNames {
		run, ok := prov[name]
		if !ok {
			continue
		}
		if _, seen := byRun[run]; !seen {
			runs = append(runs, run)
		}
		byRun[run] = append(byRun[run], name)
	}
	parts := make([]string, len(runs))
	for i, run := range runs {
		parts[i] = strings.Join(byRun[run], ", ") + " from " + run
	}
	return strings.Join(parts, "; ")
}

// mergeQueryRuns is cur plus the runs of prev at dataset sizes cur did
// not measure.
func mergeQueryRuns(prev, cur []QueryRun) []QueryRun {
	out := slices.Clone(cur)
	for _, p := range prev {
		if !slices.ContainsFunc(cur, func(c QueryRun) bool { return c.Events == p.Events }) {
			out = append(out, p)
		}
	}
	return out
}
