package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/schemas"
)

// Embedded stores events in the chDB engine inside this process. One
// process may open a data path; processor and admin-api share the instance.
// It holds two pools of connections to the one path: db for inserts,
// health checks and migrations, reads for the admin queries (QueryJSON,
// CountEvents), so that reads, however many or slow, never make an insert
// or a readiness check wait for a connection.
type Embedded struct {
	db    *chdb.DB
	reads *chdb.DB
}

// Connections of each pool; a statement holds one for its whole run.
// EmbeddedReadConns is also the most admin queries that run at once.
const (
	embeddedWriteConns = 2
	EmbeddedReadConns  = 4
)

// OpenEmbedded loads libchdb from libPath, opens the database under
// dataDir/clickhouse and applies the migrations and the TTL of opts.
func OpenEmbedded(ctx context.Context, libPath, dataDir string, log *slog.Logger, opts Options) (*Embedded, error) {
	if opts.Cluster != "" {
		return nil, fmt.Errorf("clickhouse cluster %q: the embedded engine is a single node; a cluster needs TRACKSTREAM_CLICKHOUSE_DSN", opts.Cluster)
	}
	path := filepath.Join(dataDir, "clickhouse")
	db, err := chdb.Open(libPath, path, embeddedWriteConns)
	if err != nil {
		return nil, fmt.Errorf("open embedded clickhouse: %w", err)
	}
	reads, err := chdb.Open(libPath, path, EmbeddedReadConns)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open embedded clickhouse (query connections): %w", err)
	}
	s := &Embedded{db: db, reads: reads}
	if err := migrate(ctx, s, opts, "embedded clickhouse "+path, log); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("migrate embedded clickhouse: %w", err)
	}
	return s, nil
}

// insertSQL starts every embedded insert; %s is the deduplication token.
// The rows follow separately as RowBinary (see appendRowBinary), so the
// statement has no FORMAT clause. The settings:
//   - deduplicate_blocks_in_dependent_materialized_views = 1: a retry
//     under the same token reaches no materialized view twice (the count
//     rollups would otherwise count it again), yet fills the views a
//     failed attempt did not reach;
//   - async_insert = 0: chDB turns asynchronous inserts on by default;
//     the processor batches already, and a synchronous insert is one
//     part, deduplicated by its token, independent of the async queue's
//     own settings (async_insert_deduplicate, flush timeouts);
var insertSQL = "INSERT INTO " + schemas.Database + ".events " + insertColumns +
	" SETTINGS insert_deduplication_token = '%s', deduplicate_blocks_in_dependent_materialized_views = 1, async_insert = 0"

// InsertRows inserts the rows in one RowBinary insert through chDB's
// streaming insert, which passes the data with its length (binary-safe).
// Rows are encoded a piece at a time (chdb.InsertFunc), so the insert
// holds a few MiB of encoded rows, not the whole batch.
func (s *Embedded) InsertRows(ctx context.Context, token string, rows []Row) error {
	if err := checkToken(token); err != nil {
		return err
	}
	if err := checkObjects(rows); err != nil {
		return fmt.Errorf("insert %d events: %w", len(rows), err)
	}
	next := 0
	fill := func(buf []byte) ([]byte, bool) {
		for ; next < len(rows) && len(buf) < chdb.InsertPieceBytes; next++ {
			buf = appendRowBinary(buf, &rows[next])
		}
		return buf, next < len(rows)
	}
	if err := s.db.InsertFunc(ctx, fmt.Sprintf(insertSQL, token), "RowBinary", fill); err != nil {
		if IsDataError(err) {
			return fmt.Errorf("insert %d events: %w: %w", len(rows), ErrRejected, err)
		}
		return fmt.Errorf("insert %d events: %w", len(rows), err)
	}
	return nil
}

// CountEvents counts the distinct events of a source.
func (s *Embedded) CountEvents(ctx context.Context, sourceID string) (uint64, error) {
	out, err := s.reads.QueryParams(ctx, countEventsSQL, "TabSeparated", map[string]string{"source": chdb.EscapeParam(sourceID)})
	if err != nil {
		return 0, fmt.Errorf("count events of source %s: %w", sourceID, err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("count events of source %s: unexpected answer %q", sourceID, out)
	}
	return n, nil
}

// Ping runs a trivial query.
func (s *Embedded) Ping(ctx context.Context) error {
	return s.db.Exec(ctx, "SELECT 1")
}

// Close closes every connection.
func (s *Embedded) Close() error { return errors.Join(s.reads.Close(), s.db.Close()) }

func (s *Embedded) exec(ctx context.Context, sql string) error { return s.db.Exec(ctx, sql) }

func (s *Embedded) queryString(ctx context.Context, sql string) (string, error) {
	out, err := s.db.Query(ctx, sql, "TabSeparatedRaw")
	return string(out), err
}

func (s *Embedded) recordVersion(ctx context.Context, m schemas.Migration) error {
	_, err := s.db.QueryParams(ctx,
		"INSERT INTO "+migrationsTable+" (version, name, applied_at) VALUES ({version:UInt32}, {name:String}, {at:DateTime64(3, 'UTC')})",
		"TabSeparated",
		map[string]string{"version": strconv.FormatUint(uint64(m.Version), 10), "name": chdb.EscapeParam(m.Name), "at": time.Now().UTC().Format(chTimeLayout)})
	return err
}
