package storeresearch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/store"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/schemas"
)

// BenchmarkInsertVariants is the evidence behind the embedded insert path
// and the events table's insert cost: it inserts the same realistic rows
// into copies of the events schema, each in its own database, varying one
// thing at a time (materialized view, skip indexes, JSON columns, codecs,
// insert settings, format, batch size), and reports rows per CPU-second of
// the whole process (chDB runs in it, background merges included).
//
//	go test ./storeresearch -run '^$' -bench InsertVariants -benchtime 4x
func BenchmarkInsertVariants(b *testing.B) {
	db, err := chdb.Open(testkit.CHDBLib(b), filepath.Join(b.TempDir(), "ch"), 1)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for i, v := range insertVariants() {
		b.Run(v.name, func(b *testing.B) {
			database := fmt.Sprintf("v%d_%d", i, time.Now().UnixNano())
			for _, stmt := range v.schema.ddl(b, database) {
				if err := db.Exec(context.Background(), stmt); err != nil {
					b.Fatalf("%s: %v", stmt, err)
				}
			}
			if v.noMerges {
				if err := db.Exec(context.Background(), "SYSTEM STOP MERGES "+database+".events"); err != nil {
					b.Fatal(err)
				}
			}
			runInsertVariant(b, db, database, v)
		})
	}
}

// schemaChange is one way of deriving a scratch events schema from the
// migrations.
type schemaChange struct {
	noMV, noIndexes, jsonAsString, noCodecs bool
	// tableSettings are added to the events table's SETTINGS.
	tableSettings string
	// contextAsString makes only context a String; jsonPaths, when set,
	// replaces both JSON columns' max_dynamic_paths.
	contextAsString bool
	jsonPaths       string
	// contextTyped declares typed paths for the context keys the
	// benchmark's SDK sends.
	contextTyped bool
}

var (
	indexLine = regexp.MustCompile(`,\n\s+INDEX [^,\n]*`)
	codec     = regexp.MustCompile(` CODEC\((?:[^()]|\([^()]*\))*\)`)
	jsonType  = regexp.MustCompile(`JSON\(max_dynamic_paths = \d+\)`)
)

// ddl renders the migrations into database with the change applied.
func (c schemaChange) ddl(b *testing.B, database string) []string {
	ms, err := schemas.Migrations()
	if err != nil {
		b.Fatal(err)
	}
	out := []string{"CREATE DATABASE " + database + " ENGINE = Atomic"}
	for _, m := range ms {
		if m.Version == 7 {
			// 0007 makes properties and context text; these variants
			// measure the JSON columns of 0001 (BenchmarkCeilingVariants
			// compares the two).
			continue
		}
		for _, s := range m.Statements {
			if c.noMV && strings.Contains(s, "MATERIALIZED VIEW") {
				continue
			}
			s = strings.ReplaceAll(s, schemas.Database+".", database+".")
			if c.noIndexes {
				s = indexLine.ReplaceAllString(s, "")
			}
			if c.noCodecs {
				s = codec.ReplaceAllString(s, "")
			}
			if c.jsonAsString {
				s = jsonType.ReplaceAllString(s, "String")
			}
			if c.contextAsString {
				s = strings.Replace(s, "JSON(max_dynamic_paths = 128)", "String CODEC(ZSTD(3))", 1)
			}
			if c.contextTyped {
				s = strings.Replace(s, "JSON(max_dynamic_paths = 128)",
					"JSON(max_dynamic_paths = 128, page.title String, page.width Int64, library.name LowCardinality(String), library.version LowCardinality(String))", 1)
			}
			if c.jsonPaths != "" {
				s = jsonType.ReplaceAllString(s, "JSON(max_dynamic_paths = "+c.jsonPaths+")")
			}
			if c.tableSettings != "" {
				s = strings.Replace(s, "SETTINGS non_replicated_deduplication_window", "SETTINGS "+c.tableSettings+", non_replicated_deduplication_window", 1)
			}
			out = append(out, s)
		}
	}
	return out
}

