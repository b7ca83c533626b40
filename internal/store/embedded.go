package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/schemas"
)

// Embedded stores events in the chDB engine inside this process. One
// process may open a data path; processor and admin-api share the instance.
type Embedded struct {
	db *chdb.DB
}

var _ Store = (*Embedded)(nil)

// embeddedConns is the number of chDB connections: parallel queries need
// one each.
const embeddedConns = 4

// OpenEmbedded loads libchdb from libPath, opens the database under
// dataDir/clickhouse and applies the migrations.
func OpenEmbedded(ctx context.Context, libPath, dataDir string, log *slog.Logger) (*Embedded, error) {
	db, err := chdb.Open(libPath, filepath.Join(dataDir, "clickhouse"), embeddedConns)
	if err != nil {
		return nil, fmt.Errorf("open embedded clickhouse: %w", err)
	}
	s := &Embedded{db: db}
	if err := migrate(ctx, s, log); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("migrate embedded clickhouse: %w", err)
	}
	return s, nil
}

const insertColumns = "(source_id, event_id, event_type, event_time, received_at, session_id, profile_id, properties, context)"

// InsertEvents inserts the events as JSONEachRow in one statement.
func (s *Embedded) InsertEvents(ctx context.Context, token string, events []event.Event) error {
	if err := checkToken(token); err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.Grow(len(events) * 512)
	fmt.Fprintf(&buf, "INSERT INTO %s.events %s SETTINGS insert_deduplication_token = '%s' FORMAT JSONEachRow\n", schemas.Database, insertColumns, token)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range events {
		if err := enc.Encode(newRow(&events[i])); err != nil {
			return fmt.Errorf("encode event %s/%s: %w", events[i].SourceID, events[i].ID, err)
		}
	}
	if _, err := s.db.Query(ctx, buf.String(), "TabSeparated"); err != nil {
		return fmt.Errorf("insert %d events: %w", len(events), err)
	}
	return nil
}

// row is an events row in JSONEachRow form.
type row struct {
	SourceID   string `json:"source_id"`
	EventID    string `json:"event_id"`
	EventType  string `json:"event_type"`
	EventTime  string `json:"event_time"`
	ReceivedAt string `json:"received_at"`
	SessionID  string `json:"session_id"`
	ProfileID  string `json:"profile_id"`
	Properties string `json:"properties"`
	Context    string `json:"context"`
}

const chTimeLayout = "2006-01-02 15:04:05.000"

func newRow(e *event.Event) row {
	return row{
		SourceID:   e.SourceID,
		EventID:    e.ID,
		EventType:  e.Type,
		EventTime:  e.Time.UTC().Format(chTimeLayout),
		ReceivedAt: e.ReceivedAt.UTC().Format(chTimeLayout),
		SessionID:  e.SessionID,
		ProfileID:  e.ProfileID,
		Properties: string(e.Properties),
		Context:    string(e.Context),
	}
}

// CountEvents counts the distinct events of a source.
func (s *Embedded) CountEvents(ctx context.Context, sourceID string) (uint64, error) {
	out, err := s.db.QueryParams(ctx, countEventsSQL, "TabSeparated", map[string]string{"source": chdb.EscapeParam(sourceID)})
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
func (s *Embedded) Close() error { return s.db.Close() }

func (s *Embedded) exec(ctx context.Context, sql string) error { return s.db.Exec(ctx, sql) }

func (s *Embedded) appliedVersions(ctx context.Context) (map[uint32]bool, error) {
	out, err := s.db.Query(ctx, "SELECT DISTINCT version FROM "+migrationsTable, "TabSeparated")
	if err != nil {
		return nil, err
	}
	applied := map[uint32]bool{}
	for _, line := range strings.Fields(string(out)) {
		v, err := strconv.ParseUint(line, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("unexpected version %q", line)
		}
		applied[uint32(v)] = true
	}
	return applied, nil
}

func (s *Embedded) recordVersion(ctx context.Context, m schemas.Migration) error {
	_, err := s.db.QueryParams(ctx,
		"INSERT INTO "+migrationsTable+" (version, name, applied_at) VALUES ({version:UInt32}, {name:String}, {at:DateTime64(3, 'UTC')})",
		"TabSeparated",
		map[string]string{"version": strconv.FormatUint(uint64(m.Version), 10), "name": chdb.EscapeParam(m.Name), "at": time.Now().UTC().Format(chTimeLayout)})
	return err
}
