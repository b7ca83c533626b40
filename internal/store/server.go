package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/trackstream/trackstream/schemas"
)

// Server stores events in a ClickHouse server over the native protocol.
type Server struct {
	conn    driver.Conn
	cluster bool
}

// OpenServer connects to the server named by dsn
// (clickhouse://user:pass@host:9000), checks it answers and applies the
// migrations and the TTL of opts.
func OpenServer(ctx context.Context, dsn string, log *slog.Logger, opts Options) (*Server, error) {
	copts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse TRACKSTREAM_CLICKHOUSE_DSN: %w", err)
	}
	if copts.DialTimeout == 0 {
		copts.DialTimeout = 5 * time.Second
	}
	conn, err := clickhouse.Open(copts)
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %v: %w", copts.Addr, err)
	}
	s := &Server{conn: conn, cluster: opts.Cluster != ""}
	if err := s.Ping(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("clickhouse %v: %w", copts.Addr, err)
	}
	if err := migrate(ctx, s, opts, fmt.Sprintf("clickhouse %v", copts.Addr), log); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("migrate clickhouse %v: %w", copts.Addr, err)
	}
	return s, nil
}

// InsertRows sends the rows as one native batch carrying the
// deduplication token. In cluster mode the batch goes to the Distributed
// table synchronously (distributed_foreground_insert), so an error is
// reported here and the token reaches the shards.
func (s *Server) InsertRows(ctx context.Context, token string, rows []Row) error {
	if err := checkToken(token); err != nil {
		return err
	}
	if err := checkObjects(rows); err != nil {
		return fmt.Errorf("insert %d events: %w", len(rows), err)
	}
	// deduplicate_blocks_in_dependent_materialized_views: a retry under
	// the same token reaches no view twice (see Embedded's insertSQL).
	settings := clickhouse.Settings{"insert_deduplication_token": token, "deduplicate_blocks_in_dependent_materialized_views": 1}
	if s.cluster {
		settings["distributed_foreground_insert"] = 1
	}
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(settings))
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+schemas.Database+".events "+insertColumns)
	if err != nil {
		return fmt.Errorf("prepare insert of %d events: %w", len(rows), err)
	}
	defer func() { _ = batch.Abort() }()
	vals := make([]any, 0, len(columns))
	for i := range rows {
		if err := batch.Append(appendValues(vals[:0], &rows[i])...); err != nil {
			e := &rows[i].Event
			return fmt.Errorf("append event %s/%s: %w: %w", e.SourceID, e.ID, ErrRejected, err)
		}
	}
	if err := batch.Send(); err != nil {
		if IsDataError(err) {
			return fmt.Errorf("insert %d events: %w: %w", len(rows), ErrRejected, err)
		}
		return fmt.Errorf("insert %d events: %w", len(rows), err)
	}
	return nil
}

// CountEvents counts the distinct events of a source with a server-side
// query parameter.
func (s *Server) CountEvents(ctx context.Context, sourceID string) (uint64, error) {
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"source": sourceID}))
	var n uint64
	if err := s.conn.QueryRow(ctx, countEventsSQL).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events of source %s: %w", sourceID, err)
	}
	return n, nil
}

// Ping checks the server answers.
func (s *Server) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }

// Close closes the connection pool.
func (s *Server) Close() error { return s.conn.Close() }

func (s *Server) exec(ctx context.Context, sql string) error { return s.conn.Exec(ctx, sql) }

// queryString runs a query whose columns are all String and returns the
// rows tab-separated.
func (s *Server) queryString(ctx context.Context, sql string) (string, error) {
	rows, err := s.conn.Query(ctx, sql)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	cols := len(rows.Columns())
	for rows.Next() {
		vals := make([]string, cols)
		ptrs := make([]any, cols)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", err
		}
		for i, v := range vals {
			if i > 0 {
				b.WriteByte('\t')
			}
			b.WriteString(v)
		}
		b.WriteByte('\n')
	}
	return b.String(), rows.Err()
}

func (s *Server) recordVersion(ctx context.Context, m schemas.Migration) error {
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{
		"version": fmt.Sprint(m.Version), "name": m.Name,
	}))
	return s.conn.Exec(ctx, "INSERT INTO "+migrationsTable+" (version, name, applied_at) VALUES ({version:UInt32}, {name:String}, now64(3))")
}