// insertVariant is one measured way of inserting batches of rows.
type insertVariant struct {
	name     string
	schema   schemaChange
	batch    int
	format   string // JSONEachRow, RowBinary or TabSeparated
	stream   bool   // chdb.Insert instead of inline data in chdb.Query
	noToken  bool
	settings string // extra SETTINGS, ", "-joined
	// strictJSON leaves out type_json_skip_duplicated_paths.
	strictJSON bool
	// noMerges stops background merges, leaving the insert's own cost.
	noMerges bool
}

func insertVariants() []insertVariant {
	const n = 50_000
	base := insertVariant{batch: n, format: "JSONEachRow"}
	with := func(name string, f func(v *insertVariant)) insertVariant {
		v := base
		v.name = name
		f(&v)
		return v
	}
	return []insertVariant{
		with("json-inline", func(*insertVariant) {}),
		with("json-inline-no-token", func(v *insertVariant) { v.noToken = true }),
		with("json-inline-no-mv", func(v *insertVariant) { v.schema.noMV = true }),
		with("json-inline-no-mv-no-idx", func(v *insertVariant) { v.schema.noMV, v.schema.noIndexes = true, true }),
		with("json-inline-no-mv-no-idx-string", func(v *insertVariant) {
			v.schema = schemaChange{noMV: true, noIndexes: true, jsonAsString: true}
		}),
		with("json-inline-no-mv-no-idx-string-lz4", func(v *insertVariant) {
			v.schema = schemaChange{noMV: true, noIndexes: true, jsonAsString: true, noCodecs: true}
		}),
		with("json-inline-sync", func(v *insertVariant) { v.settings = "async_insert = 0" }),
		with("json-inline-serial-parse", func(v *insertVariant) { v.settings = "input_format_parallel_parsing = 0" }),
		with("json-inline-sync-serial-parse", func(v *insertVariant) {
			v.settings = "async_insert = 0, input_format_parallel_parsing = 0"
		}),
		with("json-stream-sync", func(v *insertVariant) { v.stream, v.settings = true, "async_insert = 0" }),
		with("rowbinary-stream-sync", func(v *insertVariant) { v.stream, v.format, v.settings = true, "RowBinary", "async_insert = 0" }),
		with("rowbinary-stream-sync-string", func(v *insertVariant) {
			v.stream, v.format, v.settings = true, "RowBinary", "async_insert = 0"
			v.schema = schemaChange{jsonAsString: true}
		}),
		with("rowbinary-stream-sync-10k", func(v *insertVariant) {
			v.stream, v.format, v.settings, v.batch = true, "RowBinary", "async_insert = 0", 10_000
		}),
		with("rowbinary-stream-sync-200k", func(v *insertVariant) {
			v.stream, v.format, v.settings, v.batch = true, "RowBinary", "async_insert = 0", 200_000
		}),
		with("rowbinary-stream-async", func(v *insertVariant) { v.stream, v.format = true, "RowBinary" }),
		with("rowbinary-stream-sync-no-token", func(v *insertVariant) {
			v.stream, v.format, v.settings, v.noToken = true, "RowBinary", "async_insert = 0", true
		}),
		with("rowbinary-stream-sync-no-merges", func(v *insertVariant) {
			v.stream, v.format, v.settings, v.noMerges = true, "RowBinary", "async_insert = 0", true
		}),
		with("rowbinary-stream-sync-no-mv-no-idx", func(v *insertVariant) {
			v.stream, v.format, v.settings = true, "RowBinary", "async_insert = 0"
			v.schema = schemaChange{noMV: true, noIndexes: true}
		}),
		with("rowbinary-stream-sync-lz4", func(v *insertVariant) {
			v.stream, v.format, v.settings = true, "RowBinary", "async_insert = 0"
			v.schema = schemaChange{noCodecs: true}
		}),
		with("rowbinary-stream-sync-strict-json", func(v *insertVariant) {
			v.stream, v.format, v.settings, v.strictJSON = true, "RowBinary", "async_insert = 0", true
		}),
		with("rowbinary-stream-sync-context-string", func(v *insertVariant) {
			v.stream, v.format, v.settings = true, "RowBinary", "async_insert = 0"
			v.schema = schemaChange{contextAsString: true}
		}),
		with("rowbinary-stream-sync-context-typed", func(v *insertVariant) {
			v.stream, v.format, v.settings = true, "RowBinary", "async_insert = 0"
			v.schema = schemaChange{contextTyped: true}
		}),
		with("rowbinary-stream-sync-json-paths-0", func(v *insertVariant) {
			v.stream, v.format, v.settings = true, "RowBinary", "async_insert = 0"
			v.schema = schemaChange{jsonPaths: "0"}
		}),
		with("rowbinary-stream-sync-compact", func(v *insertVariant) {
			v.stream, v.format, v.settings = true, "RowBinary", "async_insert = 0"
			v.schema = schemaChange{tableSettings: "min_bytes_for_wide_part = 1073741824, min_rows_for_wide_part = 1000000"}
		}),
		with("rowbinary-stream-sync-string-compact", func(v *insertVariant) {
			v.stream, v.format, v.settings = true, "RowBinary", "async_insert = 0"
			v.schema = schemaChange{jsonAsString: true, tableSettings: "min_bytes_for_wide_part = 1073741824, min_rows_for_wide_part = 1000000"}
		}),
		with("rowbinary-stream-sync-string-lz4-no-mv-no-idx", func(v *insertVariant) {
			v.stream, v.format, v.settings = true, "RowBinary", "async_insert = 0"
			v.schema = schemaChange{noMV: true, noIndexes: true, jsonAsString: true, noCodecs: true}
		}),
	}
}

