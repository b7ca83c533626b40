package storeresearch

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/bench/harness"
	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/store"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/schemas"
)

// BenchmarkCeilingVariants is the evidence behind ceiling C's storage
// choices: it inserts the rows ceiling C inserts (the harness generator's
// realistic events, enriched; harness.CeilingRows) into copies of the
// product's schema, each in its own database, varying which materialized
// views run and the types of properties and context, and reports rows
// per CPU-second of the inserts (the whole process: chDB runs in it), the
// CPU-seconds of the final merge per million rows, and the events table's
// bytes per row after it.
//
//	go test ./storeresearch -run '^$' -bench CeilingVariants -benchtime 6x -count 3
func BenchmarkCeilingVariants(b *testing.B) {
	const batch = 50_000
	db, err := chdb.Open(testkit.CHDBLib(b), filepath.Join(b.TempDir(), "ch"), 1)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rs, err := harness.CeilingRows(batch)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, len(rs))
	for i := range rs {
		ids[i] = rs[i].Event.ID
	}
	const text = "String CODEC(ZSTD(3))"
	views := []string{"event_ids", "counts_by_type_hourly", "counts_by_type_daily", "visitors_daily", "dims_daily", "events_sessions", "sessions_dirty", "counts_minute"}
	variants := []ceilingVariant{
		{name: "json", json: true},
		{name: "json-no-views", json: true, views: []string{}},
		{name: "text"},
		{name: "text-no-views", views: []string{}},
	}
	for _, v := range views {
		variants = append(variants, ceilingVariant{name: "text-only-" + v, views: []string{v}})
	}
	without := func(drop ...string) []string {
		var keep []string
		for _, v := range views {
			if !contains(drop, v) {
				keep = append(keep, v)
			}
		}
		return keep
	}
	variants = append(variants,
		ceilingVariant{name: "text-without-daily", views: without("counts_by_type_daily", "visitors_daily")},
		ceilingVariant{name: "text-without-dims_daily", views: without("dims_daily")},
		// dims_daily's view keeping only non-empty values: what skipping
		// the empty ones (most UTM, click id, region and city values) saves.
		ceilingVariant{name: "text-dims-non-empty", replace: [][2]string{
			{"ARRAY JOIN [('name'", "ARRAY JOIN arrayFilter(x -> x.2 != '', [('name'"},
			{"toString(device_type))] AS d\nGROUP BY", "toString(device_type))]) AS d\nGROUP BY"},
		}},
	)
	variants = append(variants,
		ceilingVariant{name: "no-objects-no-views", views: []string{}, emptyJSON: true},
		ceilingVariant{name: "json-context-text", json: true, context: text},
		ceilingVariant{name: "json-paths-32-context-text", json: true, context: text, properties: "JSON(max_dynamic_paths = 32)"},
		ceilingVariant{name: "json-paths-0-context-text", json: true, context: text, properties: "JSON(max_dynamic_paths = 0)"},
		ceilingVariant{name: "text-zstd1", json: true, context: "String CODEC(ZSTD(1))", properties: "String CODEC(ZSTD(1))"},
		ceilingVariant{name: "text-lz4", json: true, context: "String CODEC(LZ4)", properties: "String CODEC(LZ4)"},
	)
	runs := 0
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			runs++
			database := fmt.Sprintf("c%d_%d", runs, time.Now().UnixNano())
			for _, stmt := range v.ddl(b, database) {
				if err := db.Exec(context.Background(), stmt); err != nil {
					b.Fatalf("%s: %v", stmt, err)
				}
			}
			defer func() {
				if err := db.Exec(context.Background(), "DROP DATABASE "+database+" SYNC"); err != nil {
					b.Fatal(err)
				}
			}()
			runCeilingVariant(b, db, database, v, rs, ids)
		})
	}
}

// ceilingVariant is one schema ceiling C's rows are inserted into.
type ceilingVariant struct {
	name string
	// views are the materialized views kept (their names without _mv);
	// nil keeps every view.
	views []string
	// json keeps properties and context in the JSON columns of migration
	// 0001 (skipping 0007, which makes them text).
	json bool
	// properties and context, when set, replace the column's type in
	// migration 0001 (set json too, or 0007 makes them text again).
	properties, context string
	// emptyJSON sends {} for both columns: the rest of the row's cost.
	emptyJSON bool
	// replace are replacements (old, new) in the statement creating the
	// dims_daily view.
	replace [][2]string
}

