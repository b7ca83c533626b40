package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// provisionedDatasources reads the datasource uids Grafana is provisioned
// with.
func provisionedDatasources(t *testing.T, root string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "provisioning", "datasources", "trackstream.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var prov struct {
		APIVersion  int `json:"apiVersion"`
		Datasources []struct {
			Name           string            `json:"name"`
			Type           string            `json:"type"`
			UID            string            `json:"uid"`
			Access         string            `json:"access"`
			URL            string            `json:"url"`
			IsDefault      bool              `json:"isDefault"`
			Editable       bool              `json:"editable"`
			JSONData       map[string]any    `json:"jsonData"`
			SecureJSONData map[string]string `json:"secureJsonData"`
		} `json:"datasources"`
	}
	if err := yaml.UnmarshalStrict(b, &prov); err != nil {
		t.Fatalf("datasource provisioning: %v", err)
	}
	out := map[string]string{}
	for _, d := range prov.Datasources {
		out[d.UID] = d.Type
	}
	return out
}

// TestDashboards checks every provisioned dashboard: unique uids and panel
// ids, panels inside the 24-column grid, every query on a provisioned
// datasource of the right type, every PromQL expression parseable by
// Prometheus' parser once Grafana's variables are replaced, and every SQL
// query free of unknown macros. (TestMetricNamesExist checks the metric
// names, and runs the SQL.)
func TestDashboards(t *testing.T) {
	root := mustRoot(t)
	ds := provisionedDatasources(t, root)
	dashboards, err := loadDashboards(filepath.Join(root, "deploy", "grafana", "dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	p := promParser()
	uids := map[string]string{}
	var prom, sql int
	for _, d := range dashboards {
		name := filepath.Base(d.File)
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: uid %q title %q; both are needed", name, d.UID, d.Title)
		}
		if prev, dup := uids[d.UID]; dup {
			t.Errorf("%s: uid %s already used by %s", name, d.UID, prev)
		}
		uids[d.UID] = name
		ids := map[int]bool{}
		for _, pn := range d.allPanels() {
			where := name + " panel " + pn.Title
			if ids[pn.ID] {
				t.Errorf("%s: id %d used twice", where, pn.ID)
			}
			ids[pn.ID] = true
			if pn.GridPos.W <= 0 || pn.GridPos.X+pn.GridPos.W > 24 {
				t.Errorf("%s: gridPos x=%d w=%d is outside the 24-column grid", where, pn.GridPos.X, pn.GridPos.W)
			}
			if pn.Type == "row" {
				continue
			}
			if len(pn.Targets) == 0 {
				t.Errorf("%s: no queries", where)
			}
			for _, tg := range pn.Targets {
				src := tg.Datasource
				if src == nil {
					src = pn.Datasource
				}
				if src == nil || ds[src.UID] == "" {
					t.Errorf("%s query %s: datasource %+v is not provisioned (have %v)", where, tg.RefID, src, ds)
					continue
				}
				if ds[src.UID] != src.Type {
					t.Errorf("%s query %s: datasource %s has type %s, panel says %s", where, tg.RefID, src.UID, ds[src.UID], src.Type)
				}
				switch {
				case src.Type == "prometheus":
					prom++
					if _, err := p.ParseExpr(grafanaToPromQL(tg.Expr)); err != nil {
						t.Errorf("%s query %s: %v\n%s", where, tg.RefID, err, tg.Expr)
					}
				case strings.Contains(src.Type, "clickhouse"):
					sql++
					if _, err := expandSQLMacros(tg.RawSQL); err != nil || tg.RawSQL == "" {
						t.Errorf("%s query %s: %v (sql %q)", where, tg.RefID, err, tg.RawSQL)
					}
				}
			}
		}
	}
	if len(dashboards) < 5 || prom < 40 || sql < 5 {
		t.Errorf("%d dashboards, %d PromQL and %d SQL queries; expected ingest, processor, Kafka client, Go runtime and business dashboards", len(dashboards), prom, sql)
	}
}

func TestGrafanaToPromQL(t *testing.T) {
	for in, want := range map[string]string{
		`rate(x[$__rate_interval])`:                           `rate(x[5m])`,
		`go_goroutines{job=~"$job", instance=~"${instance}"}`: `go_goroutines{job=~".*", instance=~".*"}`,
		`sum(x{a=~"${job:regex}"})`:                           `sum(x{a=~".*"})`,
	} {
		if got := grafanaToPromQL(in); got != want {
			t.Errorf("grafanaToPromQL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMetricNames(t *testing.T) {
	p := promParser()
	for _, tc := range []struct {
		expr    string
		want    string
		wantErr bool
	}{
		{`histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m])))`, "a_bucket", false},
		{`sum(rate(a_total[5m])) / sum(rate(b_total{x="y"}[5m]))`, "a_total b_total", false},
		{`{__name__="c"}`, "c", false},
		{`{job="x"}`, "", true},
		{`sum(rate(a[5m])`, "", true},
	} {
		got, err := metricNames(p, tc.expr)
		if (err != nil) != tc.wantErr {
			t.Errorf("metricNames(%q) error %v, want error %v", tc.expr, err, tc.wantErr)
			continue
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("metricNames(%q) = %v, want %s", tc.expr, got, tc.want)
		}
	}
}

func TestExpandSQLMacros(t *testing.T) {
	got, err := expandSQLMacros("SELECT $__timeInterval(event_time) AS time FROM t WHERE $__timeFilter(event_time)")
	if err != nil || strings.Contains(got, "$") || !strings.Contains(got, "toStartOfInterval(toDateTime(event_time)") {
		t.Errorf("expandSQLMacros = %q, %v", got, err)
	}
	if _, err := expandSQLMacros("SELECT 1 WHERE $__unknown(x)"); err == nil {
		t.Error("an unknown macro was accepted")
	}
}
