package storeresearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/testkit"
)

// BenchmarkPropertiesColumnType is the evidence behind the properties and
// context column types (docs/clickhouse-schema.md): it stores the same
// realistic properties as a JSON column, as Map(String, String) and as a
// plain String, and reports insert rows/s, bytes per row on disk after
// OPTIMIZE FINAL and the time of a typical property filter.
//
//	go test ./storeresearch -run '^$' -bench PropertiesColumnType -benchtime 1x
func BenchmarkPropertiesColumnType(b *testing.B) {
	const rows = 200_000
	db, err := chdb.Open(testkit.CHDBLib(b), filepath.Join(b.TempDir(), "ch"), 1)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if err := db.Exec(ctx, "CREATE DATABASE IF NOT EXISTS ev ENGINE = Atomic"); err != nil {
		b.Fatal(err)
	}
	runs := 0 // the benchmark function may be called more than once
	for _, kind := range []struct{ name, typ, filter string }{
		{"json", "JSON", "properties.plan::String = 'pro' AND properties.price::Float64 > 50"},
		{"map", "Map(LowCardinality(String), String)", "properties['plan'] = 'pro' AND toFloat64OrZero(properties['price']) > 50"},
		{"string", "String", "JSONExtractString(properties, 'plan') = 'pro' AND JSONExtractFloat(properties, 'price') > 50"},
	} {
		b.Run(kind.name, func(b *testing.B) {
			runs++
			table := fmt.Sprintf("ev.p_%s_%d", kind.name, runs)
			ddl := fmt.Sprintf("CREATE TABLE %s (source_id LowCardinality(String), event_id String, event_time DateTime64(3, 'UTC'), properties %s CODEC(ZSTD(3))) ENGINE = MergeTree ORDER BY (source_id, event_id)", table, kind.typ)
			if kind.name == "json" {
				ddl = strings.Replace(ddl, " CODEC(ZSTD(3))", "", 1)
			}
			if err := db.Exec(ctx, ddl); err != nil {
				b.Fatal(err)
			}
			var buf bytes.Buffer
			fmt.Fprintf(&buf, "INSERT INTO %s FORMAT JSONEachRow\n", table)
			for i := range rows {
				props := realisticProperties(i)
				var v any = json.RawMessage(props)
				switch kind.name {
				case "map":
					v = flatten(props)
				case "string":
					v = props
				}
				line, _ := json.Marshal(map[string]any{"source_id": fmt.Sprintf("src_%d", i%5), "event_id": fmt.Sprintf("e-%08d", i),
					"event_time": time.Unix(1_760_000_000+int64(i), 0).UTC().Format(chTimeLayout), "properties": v})
				buf.Write(line)
				buf.WriteByte('\n')
			}
			b.ResetTimer()
			start := time.Now()
			if _, err := db.Query(ctx, buf.String(), "TabSeparated"); err != nil {
				b.Fatal(err)
			}
			took := time.Since(start)
			b.StopTimer()
			if err := db.Exec(ctx, "OPTIMIZE TABLE "+table+" FINAL"); err != nil {
				b.Fatal(err)
			}
			out, err := db.Query(ctx, "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = 'ev' AND table = '"+strings.TrimPrefix(table, "ev.")+"' AND active", "TabSeparated")
			if err != nil {
				b.Fatal(err)
			}
			var onDisk float64
			fmt.Sscan(string(out), &onDisk)
			qstart := time.Now()
			const queries = 5
			var matched string
			for range queries {
				out, err := db.Query(ctx, "SELECT count() FROM "+table+" WHERE source_id = 'src_1' AND "+kind.filter, "TabSeparated")
				if err != nil {
					b.Fatal(err)
				}
				matched = strings.TrimSpace(string(out))
			}
			b.ReportMetric(float64(rows)/took.Seconds(), "rows/s")
			b.ReportMetric(onDisk/rows, "disk-bytes/row")
			b.ReportMetric(float64(time.Since(qstart).Microseconds())/queries/1000, "filter-ms")
			b.Logf("%s: %d rows inserted in %s, %.0f bytes on disk, filter matched %s", kind.name, rows, took, onDisk, matched)
		})
	}
}

func realisticProperties(i int) string {
	plans := []string{"free", "pro", "team", "enterprise"}
	return fmt.Sprintf(`{"title":"Product %d - Example Shop","path":"/products/%d","price":%d.%02d,"plan":"%s","items":%d,"logged_in":%t,"category":"cat-%d","ab_variant":"%c"}`,
		i%5000, i%5000, i%200, i%100, plans[i%4], i%7, i%3 == 0, i%40, 'A'+rune(i%3))
}

func flatten(props string) map[string]string {
	var m map[string]json.RawMessage
	_ = json.Unmarshal([]byte(props), &m)
	out := make(map[string]string, len(m))
	for k, v := range m {
		var s string
		if json.Unmarshal(v, &s) == nil {
			out[k] = s
		} else {
			out[k] = string(v)
		}
	}
	return out
}
