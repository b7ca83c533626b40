package storeresearch

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/bench/harness"
	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/store"
	"github.com/trackstream/trackstream/internal/testkit"
)

// BenchmarkPropertyStorage weighs the storage of properties and context
// on the three things that matter together: it stores the same realistic
// rows (ceiling C's, harness.CeilingRows; -rows, default 1M, spread over
// 20 hours) in the product's schema with the columns as JSON (migration
// 0001) and as String (text, read with JSONExtract; migration 0007), all views
// running, and reports insert rows per CPU-second, the events table's
// bytes per row after OPTIMIZE FINAL, and the median latency and CPU of
// the admin API's property queries (filter, breakdown, search with a
// property filter, reading a page of events with their properties).
//
//	go test ./storeresearch -run '^$' -bench PropertyStorage -benchtime 1x
func BenchmarkPropertyStorage(b *testing.B) {
	const batch = 50_000
	rows := *propRows
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
	times := make([]time.Time, len(rs))
	for i := range rs {
		ids[i], times[i] = rs[i].Event.ID, rs[i].Event.Time
	}
	runs := 0
	for _, v := range propStorages {
		b.Run(v.name, func(b *testing.B) {
			runs++
			ctx := context.Background()
			database := fmt.Sprintf("p%d_%d", runs, time.Now().UnixNano())
			for _, stmt := range v.schema.ddl(b, database) {
				if err := db.Exec(ctx, stmt); err != nil {
					b.Fatalf("%s: %v", stmt, err)
				}
			}
			defer func() { _ = db.Exec(ctx, "DROP DATABASE "+database+" SYNC") }()
			stmt := "INSERT INTO " + database + ".events " + store.InsertColumns() +
				" SETTINGS insert_deduplication_token = '%s', deduplicate_blocks_in_dependent_materialized_views = 1, async_insert = 0, input_format_binary_read_json_as_string = 1, type_json_skip_duplicated_paths = 1"
			var cpu time.Duration
			var buf []byte
			for n := 0; n*batch < rows; n++ {
				prefix := "b" + strconv.Itoa(n) + "-"
				for i := range rs {
					rs[i].Event.ID = prefix + ids[i]
					rs[i].Event.Time = times[i].Add(time.Duration(n) * time.Hour)
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
			}
			stored := float64((rows + batch - 1) / batch * batch)
			if err := db.Exec(ctx, "OPTIMIZE TABLE "+database+".events FINAL"); err != nil {
				b.Fatal(err)
			}
			out, err := db.Query(ctx, "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = '"+database+"' AND table = 'events'", "TabSeparated")
			if err != nil {
				b.Fatal(err)
			}
			var bytes float64
			fmt.Sscan(string(out), &bytes)
			b.ReportMetric(stored/cpu.Seconds(), "insert-rows/cpu-s")
			b.ReportMetric(bytes/stored, "disk-bytes/row")
			for _, q := range propQueries(database, v) {
				var ms, cpuMS []float64
				var answer string
				for range 5 {
					c0, t0 := cpuTime(b), time.Now()
					out, err := db.Query(ctx, q.sql, "TabSeparated")
					if err != nil {
						b.Fatalf("%s: %s: %v", q.name, q.sql, err)
					}
					ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
					cpuMS = append(cpuMS, float64((cpuTime(b)-c0).Microseconds())/1000)
					answer = string(out)
				}
				b.ReportMetric(median(ms), q.name+"-ms")
				b.ReportMetric(median(cpuMS), q.name+"-cpu-ms")
				b.Logf("%s %s: %d answer bytes, first line %q", v.name, q.name, len(answer), strings.SplitN(answer, "\n", 2)[0])
			}
		})
	}
}

// propRows is how many rows BenchmarkPropertyStorage stores per variant.
var propRows = flag.Int("prop-rows", 1_000_000, "rows BenchmarkPropertyStorage stores per variant")

// propStorage is one way of storing properties and context: the schema
// and how the admin API's queries read them.
type propStorage struct {
	name   string
	schema ceilingVariant
	// prop is the text of property key k (a path, dots between levels),
	// NULL when absent; text is a column's JSON text.
	prop func(k string) string
	text func(column string) string
}

var propStorages = []propStorage{
	{
		name:   "json",
		schema: ceilingVariant{json: true},
		prop:   func(k string) string { return "toString(getSubcolumn(properties, '" + k + "'))" },
		text:   func(c string) string { return "toJSONString(" + c + ")" },
	},
	{
		name:   "text",
		schema: ceilingVariant{},
		prop: func(k string) string {
			return "toString(JSONExtract(properties, '" + strings.ReplaceAll(k, ".", "', '") + "', 'Dynamic'))"
		},
		text: func(c string) string { return c },
	},
}

type propQuery struct{ name, sql string }

// propQueries are the admin API's property queries (admin-api/stats_sql.go)
// over every stored row of database.
func propQueries(database string, v propStorage) []propQuery {
	events := database + ".events"
	const visitor = "multiIf(profile_id != '', profile_id, anonymous_id != '', anonymous_id, user_id != '', user_id, session_id)"
	where := "event_time >= now64(3) - INTERVAL 3 DAY AND event_time < now64(3) + INTERVAL 3 DAY AND source_id = 'src_ceiling' AND NOT is_bot"
	sizes := "source_id, event_id, toUnixTimestamp64Milli(event_time) AS time_ms, length(" + v.text("properties") + ") + length(" + v.text("context") +
		") + length(url) + length(referrer) + length(name) + 512 AS row_bytes"
	order := " ORDER BY event_time DESC, source_id DESC, event_id DESC LIMIT 1 BY source_id, event_id LIMIT 51"
	search := func(w string) string {
		return "WITH page AS (SELECT source_id, event_id, event_time FROM " + events + " WHERE " + w + order + ") SELECT " + sizes + " FROM " + events +
			" WHERE " + w + " AND event_time >= (SELECT min(event_time) FROM page) AND (source_id, event_id) IN (SELECT source_id, event_id FROM page)" + order
	}
	filtered := where + " AND " + v.prop("element") + " = 'button.buy'"
	return []propQuery{
		{"summary-prop-filter", "SELECT uniqExact(source_id, event_id), uniqExactIf(" + visitor + ", " + visitor + " != '') FROM " + events + " WHERE " + filtered},
		{"breakdown-by-prop", "SELECT value, events, visitors FROM (SELECT " + v.prop("element") + " AS value, uniqExact(source_id, event_id) AS events, uniqExactIf(" +
			visitor + ", " + visitor + " != '') AS visitors FROM " + events + " WHERE " + where + " GROUP BY value) ORDER BY events DESC, value ASC LIMIT 10"},
		{"breakdown-by-numeric-prop", "SELECT value, count() AS events FROM (SELECT " + v.prop("price") + " AS value FROM " + events + " WHERE " + where +
			") GROUP BY value ORDER BY events DESC, value ASC LIMIT 10"},
		{"search-newest", search(where)},
		{"search-prop-filter", search(filtered)},
		{"read-page", "SELECT source_id, event_id, url, " + v.text("properties") + ", " + v.text("context") + " FROM " + events +
			" WHERE (source_id, event_id) IN (SELECT source_id, event_id FROM " + events + " WHERE " + where + order + ") LIMIT 1 BY source_id, event_id"},
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
