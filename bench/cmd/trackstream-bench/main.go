// Command trackstream-bench runs trackstream's benchmark suite and writes
// docs/benchmarks.md, docs/benchmarks.svg and a JSON file of every
// measurement (see package bench/harness):
//
//	trackstream-bench run -bin bin/trackstream -out docs
//
// Its other subcommands are the helper processes the suite starts:
// broker (the kfake broker of the ingest-only scenarios), http-ceiling
// (ceiling H), chdb-ceiling (ceiling C), chdb-size (S6), seed-queries
// (the dataset of S7/S8), upgrade-seed (a seeded dataset migrated and
// finalised once by this version, for -query-seeded) and exact-visitors
// (the exact counts S7's visitors figures are compared with). Run only some scenarios with -only
// (e.g. `-only s7`, or `-only s3split` for S3 on separate processes and
// Apache Kafka); the other scenarios' results are then kept from the
// existing benchmarks.json in -out, so the report stays complete.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trackstream/trackstream/bench/harness"
	"github.com/trackstream/trackstream/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(ctx, os.Args[1:], os.Stdout, log); err != nil {
		fmt.Fprintln(os.Stderr, "trackstream-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		return errors.New("usage: trackstream-bench run|render|broker|http-ceiling|chdb-ceiling|chdb-size|seed-queries|upgrade-seed|exact-visitors [flags]")
	}
	fs := flag.NewFlagSet("trackstream-bench "+args[0], flag.ContinueOnError)
	lib := fs.String("lib", config.DefaultCHDBLib(), "libchdb.so")
	switch args[0] {
	case "broker":
		dir := fs.String("data-dir", "", "broker data dir")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return harness.ServeBroker(ctx, *dir, stdout, log)
	case "http-ceiling":
		addr := fs.String("addr", "127.0.0.1:0", "listen address")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return harness.ServeHTTPCeiling(ctx, *addr, stdout)
	case "chdb-ceiling":
		path := fs.String("path", "", "chDB data dir (created)")
		rows := fs.Int("rows", 500_000, "rows to insert")
		batch := fs.Int("batch", 50_000, "rows per insert")
		drop := fs.String("drop-view", "", "comma-separated materialized views to drop before inserting (e.g. dims_daily_mv), to measure what they cost")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		var views []string
		if *drop != "" {
			views = strings.Split(*drop, ",")
		}
		res, err := harness.CHDBCeiling(ctx, *lib, *path, *rows, *batch, views)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(res)
	case "chdb-size":
		path := fs.String("path", "", "chDB data dir of a stopped trackstream (<data-dir>/clickhouse)")
		database := fs.String("database", "trackstream", "database of the events table")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		res, err := harness.TableSize(ctx, *lib, *path, *database)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(res)
	case "seed-queries":
		dir := fs.String("data-dir", "", "trackstream data dir to create and seed (not in use by another process)")
		events := fs.Uint64("events", 1_000_000, "events to seed (plus 1% resent duplicates)")
		recent := fs.Bool("recent", false, "add a live day (events/30 events around now) to a data dir seeded with -events, instead of seeding")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *dir == "" {
			return errors.New("seed-queries: -data-dir is required")
		}
		seed := harness.SeedQueryData
		if *recent {
			seed = func(ctx context.Context, lib, dir string, n uint64, log *slog.Logger) (harness.SeedResult, error) {
				return harness.SeedRecentData(ctx, lib, dir, n, time.Now(), log)
			}
		}
		res, err := seed(ctx, *lib, *dir, *events, log)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(res)
	case "upgrade-seed":
		from := fs.String("from", "", "data dir seeded by seed-queries, possibly by an older trackstream (read only)")
		to := fs.String("to", "", "new data dir: the copy, migrated and with its session figures finalised")
		bin := fs.String("bin", "bin/trackstream", "trackstream binary that serves the copy")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *from == "" || *to == "" {
			return errors.New("upgrade-seed: -from and -to are required")
		}
		res, err := harness.UpgradeSeed(ctx, *bin, *lib, *from, *to, log)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(res)
	case "exact-visitors":
		dir := fs.String("data-dir", "", "trackstream data dir seeded by seed-queries (not in use by another process)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *dir == "" {
			return errors.New("exact-visitors: -data-dir is required")
		}
		res, err := harness.CountExactVisitors(ctx, *lib, *dir, harness.QueryCases())
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(res)
	case "run":
		return runSuite(ctx, fs, lib, args[1:], stdout, log)
	case "render":
		in := fs.String("in", "docs/benchmarks.json", "result file of an earlier run")
		out := fs.String("out", "docs", "directory for benchmarks.md and benchmarks.svg")
		notes := fs.String("notes", "", "Markdown file appended to the report")
		command := fs.String("command", "go tool -modfile=tools/go.mod task bench:run", "reproduce command shown in the report")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		b, err := os.ReadFile(*in)
		if err != nil {
			return fmt.Errorf("result file: %w", err)
		}
		var rep harness.Report
		if err := json.Unmarshal(b, &rep); err != nil {
			return fmt.Errorf("result file %s: %w", *in, err)
		}
		notesText, err := readNotes(*notes)
		if err != nil {
			return err
		}
		return writeReport(&rep, *out, *command, notesText, false)
	}
	return fmt.Errorf("unknown subcommand %q: want run, render, broker, http-ceiling, chdb-ceiling, chdb-size, seed-queries, upgrade-seed or exact-visitors", args[0])
}

