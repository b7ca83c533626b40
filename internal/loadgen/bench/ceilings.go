package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/broker"
	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/loadgen"
	"github.com/trackstream/trackstream/schemas"
)

// Announcement prefixes the helper subcommands print once they listen.
const (
	brokerAnnounce = "BENCH_BROKER_ADDR "
	httpAnnounce   = "BENCH_HTTP_ADDR "
)

// ServeBroker runs the embedded broker the way `trackstream all` does
// (kfake with its log under dataDir), prints its address and serves until
// ctx ends. It is the broker process of the ingest-only scenarios.
func ServeBroker(ctx context.Context, dataDir string, out io.Writer, log *slog.Logger) error {
	b, err := broker.Start(dataDir, 0, log)
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Fprintln(out, brokerAnnounce+strings.Join(b.Addrs(), ","))
	<-ctx.Done()
	return nil
}

// ServeHTTPCeiling runs ceiling H: a Fiber v2 server configured like
// ingest's whose POST handler reads the body (gunzipping it through a
// capped reader when it is gzip, as ingest does) and answers 204. It
// prints its address and serves until ctx ends.
func ServeHTTPCeiling(ctx context.Context, addr string, out io.Writer) error {
	cfg := config.Default().Ingest
	app := fiber.New(fiber.Config{
		AppName:               "trackstream-bench-ceiling",
		BodyLimit:             cfg.MaxBodyBytes,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		Concurrency:           16 * 1024,
		ReadBufferSize:        8 * 1024,
		DisableStartupMessage: true,
	})
	var zr gzipPool
	sink := func(c *fiber.Ctx) error {
		body := c.BodyRaw()
		if c.Get(fiber.HeaderContentEncoding) == "gzip" {
			n, err := zr.drain(body, int64(cfg.MaxBodyBytes))
			if err != nil || n == 0 {
				return c.SendStatus(fiber.StatusBadRequest)
			}
		} else if len(body) == 0 {
			return c.SendStatus(fiber.StatusBadRequest)
		}
		return c.SendStatus(fiber.StatusNoContent)
	}
	app.Post("/track", sink)
	app.Post("/v1/batch", sink)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("ceiling H listener on %s: %w", addr, err)
	}
	fmt.Fprintln(out, httpAnnounce+ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	select {
	case <-ctx.Done():
		return app.ShutdownWithTimeout(5 * time.Second)
	case err := <-errc:
		return err
	}
}

// gzipPool reuses gzip readers across requests.
type gzipPool struct{ p sync.Pool }

func (g *gzipPool) drain(body []byte, limit int64) (int64, error) {
	zr, _ := g.p.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(body))
	} else {
		err = zr.Reset(bytes.NewReader(body))
	}
	if err != nil {
		return 0, err
	}
	defer g.p.Put(zr)
	return io.Copy(io.Discard, io.LimitReader(zr, limit+1))
}

// sampleEvents decodes generated Tracardi requests into the normalised
// events ingest would produce: the same records for ceilings K and C.
func sampleEvents(n int, sourceID string, batch int) ([]event.Event, error) {
	g := loadgen.NewGenerator(loadgen.GenConfig{Seed: 7, RunID: "ceiling", SourceID: sourceID, EventsPerRequest: batch}, 0)
	now := time.Now().UTC().Truncate(time.Millisecond)
	out := make([]event.Event, 0, n)
	for len(out) < n {
		body, _ := g.Next()
		var p struct {
			Source, Session, Profile struct{ ID string }
			Context                  json.RawMessage
			Events                   []struct {
				ID, Type   string
				Time       time.Time
				Properties json.RawMessage
			}
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, fmt.Errorf("decode generated request: %w", err)
		}
		for _, e := range p.Events {
			out = append(out, event.Event{
				SourceID: p.Source.ID, ID: e.ID, Type: e.Type, Time: e.Time.UTC(), ReceivedAt: now,
				SessionID: p.Session.ID, ProfileID: p.Profile.ID, Properties: e.Properties, Context: p.Context,
			})
		}
	}
	return out[:n], nil
}

// producerOpts mirrors ingest.ProducerOpts of the walking skeleton (acks
// from all in-sync replicas, idempotence, bounded buffer and delivery
// time, 2 ms linger, LZ4), copied rather than imported so the harness
// builds while ingest is being rewritten; keep the two in step.
func producerOpts(cfg config.Ingest) []kgo.Opt {
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedBytes(cfg.MaxBufferedBytes),
		kgo.RecordDeliveryTimeout(cfg.ProduceTimeout),
		kgo.ProduceRequestTimeout(cfg.ProduceTimeout),
		kgo.ProducerLinger(2 * time.Millisecond),
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()),
	}
}

// ProduceResult is what ceiling K measured.
type ProduceResult struct {
	Records     int64   `json:"records"`
	Seconds     float64 `json:"seconds"`
	RecordsPerS float64 `json:"records_per_s"`
	Errors      int64   `json:"errors"`
	ValueBytes  float64 `json:"mean_value_bytes"`
	FirstError  string  `json:"first_error,omitempty"`
}

