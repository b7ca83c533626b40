package check

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/internal/testkit/client"
	"github.com/trackstream/trackstream/internal/testkit/proc"
)

// adminPassword passes the product's password policy.
const adminPassword = "deploy-Check-7q!Vx2#Lm9"

// node is a running `trackstream all` process.
type node struct {
	p                            *proc.Process
	dataDir                      string
	opsAddr, ingestURL, adminURL string
}

// startAll starts bin as `trackstream all` on free loopback ports and waits
// until /readyz answers 200.
func startAll(t *testing.T, bin, lib string) *node {
	t.Helper()
	n := &node{dataDir: t.TempDir(), opsAddr: testkit.FreeAddr(t)}
	ing, adm := testkit.FreeAddr(t), testkit.FreeAddr(t)
	_, kport, _ := net.SplitHostPort(testkit.FreeAddr(t))
	n.ingestURL, n.adminURL = "http://"+ing, "http://"+adm
	p, err := proc.Start(t.Context(), proc.Spec{
		Name: "trackstream all", Bin: bin, Role: "all", OpsAddr: n.opsAddr,
		Env: []string{
			"TRACKSTREAM_DATA_DIR=" + n.dataDir,
			"TRACKSTREAM_OPS_ADDR=" + n.opsAddr,
			"TRACKSTREAM_INGEST_ADDR=" + ing,
			"TRACKSTREAM_ADMIN_ADDR=" + adm,
			"TRACKSTREAM_EMBEDDED_KAFKA_PORT=" + kport,
			"TRACKSTREAM_CHDB_LIB=" + lib,
			"TRACKSTREAM_ADMIN_PASSWORD=" + adminPassword,
			"TRACKSTREAM_LOG_FORMAT=text",
			"TRACKSTREAM_PROCESSOR_BATCH_AGE=100ms",
		},
	}, 120*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	n.p = p
	return n
}

// stop sends SIGTERM and waits for a clean exit.
func (n *node) stop(t *testing.T) {
	t.Helper()
	if err := n.p.Terminate(60 * time.Second); err != nil {
		t.Fatalf("trackstream did not stop cleanly on SIGTERM: %v; output:\n%s", err, n.p.Output())
	}
}

// exposedNames returns the series names a /metrics text exposes:
// histograms as _bucket/_sum/_count, summaries as the name and _sum/_count.
func exposedNames(fams map[string]*dto.MetricFamily) map[string]bool {
	out := map[string]bool{}
	for name, f := range fams {
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			out[name], out[name+"_sum"], out[name+"_count"] = true, true, true
		default:
			out[name] = true
		}
	}
	return out
}

// scrape reads and parses /metrics.
func (n *node) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.opsAddr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return mustParseExposition(t, string(body))
}