func runSuite(ctx context.Context, fs *flag.FlagSet, lib *string, args []string, stdout io.Writer, log *slog.Logger) error {
	cfg := harness.Config{Log: log}
	var out, skip, only, s3Rates, queryEvents, querySeeded, queryMatch, notes, version, command string
	fs.StringVar(&cfg.Bin, "bin", "bin/trackstream", "trackstream binary under test")
	fs.StringVar(&cfg.WorkDir, "work", filepath.Join(os.TempDir(), "trackstream-bench"), "work dir: data, logs, profiles (wiped per scenario)")
	fs.StringVar(&out, "out", "docs", "directory for benchmarks.md, benchmarks.svg and benchmarks.json")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "length of each measured run")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "unmeasured start of each run")
	fs.IntVar(&cfg.Reps, "reps", 3, "repetitions of H, K, S1 and S2 (median reported)")
	fs.IntVar(&cfg.Conns, "conns", 256, "closed-loop connections (ingest answers after Kafka's ack, so it needs many in flight)")
	fs.DurationVar(&cfg.S3Duration, "s3-duration", 2*time.Minute, "length of each end-to-end run")
	fs.StringVar(&s3Rates, "s3-rates", "", "S3 and S3 split runs as batch:events-per-second pairs, e.g. 1:2000,50:5000 (a smoke run); default the targets' 1:20000,50:20000,50:40000")
	fs.IntVar(&cfg.S5Conns, "s5-conns", 1000, "connections of the memory scenario")
	fs.DurationVar(&cfg.OutageDuration, "outage", 15*time.Second, "broker outage in the memory scenario")
	fs.StringVar(&skip, "skip", "", "comma-separated scenarios to skip: "+strings.Join(harness.ScenarioNames, ","))
	fs.StringVar(&only, "only", "", "comma-separated scenarios to run, skipping the others (e.g. s7); results of the others are kept from -out/benchmarks.json")
	fs.StringVar(&queryEvents, "query-events", "1000000,10000000", "comma-separated dataset sizes of S7/S8 (events seeded before the admin queries are timed)")
	fs.StringVar(&querySeeded, "query-seeded", "", "comma-separated size=dir pairs (e.g. 10000000=/data/10m): S7 copies these data dirs, made by seed-queries (and upgrade-seed, to skip the finaliser's catch-up in every run), instead of seeding")
	fs.StringVar(&queryMatch, "query-match", "", "regular expression: time only the S7 queries whose name matches")
	fs.IntVar(&cfg.QueryCalls, "query-calls", 20, "timed calls per S7 query, after one warm-up call")
	fs.StringVar(&notes, "notes", "", "Markdown file appended to the report (analysis written by hand)")
	fs.StringVar(&version, "version", "", "trackstream version shown in the report")
	fs.StringVar(&cfg.Generator, "generator", harness.GeneratorWrk, "load generator of the closed-loop runs: wrk (needs wrk on PATH) or go (bench/loadgen, ~1.2x wrk's CPU per request)")
	fs.IntVar(&cfg.WrkThreads, "wrk-threads", 1, "wrk threads (each up to one core, taken from the server on a small box)")
	fs.StringVar(&command, "command", "go tool -modfile=tools/go.mod task bench:run", "reproduce command shown in the report")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.LibPath = *lib
	if cfg.Generator != harness.GeneratorWrk && cfg.Generator != harness.GeneratorGo {
		return fmt.Errorf("-generator %q: want wrk or go", cfg.Generator)
	}
	var err error
	if cfg.Self, err = os.Executable(); err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	if cfg.Bin, err = filepath.Abs(cfg.Bin); err != nil {
		return err
	}
	if _, err := os.Stat(cfg.Bin); err != nil {
		return fmt.Errorf("trackstream binary: %w (build it: go build -o bin/trackstream ./cmd/trackstream)", err)
	}
	if cfg.Skip, err = harness.ParseSkip(skip, only); err != nil {
		return err
	}
	if cfg.QueryEvents, err = parseSizes(queryEvents); err != nil {
		return err
	}
	if cfg.S3Rates, err = parseS3Rates(s3Rates); err != nil {
		return err
	}
	if cfg.QuerySeeded, err = parseSeeded(querySeeded); err != nil {
		return err
	}
	if queryMatch != "" {
		if cfg.QueryMatch, err = regexp.Compile(queryMatch); err != nil {
			return fmt.Errorf("-query-match: %w", err)
		}
	}
	if _, err := os.Stat(cfg.LibPath); err != nil && !(cfg.Skip["C"] && cfg.Skip["S3"] && cfg.Skip["S3split"] && cfg.Skip["S7"]) {
		return fmt.Errorf("libchdb: %w (run `go tool -modfile=tools/go.mod task chdb:fetch`)", err)
	}
	notesText, err := readNotes(notes)
	if err != nil {
		return err
	}
	rep, runErr := harness.Execute(ctx, cfg)
	if rep == nil {
		return runErr
	}
	rep.Version = version
	if only != "" {
		if rep, err = mergeWithPrevious(rep, filepath.Join(out, "benchmarks.json"), cfg.Skip); err != nil {
			return err
		}
	}
	if err := writeReport(rep, out, command, notesText, true); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s/benchmarks.{md,svg,json}\n", out)
	return runErr
}