// produceCeiling is ceiling K: the same records ingest makes, produced
// with ingest's producer options to the same broker, as fast as the acks
// come back, for d.
func produceCeiling(ctx context.Context, brokers []string, d time.Duration, log *slog.Logger) (ProduceResult, error) {
	events, err := sampleEvents(20_000, "src_ceiling", 1)
	if err != nil {
		return ProduceResult{}, err
	}
	values := make([][]byte, len(events))
	var total int
	for i := range events {
		if values[i], err = events[i].Marshal(); err != nil {
			return ProduceResult{}, err
		}
		total += len(values[i])
	}
	opts := append(kafka.ClientOpts(brokers, log), producerOpts(config.Default().Ingest)...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return ProduceResult{}, fmt.Errorf("ceiling K producer: %w", err)
	}
	defer cl.Close()
	// Warm up the connection and metadata.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: kafka.EventsTopic, Value: values[0]}).FirstErr(); err != nil {
		return ProduceResult{}, fmt.Errorf("ceiling K warm-up produce: %w", err)
	}
	var acked, failed atomic.Int64
	var firstErr atomic.Value
	header := []kgo.RecordHeader{{Key: event.FormatHeader, Value: []byte(event.FormatVersion)}}
	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	for i := 0; runCtx.Err() == nil; i++ {
		e := &events[i%len(events)]
		// Produce blocks while the buffer is full: the loop runs at the
		// rate acks free it.
		cl.Produce(runCtx, &kgo.Record{Topic: kafka.EventsTopic, Key: e.Key(), Value: values[i%len(values)], Headers: header},
			func(_ *kgo.Record, err error) {
				if err != nil {
					if failed.Add(1) == 1 {
						firstErr.Store(err.Error())
					}
					return
				}
				acked.Add(1)
			})
	}
	counted := acked.Load()
	secs := time.Since(start).Seconds()
	flushCtx, cancelFlush := context.WithTimeout(ctx, 30*time.Second)
	defer cancelFlush()
	_ = cl.Flush(flushCtx)
	res := ProduceResult{Records: counted, Seconds: secs, RecordsPerS: float64(counted) / secs, ValueBytes: float64(total) / float64(len(values))}
	// Records cancelled by the end of the run fail with a context error;
	// they are not broker failures.
	res.Errors = failed.Load()
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	return res, nil
}

// InsertResult is what ceiling C measured.
type InsertResult struct {
	Rows        int64   `json:"rows"`
	BatchRows   int     `json:"batch_rows"`
	Seconds     float64 `json:"seconds"`
	RowsPerS    float64 `json:"rows_per_s"`
	Format      string  `json:"format"`
	BytesOnDisk int64   `json:"bytes_on_disk"`
	BytesPerRow float64 `json:"bytes_per_row"`
}

// CHDBCeiling is ceiling C: it opens chDB at dataPath, creates the events
// table from the embedded migrations, and inserts rows of the same events
// as JSONEachRow in batches of batchRows until rows are in; then it merges
// (OPTIMIZE FINAL) and measures the bytes per row on disk.
func CHDBCeiling(ctx context.Context, libPath, dataPath string, rows, batchRows int) (InsertResult, error) {
	db, err := chdb.Open(libPath, dataPath, 1)
	if err != nil {
		return InsertResult{}, err
	}
	defer db.Close()
	if err := createCeilingTable(ctx, db); err != nil {
		return InsertResult{}, err
	}
	events, err := sampleEvents(batchRows, "src_ceiling", 1)
	if err != nil {
		return InsertResult{}, err
	}
	res := InsertResult{BatchRows: batchRows, Format: "JSONEachRow"}
	var elapsed time.Duration
	for b := 0; int(res.Rows) < rows; b++ {
		// Fresh ids per batch so ReplacingMergeTree keeps every row.
		stmt := insertStatement(events, fmt.Sprintf("b%d-", b))
		start := time.Now()
		if _, err := db.Query(ctx, stmt, "TabSeparated"); err != nil {
			return res, fmt.Errorf("ceiling C insert of batch %d: %w", b, err)
		}
		elapsed += time.Since(start)
		res.Rows += int64(len(events))
	}
	res.Seconds = elapsed.Seconds()
	res.RowsPerS = float64(res.Rows) / res.Seconds
	size, err := tableSize(ctx, db, "bench")
	if err != nil {
		return res, err
	}
	res.BytesOnDisk = size.Bytes
	if size.Rows > 0 {
		res.BytesPerRow = float64(size.Bytes) / float64(size.Rows)
	}
	return res, nil
}

// ceilingDDL is the events table of the walking skeleton
// (schemas/clickhouse/0001_events.sql at that commit), kept here so ceiling
// C measures the engine against one fixed table while the product's schema
// evolves. It lives in its own database so it never meets the product's.
const ceilingDDL = `CREATE TABLE IF NOT EXISTS bench.events
(
    source_id   LowCardinality(String),
    event_id    String,
    event_type  LowCardinality(String),
    event_time  DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    received_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    session_id  String CODEC(ZSTD(1)),
    profile_id  String CODEC(ZSTD(1)),
    properties  String CODEC(ZSTD(3)),
    context     String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (source_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000`