// mustParseExposition parses the Prometheus text format.
func mustParseExposition(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// exercise makes the lazily created series exist: an admin login, a
// source, an accepted and a rejected event, an unknown source.
func (n *node) exercise(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	adm, err := client.Login(ctx, n.adminURL, "admin", adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	src, err := adm.CreateSource(ctx, "deploy check")
	if err != nil {
		t.Fatal(err)
	}
	if err := client.WaitSourceKnown(ctx, n.ingestURL, src, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	payload := fmt.Sprintf(`{"source":{"id":%q},"session":{"id":"s-1"},"profile":{"id":"p-1"},
		"events":[{"id":"deploy-check-1","type":"page-view"},{"type":"not a valid type!"}]}`, src)
	if code, body, err := client.Post(ctx, n.ingestURL+"/track", []byte(payload)); err != nil || code != http.StatusOK {
		t.Fatalf("POST /track: %d %v %s", code, err, body)
	}
	if code, _, err := client.Post(ctx, n.ingestURL+"/track", []byte(`{"source":{"id":"src_unknown"},"events":[{"type":"x"}]}`)); err != nil || code != http.StatusUnauthorized {
		t.Errorf("POST /track with an unknown source: %d %v; want 401", code, err)
	}
	testkit.Eventually(t, 60*time.Second, "the event stored (trackstream_processor_rows_inserted_total >= 1)", func() bool {
		v, err := client.Metric(ctx, n.opsAddr, "trackstream_processor_rows_inserted_total")
		return err == nil && v >= 1
	}, func() string { return n.p.Tail(40) })
}

// TestMetricNamesExist starts the binary built like the Dockerfile builds
// it, exercises it, scrapes /metrics and checks that every metric a
// dashboard panel or a rule uses is exposed. It then stops the process and
// runs the business dashboard's SQL on the ClickHouse data it left.
func TestMetricNamesExist(t *testing.T) {
	lib := testkit.CHDBLib(t)
	root := mustRoot(t)
	dashboards, err := loadDashboards(filepath.Join(root, "deploy", "grafana", "dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := loadRules(filepath.Join(root, "deploy", "prometheus", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	refs, err := referencedMetrics(dashboards, rules)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) < 20 {
		t.Fatalf("only %d metric names referenced by dashboards and rules; the extraction is broken", len(refs))
	}

	bin := buildLikeDockerfile(t, "deploy-check")
	n := startAll(t, bin, lib)
	n.exercise(t)

	// Some series appear only after a while (consumer lag is refreshed
	// every processor-lag-interval, 10 s by default): scrape until every
	// name is there or the deadline passes, then report what is missing.
	var (
		exposed map[string]bool
		missing []string
	)
	testkit.Eventually(t, 45*time.Second, "every metric the dashboards and rules use to be exposed", func() bool {
		exposed = exposedNames(n.scrape(t))
		missing = missing[:0]
		for name, where := range refs {
			if !exposed[name] {
				missing = append(missing, fmt.Sprintf("%s (used by %s)", name, strings.Join(where, "; ")))
			}
		}
		return len(missing) == 0
	}, func() string {
		sort.Strings(missing)
		return "not exposed by a running trackstream:\n" + strings.Join(missing, "\n")
	})
	t.Logf("%d metric names referenced by dashboards and rules, checked against %d exposed", len(refs), len(exposed))

	n.stop(t)
	checkBusinessSQL(t, lib, filepath.Join(n.dataDir, "clickhouse"), dashboards)
}

// checkBusinessSQL runs every ClickHouse query of the dashboards, macros
// expanded, on the data the process stored (one event), and the cluster
// schema through ClickHouse's own parser.
func checkBusinessSQL(t *testing.T, lib, path string, dashboards []dashboard) {
	t.Helper()
	db, err := chdb.Open(lib, path, 1)
	if err != nil {
		t.Fatalf("open the stopped node's ClickHouse data: %v", err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var queries int
	for _, d := range dashboards {
		for _, p := range d.allPanels() {
			for _, tg := range p.Targets {
				if tg.RawSQL == "" {
					continue
				}
				queries++
				sql, err := expandSQLMacros(tg.RawSQL)
				if err != nil {
					t.Errorf("%s panel %q: %v", filepath.Base(d.File), p.Title, err)
					continue
				}
				out, err := db.Query(ctx, sql, "JSONEachRow")
				if err != nil {
					t.Errorf("%s panel %q: ClickHouse refused the query: %v\n%s", filepath.Base(d.File), p.Title, err, sql)
					continue
				}
				if p.Title == "Events" {
					// ClickHouse quotes 64-bit integers in JSON by default.
					var row map[string]any
					if err := json.Unmarshal(bytes.TrimSpace(out), &row); err != nil {
						t.Errorf("panel Events answered %q: %v", out, err)
					} else if v, _ := strconv.Atoi(fmt.Sprint(row["events"])); v != 1 {
						t.Errorf("panel Events counts %v events; the check stored exactly 1", row["events"])
					}
				}
			}
		}
	}
	if queries == 0 {
		t.Error("no dashboard has a ClickHouse query; the business dashboard is missing")
	}
	checkClusterSchemaParses(ctx, t, db)
}
