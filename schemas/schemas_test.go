package schemas

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestEmbeddedMigrationsParse(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 {
		t.Fatalf("want migrations starting at version 1, got %+v", ms)
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].Version <= ms[i-1].Version {
			t.Fatalf("migrations out of order: %d after %d", ms[i].Version, ms[i-1].Version)
		}
	}
	for _, m := range ms {
		for _, s := range m.Statements {
			if !strings.Contains(s, Database+".") {
				t.Errorf("migration %d statement does not name the %s database: %.60s", m.Version, Database, s)
			}
		}
	}
}

func TestParseRefusesBadNames(t *testing.T) {
	for name, file := range map[string]string{
		"no version":    "events.sql",
		"zero version":  "0000_events.sql",
		"no name":       "0001.sql",
		"letters first": "abc_events.sql",
	} {
		fsys := fstest.MapFS{"m/" + file: {Data: []byte("SELECT 1;")}}
		if _, err := parse(fsys, "m"); err == nil {
			t.Errorf("%s: %s accepted", name, file)
		}
	}
	dup := fstest.MapFS{"m/0001_a.sql": {Data: []byte("SELECT 1;")}, "m/0001_b.sql": {Data: []byte("SELECT 2;")}}
	if _, err := parse(dup, "m"); err == nil || !strings.Contains(err.Error(), "share version 1") {
		t.Errorf("duplicate versions: got %v", err)
	}
}

func TestSplitStatements(t *testing.T) {
	got := splitStatements("-- comment\nCREATE TABLE a\n(x UInt8);\n\nINSERT INTO a VALUES (1);\nSELECT 1")
	want := []string{"CREATE TABLE a\n(x UInt8)", "INSERT INTO a VALUES (1)", "SELECT 1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// The cluster variant cannot run here (no ClickHouse cluster); its DDL is
// checked as strings.
func TestClusterVariant(t *testing.T) {
	single, err := MigrationsFor(Variant{})
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := MigrationsFor(Variant{Cluster: "events_cluster"})
	if err != nil {
		t.Fatal(err)
	}
	join := func(ms []Migration) string {
		var all []string
		for _, m := range ms {
			all = append(all, m.Statements...)
		}
		return strings.Join(all, ";\n")
	}
	s, c := join(single), join(cluster)
	for _, leftover := range []string{"${", "@cluster-only"} {
		if strings.Contains(s, leftover) || strings.Contains(c, leftover) {
			t.Errorf("rendered migrations still contain %q", leftover)
		}
	}
	for _, absent := range []string{"ON CLUSTER", "Replicated", "Distributed", "_local"} {
		if strings.Contains(s, absent) {
			t.Errorf("single-server migrations contain %q", absent)
		}
	}
	for _, want := range []string{
		"CREATE TABLE IF NOT EXISTS trackstream.events_local ON CLUSTER 'events_cluster'",
		"ENGINE = ReplicatedReplacingMergeTree",
		"CREATE TABLE IF NOT EXISTS trackstream.events ON CLUSTER 'events_cluster'\nAS trackstream.events_local\nENGINE = Distributed('events_cluster', trackstream, events_local, cityHash64(source_id, event_id))",
		"ENGINE = ReplicatedAggregatingMergeTree",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.events_hourly_mv_local ON CLUSTER 'events_cluster'\nTO trackstream.events_hourly_local",
		"FROM trackstream.events_local",
		"ENGINE = Distributed('events_cluster', trackstream, events_hourly_local, cityHash64(source_id))",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.counts_hourly_mv_local ON CLUSTER 'events_cluster'\nTO trackstream.counts_hourly_local",
		"ENGINE = ReplicatedSummingMergeTree",
		"ENGINE = Distributed('events_cluster', trackstream, event_ids_local, cityHash64(source_id, event_id))",
		"DROP TABLE IF EXISTS trackstream.events_hourly_local ON CLUSTER 'events_cluster'",
		"ENGINE = Distributed('events_cluster', trackstream, copy_horizon_local, rand())",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.counts_minutely_mv_local ON CLUSTER 'events_cluster'\nTO trackstream.counts_minutely_local",
		"ENGINE = Distributed('events_cluster', trackstream, counts_minutely_local, cityHash64(source_id))",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.counts_by_type_hourly_mv_local ON CLUSTER 'events_cluster'\nTO trackstream.counts_by_type_hourly_local",
		"ENGINE = Distributed('events_cluster', trackstream, counts_by_type_hourly_local, cityHash64(source_id))",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.counts_by_type_daily_mv_local ON CLUSTER 'events_cluster'\nTO trackstream.counts_by_type_daily_local",
		"ENGINE = Distributed('events_cluster', trackstream, counts_by_type_daily_local, cityHash64(source_id))",
		"INSERT INTO trackstream.counts_by_type_hourly\nSELECT source_id, hour, event_type, is_bot, events, visitors\nFROM trackstream.counts_hourly\n",
		"DROP TABLE IF EXISTS trackstream.counts_hourly ON CLUSTER 'events_cluster'",
		"DROP VIEW IF EXISTS trackstream.counts_daily_mv_local ON CLUSTER 'events_cluster'",
		"DROP TABLE IF EXISTS trackstream.counts_daily_local ON CLUSTER 'events_cluster'",
		// A view on a rollup reads the shard's local rollup.
		"CREATE MATERIALIZED VIEW IF NOT EXISTS trackstream.counts_minute_all_types_mv_local ON CLUSTER 'events_cluster'\nTO trackstream.counts_minute_all_types_local",
		"FROM trackstream.counts_minute_local\nARRAY JOIN",
		"ENGINE = Distributed('events_cluster', trackstream, counts_minute_all_types_local, cityHash64(source_id))",
	} {
		if !strings.Contains(c, want) {
			t.Errorf("cluster migrations lack %q", want)
		}
	}
	for _, want := range []string{
		"CREATE TABLE IF NOT EXISTS trackstream.events \n(",
		"ENGINE = ReplacingMergeTree",
		"non_replicated_deduplication_window",
		"TO trackstream.events_hourly\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("single-server migrations lack %q", want)
		}
	}
	if len(join(cluster[:1])) <= len(join(single[:1])) {
		t.Error("the cluster variant of migration 1 has no extra Distributed table")
	}
	for _, bad := range []string{"x'; DROP", "a b", ""} {
		if bad == "" {
			continue
		}
		if _, err := MigrationsFor(Variant{Cluster: bad}); err == nil {
			t.Errorf("cluster name %q accepted", bad)
		}
	}
}
