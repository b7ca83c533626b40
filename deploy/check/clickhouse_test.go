package check

import (
	"context"
	"strings"
	"testing"

	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/schemas"
)

// checkClusterSchemaParses renders trackstream's migrations in the cluster
// variant the cluster overlay selects (TRACKSTREAM_CLICKHOUSE_CLUSTER)
// and runs every statement through ClickHouse's own parser (formatQuery) on
// the embedded engine: ON CLUSTER and Replicated engines need a real
// cluster with Keeper to run, but not to parse.
func checkClusterSchemaParses(ctx context.Context, t *testing.T, db *chdb.DB) {
	t.Helper()
	migs, err := schemas.MigrationsFor(schemas.Variant{Cluster: "trackstream"})
	if err != nil {
		t.Fatalf("render the cluster migrations: %v", err)
	}
	var n int
	for _, m := range migs {
		for i, stmt := range m.Statements {
			n++
			if _, err := db.QueryParams(ctx, "SELECT formatQuery({q:String})", "TabSeparated", map[string]string{"q": escapeParam(stmt)}); err != nil {
				t.Errorf("cluster migration %04d_%s statement %d does not parse as ClickHouse SQL: %v\n%s", m.Version, m.Name, i+1, err, stmt)
			}
		}
	}
	if n == 0 {
		t.Error("the cluster variant renders no statements")
	}
	t.Logf("%d cluster migration statements parsed by ClickHouse", n)
}

// escapeParam escapes a query parameter value the way ClickHouse reads
// them (TabSeparated escaping), so a multi-line statement arrives whole.
func escapeParam(v string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\t", `\t`, "\r", `\r`).Replace(v)
}
