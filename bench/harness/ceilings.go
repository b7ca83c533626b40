package harness

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/bench/loadgen"
	"github.com/trackstream/trackstream/ingest"
	"github.com/trackstream/trackstream/internal/broker"
	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/enrich"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/secretfile"
	"github.com/trackstream/trackstream/internal/store"
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

// brokerOpts are the base client options for a broker run by ServeBroker
// or `trackstream all` on dataDir: its addresses and a SASL login with the
// secret the broker keeps there.
func brokerOpts(brokers []string, dataDir string, log *slog.Logger) ([]kgo.Opt, error) {
	path := broker.SecretFile(dataDir)
	secret, err := secretfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("the broker's SASL secret: %w", err)
	}
	return append(kafka.ClientOpts(brokers, log), kafka.Embedded(broker.User, string(secret), path).Opts()...), nil
}

// brokerEnv are the settings that log a trackstream process in to a broker
// run by ServeBroker on dataDir.
func brokerEnv(dataDir string) []string {
	return []string{
		"TRACKSTREAM_KAFKA_SASL_MECHANISM=" + config.SASLScramSHA256,
		"TRACKSTREAM_KAFKA_SASL_USERNAME=" + broker.User,
		"TRACKSTREAM_KAFKA_SASL_PASSWORD_FILE=" + broker.SecretFile(dataDir),
	}
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
func produceCeiling(ctx context.Context, base []kgo.Opt, d time.Duration) (ProduceResult, error) {
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
	opts := append(append([]kgo.Opt{}, base...), ingest.ProducerOpts(config.Default().Ingest)...)
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
	start := time.Now()
	deadline := start.Add(d)
	for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
		e := &events[i%len(events)]
		// Produce blocks while the buffer is full: the loop runs at the
		// rate acks free it. Records carry ctx, not the run's deadline,
		// so the ones in flight when it passes are acknowledged (or fail
		// for a real reason) instead of being cancelled.
		cl.Produce(ctx, &kgo.Record{Topic: kafka.EventsTopic, Key: e.Key(), Value: values[i%len(values)], Headers: header},
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
	// The rate is every record produced during d over the time until the
	// last of them was acknowledged.
	flushCtx, cancelFlush := context.WithTimeout(ctx, 30*time.Second)
	defer cancelFlush()
	if err := cl.Flush(flushCtx); err != nil {
		return ProduceResult{}, fmt.Errorf("ceiling K: records still unacknowledged 30 s after the run: %w", err)
	}
	secs := time.Since(start).Seconds()
	counted := acked.Load()
	res := ProduceResult{Records: counted, Seconds: secs, RecordsPerS: float64(counted) / secs, ValueBytes: float64(total) / float64(len(values))}
	res.Errors = failed.Load()
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	return res, nil
}

// InsertResult is what ceiling C measured.
type InsertResult struct {
	Rows      int64   `json:"rows"`
	BatchRows int     `json:"batch_rows"`
	Seconds   float64 `json:"seconds"`
	RowsPerS  float64 `json:"rows_per_s"`
	// RowsPerCPUS is rows per CPU-second of the whole process (chDB runs
	// in it, background merges included): unlike RowsPerS it does not
	// depend on what else the machine runs.
	RowsPerCPUS float64 `json:"rows_per_cpu_s"`
	Format      string  `json:"format"`
	BytesOnDisk int64   `json:"bytes_on_disk"`
	BytesPerRow float64 `json:"bytes_per_row"`
}

// ceilingFormat describes the insert path ceiling C measures.
const ceilingFormat = "RowBinary via chdb_stream_insert (the processor's embedded insert)"

// CHDBCeiling is ceiling C: it opens the embedded store under dataDir the
// way trackstream does (chDB data in dataDir/clickhouse, the product's
// migrations applied), and inserts rows of the same events, enriched as
// the processor enriches them, with the processor's insert
// (store.Embedded.InsertRows, one deduplication token per batch) in
// batches of batchRows until rows are in. Then it merges (OPTIMIZE FINAL)
// and measures the bytes per row on disk.
//
// dropViews names materialized views of the schema (such as dims_daily_mv)
// to drop before the inserts, so that the difference to a run without
// them is what those views cost the insert; the result is then not
// ceiling C of the product.
func CHDBCeiling(ctx context.Context, libPath, dataDir string, rows, batchRows int, dropViews []string) (InsertResult, error) {
	quiet := slog.New(slog.DiscardHandler)
	s, err := store.OpenEmbedded(ctx, libPath, dataDir, quiet, store.Options{})
	if err != nil {
		return InsertResult{}, fmt.Errorf("ceiling C: %w", err)
	}
	defer s.Close()
	// A second handle on the same data path (allowed within a process)
	// for the statements the store does not offer.
	db, err := chdb.Open(libPath, filepath.Join(dataDir, "clickhouse"), 1)
	if err != nil {
		return InsertResult{}, err
	}
	defer db.Close()
	if err := dropMaterializedViews(ctx, db, dropViews); err != nil {
		return InsertResult{}, err
	}
	batch, err := CeilingRows(batchRows)
	if err != nil {
		return InsertResult{}, err
	}
	ids := make([]string, len(batch))
	for i := range batch {
		ids[i] = batch[i].Event.ID
	}
	res := InsertResult{BatchRows: batchRows, Format: ceilingFormat}
	var elapsed, cpu time.Duration
	for b := 0; int(res.Rows) < rows; b++ {
		// Fresh ids per batch so ReplacingMergeTree keeps every row.
		prefix := "b" + strconv.Itoa(b) + "-"
		for i := range batch {
			batch[i].Event.ID = prefix + ids[i]
		}
		start, cpuStart := time.Now(), processCPU()
		if err := s.InsertRows(ctx, "ceiling-"+prefix+"0", batch); err != nil {
			return res, fmt.Errorf("ceiling C insert of batch %d: %w", b, err)
		}
		elapsed += time.Since(start)
		cpu += processCPU() - cpuStart
		res.Rows += int64(len(batch))
	}
	res.Seconds = elapsed.Seconds()
	res.RowsPerS = float64(res.Rows) / res.Seconds
	if cpu > 0 {
		res.RowsPerCPUS = float64(res.Rows) / cpu.Seconds()
	}
	size, err := tableSize(ctx, db, schemas.Database)
	if err != nil {
		return res, err
	}
	res.BytesOnDisk = size.Bytes
	if size.Rows > 0 {
		res.BytesPerRow = float64(size.Bytes) / float64(size.Rows)
	}
	return res, nil
}

// dropMaterializedViews drops the named materialized views of trackstream's
// database. A name must be one of its views (checked against
// system.tables, since DDL takes no query parameters).
func dropMaterializedViews(ctx context.Context, db *chdb.DB, names []string) error {
	for _, name := range names {
		out, err := db.QueryParams(ctx, "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {name:String} AND engine = 'MaterializedView'",
			"TabSeparated", map[string]string{"db": schemas.Database, "name": name})
		if err != nil {
			return fmt.Errorf("look up view %s: %w", name, err)
		}
		if strings.TrimSpace(string(out)) != "1" {
			return fmt.Errorf("%s is not a materialized view of %s (see schemas/clickhouse for the *_mv names)", name, schemas.Database)
		}
		if err := db.Exec(ctx, "DROP VIEW "+schemas.Database+"."+name); err != nil {
			return fmt.Errorf("drop view %s: %w", name, err)
		}
	}
	return nil
}

// processCPU is the user+system CPU time of this process so far (zero if
// the system cannot tell).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// CeilingRows turns n sample events into the rows the processor would
// insert: the page URL, referrer and user agent that ingest lifts out of
// a Tracardi context, then the processor's default enrichments.
func CeilingRows(n int) ([]store.Row, error) {
	events, err := sampleEvents(n, "src_ceiling", 1)
	if err != nil {
		return nil, err
	}
	en := enrich.New(enrich.Options{UserAgent: true, URL: true, Referrer: true})
	rows := make([]store.Row, len(events))
	for i := range events {
		e := events[i]
		var c struct {
			Page    struct{ URL, Referrer string }
			Browser struct{ UserAgent string }
		}
		if err := json.Unmarshal(e.Context, &c); err != nil {
			return nil, fmt.Errorf("decode generated context: %w", err)
		}
		e.URL, e.Referrer, e.UserAgent = c.Page.URL, c.Page.Referrer, c.Browser.UserAgent
		rows[i] = store.Row{Event: e, Fields: en.Event(&e)}
	}
	return rows, nil
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