// parseSeeded reads -query-seeded: comma-separated size=dir pairs.
func parseSeeded(s string) (map[uint64]string, error) {
	out := map[uint64]string{}
	if s == "" {
		return out, nil
	}
	for f := range strings.SplitSeq(s, ",") {
		size, dir, ok := strings.Cut(strings.TrimSpace(f), "=")
		n, err := strconv.ParseUint(size, 10, 64)
		if !ok || err != nil || dir == "" {
			return nil, fmt.Errorf("-query-seeded %q: want size=dir pairs, e.g. 10000000=/data/10m", f)
		}
		if _, err := os.Stat(filepath.Join(dir, "clickhouse")); err != nil {
			return nil, fmt.Errorf("-query-seeded %s: %w (make it with trackstream-bench seed-queries -data-dir %s -events %d)", f, err, dir, n)
		}
		out[n] = dir
	}
	return out, nil
}

// parseS3Rates reads -s3-rates: comma-separated batch:events-per-second
// pairs.
func parseS3Rates(s string) ([]harness.S3Rate, error) {
	var out []harness.S3Rate
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		b, e, ok := strings.Cut(f, ":")
		batch, err1 := strconv.Atoi(b)
		eps, err2 := strconv.ParseFloat(e, 64)
		if !ok || err1 != nil || err2 != nil || batch < 1 || eps < float64(batch) {
			return nil, fmt.Errorf("-s3-rates %q: want batch:events-per-second pairs, e.g. 1:2000,50:5000", f)
		}
		out = append(out, harness.S3Rate{Batch: batch, EPS: eps})
	}
	return out, nil
}

// parseSizes reads a comma-separated list of dataset sizes.
func parseSizes(s string) ([]uint64, error) {
	var out []uint64
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil || n < 1000 {
			return nil, fmt.Errorf("-query-events: %q is not a dataset size (a number >= 1000)", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// mergeWithPrevious keeps the results of the scenarios this run skipped
// from the result file of an earlier run (when there is one), so a run
// with -only still renders a complete report.
func mergeWithPrevious(cur *harness.Report, path string, skipped map[string]bool) (*harness.Report, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cur, nil
	}
	if err != nil {
		return nil, fmt.Errorf("earlier results to merge with: %w", err)
	}
	var prev harness.Report
	if err := json.Unmarshal(b, &prev); err != nil {
		return nil, fmt.Errorf("earlier results %s: %w (move it away to write a report of this run only)", path, err)
	}
	return harness.Merge(&prev, cur, skipped), nil
}

func readNotes(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("notes: %w", err)
	}
	return string(b), nil
}

// writeReport writes benchmarks.md and benchmarks.svg (and, with withJSON,
// benchmarks.json) into out.
func writeReport(rep *harness.Report, out, command, notesText string, withJSON bool) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if withJSON {
		js, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "benchmarks.json"), append(js, '\n'), 0o644); err != nil {
			return err
		}
	}
	svg, err := os.Create(filepath.Join(out, "benchmarks.svg"))
	if err != nil {
		return err
	}
	if err := rep.WriteSVG(svg); err != nil {
		svg.Close()
		return err
	}
	if err := svg.Close(); err != nil {
		return err
	}
	md, err := os.Create(filepath.Join(out, "benchmarks.md"))
	if err != nil {
		return err
	}
	if err := rep.WriteMarkdown(md, "benchmarks.svg", command, notesText); err != nil {
		md.Close()
		return err
	}
	return md.Close()
}