func runInsertVariant(b *testing.B, db *chdb.DB, database string, v insertVariant) {
	ctx := context.Background()
	rs := realisticRows("src-bench", v.batch, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	settings := "type_json_skip_duplicated_paths = 1"
	if v.strictJSON {
		settings = "type_json_skip_duplicated_paths = 0"
	}
	if v.format == "RowBinary" && !v.schema.jsonAsString {
		settings += ", input_format_binary_read_json_as_string = 1"
	}
	if v.settings != "" {
		settings += ", " + v.settings
	}
	var buf []byte
	var cpu, wall time.Duration
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range rs {
			rs[i].Event.ID = strconv.Itoa(n) + "-" + strconv.Itoa(i)
		}
		s := settings
		if !v.noToken {
			s = "insert_deduplication_token = 'v-" + strconv.Itoa(n) + "', " + s
		}
		stmt := "INSERT INTO " + database + ".events " + store.InsertColumns() + " SETTINGS " + s
		c0, t0 := cpuTime(b), time.Now()
		buf = buf[:0]
		if !v.stream {
			buf = append(buf, stmt+" FORMAT "+v.format+"\n"...)
		}
		for i := range rs {
			if v.format == "RowBinary" {
				buf = store.AppendRowBinary(buf, &rs[i])
			} else {
				buf = appendRow(buf, &rs[i])
			}
		}
		var err error
		if v.stream {
			err = db.Insert(ctx, stmt, v.format, buf)
		} else {
			_, err = db.Query(ctx, string(buf), "TabSeparated")
		}
		if err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime(b) - c0
		wall += time.Since(t0)
		n++
	}
	out, err := db.Query(ctx, "SELECT count() FROM "+database+".events", "TabSeparated")
	if err != nil {
		b.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != strconv.Itoa(n*v.batch) {
		b.Fatalf("%s rows stored, want %d", got, n*v.batch)
	}
	out, err = db.Query(ctx, "SELECT path FROM system.parts WHERE database = '"+database+"' AND table = 'events' AND active ORDER BY modification_time DESC LIMIT 1", "TabSeparatedRaw")
	if err != nil {
		b.Fatal(err)
	}
	files, err := os.ReadDir(strings.TrimSpace(string(out)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(files)), "files/part")
	b.ReportMetric(float64(n*v.batch)/cpu.Seconds(), "rows/cpu-s")
	b.ReportMetric(float64(n*v.batch)/wall.Seconds(), "rows/s")
	b.ReportMetric(float64(len(buf))/float64(v.batch), "bytes/row")
}