var viewName = regexp.MustCompile(`MATERIALIZED VIEW IF NOT EXISTS trackstream\.(\w+)_mv`)

// ddl renders the product's migrations into database with the variant's
// changes.
func (v ceilingVariant) ddl(b *testing.B, database string) []string {
	ms, err := schemas.Migrations()
	if err != nil {
		b.Fatal(err)
	}
	out := []string{"CREATE DATABASE " + database + " ENGINE = Atomic"}
	for _, m := range ms {
		if v.json && m.Version == 7 {
			continue
		}
		for _, s := range m.Statements {
			if mv := viewName.FindStringSubmatch(s); mv != nil && v.views != nil && !contains(v.views, mv[1]) {
				continue
			}
			if v.properties != "" {
				s = strings.Replace(s, "properties      JSON(max_dynamic_paths = 256)", "properties "+v.properties, 1)
			}
			if strings.Contains(s, "VIEW IF NOT EXISTS trackstream.dims_daily_mv") {
				for _, r := range v.replace {
					s = strings.Replace(s, r[0], r[1], 1)
				}
			}
			if v.context != "" {
				s = strings.Replace(s, "context         JSON(max_dynamic_paths = 128)", "context "+v.context, 1)
			}
			out = append(out, strings.ReplaceAll(s, schemas.Database+".", database+"."))
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func runCeilingVariant(b *testing.B, db *chdb.DB, database string, v ceilingVariant, rs []store.Row, ids []string) {
	ctx := context.Background()
	props, ctxs := make([][]byte, len(rs)), make([][]byte, len(rs))
	for i := range rs {
		props[i], ctxs[i] = rs[i].Event.Properties, rs[i].Event.Context
		if v.emptyJSON {
			rs[i].Event.Properties, rs[i].Event.Context = []byte("{}"), []byte("{}")
		}
	}
	defer func() {
		for i := range rs {
			rs[i].Event.Properties, rs[i].Event.Context = props[i], ctxs[i]
		}
	}()
	stmt := "INSERT INTO " + database + ".events " + store.InsertColumns() +
		" SETTINGS insert_deduplication_token = '%s', deduplicate_blocks_in_dependent_materialized_views = 1, async_insert = 0, input_format_binary_read_json_as_string = 1, type_json_skip_duplicated_paths = 1"
	var cpu time.Duration
	var buf []byte
	n := 0
	for b.Loop() {
		prefix := "b" + strconv.Itoa(n) + "-"
		for i := range rs {
			rs[i].Event.ID = prefix + ids[i]
		}
		c0 := cpuTime(b)
		buf = buf[:0]
		for i := range rs {
			buf = store.AppendRowBinary(buf, &rs[i])
		}
		if err := db.Insert(ctx, fmt.Sprintf(stmt, prefix), "RowBinary", buf); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime(b) - c0
		n++
	}
	b.StopTimer()
	rows := float64(n * len(rs))
	c0 := cpuTime(b)
	if err := db.Exec(ctx, "OPTIMIZE TABLE "+database+".events FINAL"); err != nil {
		b.Fatal(err)
	}
	merge := cpuTime(b) - c0
	out, err := db.Query(ctx, "SELECT sum(rows), sum(bytes_on_disk) FROM system.parts WHERE active AND database = '"+database+"' AND table = 'events'", "TabSeparated")
	if err != nil {
		b.Fatal(err)
	}
	var stored, bytes float64
	if _, err := fmt.Sscan(string(out), &stored, &bytes); err != nil || stored != rows {
		b.Fatalf("stored %q, want %v rows (%v)", out, rows, err)
	}
	b.ReportMetric(rows/cpu.Seconds(), "rows/cpu-s")
	b.ReportMetric(merge.Seconds()/rows*1e6, "merge-cpu-s/Mrows")
	b.ReportMetric(bytes/rows, "disk-bytes/row")
	b.ReportMetric(float64(len(buf))/float64(len(rs)), "sent-bytes/row")
}