// createCeilingTable creates the bench database and its events table.
func createCeilingTable(ctx context.Context, db *chdb.DB) error {
	if err := db.Exec(ctx, "CREATE DATABASE IF NOT EXISTS bench ENGINE = Atomic"); err != nil {
		return fmt.Errorf("create database bench: %w", err)
	}
	if err := db.Exec(ctx, ceilingDDL); err != nil {
		return fmt.Errorf("create table bench.events: %w", err)
	}
	return nil
}

// insertStatement builds one JSONEachRow INSERT of events, in the column
// layout the embedded store writes, with idPrefix put before every id.
func insertStatement(events []event.Event, idPrefix string) string {
	var b bytes.Buffer
	b.Grow(len(events) * 900)
	b.WriteString("INSERT INTO bench.events (source_id, event_id, event_type, event_time, received_at, session_id, profile_id, properties, context) FORMAT JSONEachRow\n")
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	const layout = "2006-01-02 15:04:05.000"
	for i := range events {
		e := &events[i]
		_ = enc.Encode(struct {
			SourceID   string `json:"source_id"`
			EventID    string `json:"event_id"`
			EventType  string `json:"event_type"`
			EventTime  string `json:"event_time"`
			ReceivedAt string `json:"received_at"`
			SessionID  string `json:"session_id"`
			ProfileID  string `json:"profile_id"`
			Properties string `json:"properties"`
			Context    string `json:"context"`
		}{e.SourceID, idPrefix + e.ID, e.Type, e.Time.Format(layout), e.ReceivedAt.Format(layout),
			e.SessionID, e.ProfileID, string(e.Properties), string(e.Context)})
	}
	return b.String()
}

// SizeResult is the events table's size on disk after merges.
type SizeResult struct {
	Rows        int64            `json:"rows"`
	Bytes       int64            `json:"bytes_on_disk"`
	BytesPerRow float64          `json:"bytes_per_row"`
	Columns     map[string]int64 `json:"column_compressed_bytes"`
}

// TableSize opens chDB at dataPath (a stopped trackstream's
// <data-dir>/clickhouse), merges the events table of database (empty:
// trackstream's) with OPTIMIZE FINAL and reports its bytes on disk per
// row and per column.
func TableSize(ctx context.Context, libPath, dataPath, database string) (SizeResult, error) {
	if database == "" {
		database = schemas.Database
	}
	db, err := chdb.Open(libPath, dataPath, 1)
	if err != nil {
		return SizeResult{}, err
	}
	defer db.Close()
	return tableSize(ctx, db, database)
}

// tableSize merges the events table of database (events, or events_local
// where the schema has a distributed layer) and measures it.
func tableSize(ctx context.Context, db *chdb.DB, database string) (SizeResult, error) {
	var r SizeResult
	out, err := db.Query(ctx, "SELECT name FROM system.tables WHERE database = '"+database+"' AND name IN ('events', 'events_local') AND engine LIKE '%MergeTree' ORDER BY name DESC LIMIT 1", "TabSeparated")
	if err != nil {
		return r, fmt.Errorf("find the events table in %s: %w", database, err)
	}
	table := strings.TrimSpace(string(out))
	if table == "" {
		return r, fmt.Errorf("no MergeTree events table in database %s", database)
	}
	where := "database = '" + database + "' AND table = '" + table + "'"
	if err := db.Exec(ctx, "OPTIMIZE TABLE "+database+"."+table+" FINAL"); err != nil {
		return r, fmt.Errorf("merge %s.%s: %w", database, table, err)
	}
	out, err = db.Query(ctx, "SELECT sum(rows), sum(bytes_on_disk) FROM system.parts WHERE active AND "+where, "TabSeparated")
	if err != nil {
		return r, fmt.Errorf("read %s.%s size: %w", database, table, err)
	}
	if _, err := fmt.Sscan(string(out), &r.Rows, &r.Bytes); err != nil {
		return r, fmt.Errorf("parse table size %q: %w", out, err)
	}
	if r.Rows > 0 {
		r.BytesPerRow = float64(r.Bytes) / float64(r.Rows)
	}
	// JSON columns are stored as many subcolumns; system.parts_columns
	// adds them up per column.
	out, err = db.Query(ctx, "SELECT column, sum(column_data_compressed_bytes) FROM system.parts_columns WHERE active AND "+where+" GROUP BY column", "TabSeparated")
	if err != nil {
		return r, fmt.Errorf("read column sizes: %w", err)
	}
	r.Columns = map[string]int64{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		var name string
		var n int64
		if _, err := fmt.Sscan(line, &name, &n); err == nil {
			r.Columns[name] = n
		}
	}
	return r, nil
}
