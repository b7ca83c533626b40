// Package store is trackstream's ClickHouse storage behind one small
// interface, with two implementations: Server (a ClickHouse server over the
// native protocol, clickhouse-go v2) and Embedded (the chDB engine in this
// process). Both apply the migrations embedded in package schemas at open,
// idempotently, and record them in trackstream.schema_migrations.
package store

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/schemas"
)

// Store is what processor and admin-api need from ClickHouse.
type Store interface {
	// InsertEvents stores events in one insert. token is the
	// insert_deduplication_token: retrying with the same token and rows
	// stores them once.
	InsertEvents(ctx context.Context, token string, events []event.Event) error
	// CountEvents is the exact number of distinct events of a source.
	CountEvents(ctx context.Context, sourceID string) (uint64, error)
	// Ping checks that ClickHouse answers.
	Ping(ctx context.Context) error
	// Close releases the connections.
	Close() error
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
// ReplacingMergeTree has merged retried events yet.
const countEventsSQL = "SELECT uniqExact(event_id) FROM " + schemas.Database + ".events WHERE source_id = {source:String}"

// migrator is the minimum a store offers the migration runner.
type migrator interface {
	exec(ctx context.Context, sql string) error
	appliedVersions(ctx context.Context) (map[uint32]bool, error)
	recordVersion(ctx context.Context, m schemas.Migration) error
}

const migrationsTable = schemas.Database + ".schema_migrations"

var bootstrap = []string{
	"CREATE DATABASE IF NOT EXISTS " + schemas.Database + " ENGINE = Atomic",
	"CREATE TABLE IF NOT EXISTS " + migrationsTable + ` (
    version    UInt32,
    name       String,
    applied_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree ORDER BY version`,
}

// migrate applies every embedded migration not yet recorded. Statements are
// written to be idempotent (IF NOT EXISTS), so a run interrupted between a
// statement and its record is safe to repeat.
func migrate(ctx context.Context, m migrator, log *slog.Logger) error {
	for _, s := range bootstrap {
		if err := m.exec(ctx, s); err != nil {
			return fmt.Errorf("bootstrap %s: %w", migrationsTable, err)
		}
	}
	all, err := schemas.Migrations()
	if err != nil {
		return err
	}
	applied, err := m.appliedVersions(ctx)
	if err != nil {
		return fmt.Errorf("read %s: %w", migrationsTable, err)
	}
	for _, mg := range all {
		if applied[mg.Version] {
			continue
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
	return nil
}
