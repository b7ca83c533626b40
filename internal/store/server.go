package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/schemas"
)

// Server stores events in a ClickHouse server over the native protocol.
type Server struct {
	conn driver.Conn
}

var _ Store = (*Server)(nil)

// OpenServer connects to the server named by dsn
// (clickhouse://user:pass@host:9000), checks it answers and applies the
// migrations.
func OpenServer(ctx context.Context, dsn string, log *slog.Logger) (*Server, error) {
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse TRACKSTREAM_CLICKHOUSE_DSN: %w", err)
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 5 * time.Second
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %v: %w", opts.Addr, err)
	}
	s := &Server{conn: conn}
	if err := s.Ping(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("clickhouse %v: %w", opts.Addr, err)
	}
	if err := migrate(ctx, s, log); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("migrate clickhouse %v: %w", opts.Addr, err)
	}
	return s, nil
}

// InsertEvents sends the events as one native batch carrying the
// deduplication token.
func (s *Server) InsertEvents(ctx context.Context, token string, events []event.Event) error {
	if err := checkToken(token); err != nil {
		return err
	}
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"insert_deduplication_token": token}))
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+schemas.Database+".events "+insertColumns)
	if err != nil {
		return fmt.Errorf("prepare insert of %d events: %w", len(events), err)
	}
	defer func() { _ = batch.Abort() }()
	for i := range events {
		e := &events[i]
		if err := batch.Append(e.SourceID, e.ID, e.Type, e.Time.UTC(), e.ReceivedAt.UTC(), e.SessionID, e.ProfileID, string(e.Properties), string(e.Context)); err != nil {
			return fmt.Errorf("append event %s/%s: %w", e.SourceID, e.ID, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d events: %w", len(events), err)
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

func (s *Server) appliedVersions(ctx context.Context) (map[uint32]bool, error) {
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT version FROM "+migrationsTable)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := map[uint32]bool{}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied[v] = true
	}
	return applied, rows.Err()
}

func (s *Server) recordVersion(ctx context.Context, m schemas.Migration) error {
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{
		"version": fmt.Sprint(m.Version), "name": m.Name,
	}))
	return s.conn.Exec(ctx, "INSERT INTO "+migrationsTable+" (version, name, applied_at) VALUES ({version:UInt32}, {name:String}, now64(3))")
}
