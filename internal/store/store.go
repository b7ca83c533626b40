// Package store is trackstream's ClickHouse storage, in two
// implementations with the same methods: Server (a ClickHouse server over
// the native protocol, clickhouse-go v2) and Embedded (the chDB engine in
// this process). Each role declares the part it uses (processor.Sink,
// adminapi.Queries). Both apply the migrations embedded in package schemas
// at open, idempotently, and record them in trackstream.schema_migrations.
// ClickHouse errors of either are classified here, the way franz-go's kerr
// does it: IsTimeout, IsMemoryLimit, IsTooManyRows, IsDataError.
package store

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/trackstream/trackstream/internal/enrich"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/schemas"
)

// Row is one row of the events table: the event and what enrichment
// derived from it.
type Row struct {
	Event  event.Event
	Fields enrich.Fields
}

// Options are the schema choices both stores apply at open.
type Options struct {
	// Cluster, when set, renders the migrations for a ClickHouse cluster
	// of that name (ON CLUSTER, Replicated engines, Distributed tables).
	// The embedded engine refuses it.
	Cluster string
	// TTL, when positive, drops events this long after their event time
	// (rounded down to whole hours); zero keeps them forever (and removes
	// a TTL an earlier start set).
	TTL time.Duration
	// CheckOnly verifies that every migration was applied instead of
	// applying them, and leaves the TTL alone: for processes whose
	// ClickHouse user may only read (admin-api against a server).
	CheckOnly bool
}

// tokenPattern is what a deduplication token may contain; tokens are
// written into the INSERT's SETTINGS clause, so nothing else is allowed.
var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

func checkToken(token string) error {
	if !tokenPattern.MatchString(token) {
		return fmt.Errorf("insert deduplication token %q: want 1-128 of [A-Za-z0-9_.:-]", token)
	}
	return nil
}

// countEventsSQL counts distinct event ids, exact whether or not
// ReplacingMergeTree has merged retried events yet, and across monthly
// partitions (which FINAL would not collapse).
const countEventsSQL = "SELECT uniqExact(event_id) FROM " + schemas.Database + ".events WHERE source_id = {source:String}"

// migrator is the minimum a store offers the migration runner.
type migrator interface {
	exec(ctx context.Context, sql string) error
	// queryString runs a query of String columns and returns its rows
	// tab-separated, one per line.
	queryString(ctx context.Context, sql string) (string, error)
	recordVersion(ctx context.Context, m schemas.Migration) error
}

const migrationsTable = schemas.Database + ".schema_migrations"

func bootstrap(v schemas.Variant) []string {
	return []string{
		v.Render("CREATE DATABASE IF NOT EXISTS " + schemas.Database + " ${ON_CLUSTER} ENGINE = Atomic"),
		v.Render("CREATE TABLE IF NOT EXISTS " + migrationsTable + ` ${ON_CLUSTER} (
    version    UInt32,
    name       String,
    applied_at DateTime64(3, 'UTC')
) ENGINE = ${REPLICATED}ReplacingMergeTree ORDER BY version`),
	}
}

// migrate applies every embedded migration not yet recorded, then the
// TTL. Statements are written to be idempotent (IF NOT EXISTS), so a run
// interrupted between a statement and its record is safe to repeat. A
// recorded migration whose name differs from this build's migration of the
// same version means the data was written by an incompatible (pre-release)
// schema: migrate refuses to touch it and says what to do.
func migrate(ctx context.Context, m migrator, opts Options, where string, log *slog.Logger) error {
	v := schemas.Variant{Cluster: opts.Cluster}
	all, err := schemas.MigrationsFor(v)
	if err != nil {
		return err
	}
	if !opts.CheckOnly {
		for _, s := range bootstrap(v) {
			if err := m.exec(ctx, s); err != nil {
				return fmt.Errorf("bootstrap %s: %w", migrationsTable, err)
			}
		}
	}
	out, err := m.queryString(ctx, "SELECT toString(version), any(name) FROM "+migrationsTable+" GROUP BY version ORDER BY version")
	if err != nil && opts.CheckOnly {
		return fmt.Errorf("%s has no trackstream schema (%w): run `trackstream migrate` (or start a processor) with a ClickHouse user that may create tables, then start again", where, err)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", migrationsTable, err)
	}
	applied := map[uint32]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		num, name, _ := strings.Cut(line, "\t")
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil {
			return fmt.Errorf("read %s: unexpected version %q", migrationsTable, num)
		}
		applied[uint32(n)] = name
	}
	for _, mg := range all {
		if name, ok := applied[mg.Version]; ok {
			if name != mg.Name {
				return fmt.Errorf("%s holds a schema this build cannot use: migration %d there is %q, here %q "+
					"(data from a pre-release trackstream). Export what you need, then move the data away "+
					"(for the embedded engine: the clickhouse directory under TRACKSTREAM_DATA_DIR; for a server: DROP DATABASE %s) and start again",
					where, mg.Version, name, mg.Name, schemas.Database)
			}
			continue
		}
		if opts.CheckOnly {
			return fmt.Errorf("%s lacks migration %04d_%s: run `trackstream migrate` (or start a processor) with a ClickHouse user that may create tables, then start again", where, mg.Version, mg.Name)
		}
		start := time.Now()
		for i, s := range mg.Statements {
			if err := m.exec(ctx, s); err != nil {
				return fmt.Errorf("migration %04d_%s statement %d: %w", mg.Version, mg.Name, i+1, err)
			}
		}
		if err := m.recordVersion(ctx, mg); err != nil {
			return fmt.Errorf("record migration %04d_%s: %w", mg.Version, mg.Name, err)
		}
		log.Info("applied clickhouse migration", "version", mg.Version, "name", mg.Name, "took", time.Since(start).Round(time.Millisecond))
	}
	if opts.CheckOnly {
		return nil
	}
	return applyTTL(ctx, m, v, opts.TTL, log)
}

// ttlSQL is the statement that sets (ttl > 0) or removes the events TTL.
func ttlSQL(v schemas.Variant, ttl time.Duration) string {
	table := schemas.Database + ".events${LOCAL} ${ON_CLUSTER}"
	if ttl < time.Hour {
		return v.Render("ALTER TABLE " + table + " REMOVE TTL")
	}
	return v.Render(fmt.Sprintf("ALTER TABLE %s MODIFY TTL toDateTime(event_time) + toIntervalHour(%d)", table, int64(ttl/time.Hour)))
}

// applyTTL changes the events table's TTL when it differs from ttl.
func applyTTL(ctx context.Context, m migrator, v schemas.Variant, ttl time.Duration, log *slog.Logger) error {
	table := "events"
	if v.Cluster != "" {
		table = "events_local"
	}
	engine, err := m.queryString(ctx, "SELECT engine_full FROM system.tables WHERE database = '"+schemas.Database+"' AND name = '"+table+"'")
	if err != nil {
		return fmt.Errorf("read the events table's TTL: %w", err)
	}
	has := strings.Contains(engine, " TTL ")
	want := ttl >= time.Hour
	if !has && !want || want && strings.Contains(engine, fmt.Sprintf("toIntervalHour(%d)", int64(ttl/time.Hour))) {
		return nil
	}
	if err := m.exec(ctx, ttlSQL(v, ttl)); err != nil {
		return fmt.Errorf("set the events TTL to %s: %w", ttl, err)
	}
	log.Info("changed the events table TTL", "ttl", ttl)
	return nil
}
