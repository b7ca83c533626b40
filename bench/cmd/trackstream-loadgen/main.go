// Command trackstream-loadgen sends realistic tracking traffic to a
// trackstream collector (or any server) and reports throughput and latency:
//
//	trackstream-loadgen -target 127.0.0.1:8080 -source src_... -duration 30s -conns 64
//	trackstream-loadgen -target 127.0.0.1:8080 -source src_... -rate 20000 -batch 50 -gzip -ids ids.txt
//
// -rate 0 (the default) is a closed loop; a positive rate is an open loop
// whose latency counts from each request's intended send time.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/trackstream/trackstream/bench/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "trackstream-loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("trackstream-loadgen", flag.ContinueOnError)
	var (
		o       loadgen.Options
		shape   string
		out     string
		idsPath string
	)
	fs.StringVar(&o.Target, "target", "127.0.0.1:8080", "server host:port (plain HTTP)")
	fs.StringVar(&o.Path, "path", "", "request path (default /track, or /v1/batch for -shape segment)")
	fs.StringVar(&o.Gen.SourceID, "source", "", "source id (Tracardi source.id, Segment writeKey)")
	fs.StringVar(&shape, "shape", "tracardi", "request shape: tracardi or segment")
	fs.IntVar(&o.Gen.EventsPerRequest, "batch", 1, "events per request")
	fs.Uint64Var(&o.Gen.Seed, "seed", 1, "random seed of the traffic")
	fs.StringVar(&o.Gen.RunID, "run-id", fmt.Sprintf("lg%x", time.Now().UnixNano()), "prefix of the event ids (unique per run)")
	fs.IntVar(&o.Gen.Visitors, "visitors", 100_000, "distinct visitors")
	fs.IntVar(&o.Gen.Pages, "pages", 5000, "distinct page paths per site")
	fs.IntVar(&o.Conns, "conns", 64, "keep-alive connections (one request in flight each)")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "how long to send, warm-up included")
	fs.DurationVar(&o.Warmup, "warmup", 3*time.Second, "unmeasured start of the run")
	fs.Float64Var(&o.Rate, "rate", 0, "open loop: requests per second (0: closed loop)")
	fs.BoolVar(&o.Gzip, "gzip", false, "gzip request bodies")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "bound on one request")
	fs.StringVar(&out, "out", "", "write the result as JSON to this file")
	fs.StringVar(&idsPath, "ids", "", "write the id of every acknowledged event to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	o.Gen.Shape = loadgen.Shape(shape)
	if o.Gen.Shape != loadgen.ShapeTracardi && o.Gen.Shape != loadgen.ShapeSegment {
		return fmt.Errorf("-shape %q: want tracardi or segment", shape)
	}
	if o.Gen.SourceID == "" {
		return errors.New("-source is required (create one with the admin API: POST /api/v1/sources)")
	}
	if idsPath != "" {
		f, err := os.Create(idsPath)
		if err != nil {
			return fmt.Errorf("ids file: %w", err)
		}
		defer f.Close()
		o.IDs = f
	}
	res, err := loadgen.Run(ctx, o)
	if err != nil {
		return err
	}
	if err := loadgen.WriteTable(stdout, []string{"loadgen"}, []loadgen.Result{res}); err != nil {
		return err
	}
	if res.FirstError != "" {
		fmt.Fprintln(stdout, "first error:", res.FirstError)
	}
	if out != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("result file: %w", err)
		}
	}
	return nil
}
