package check

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/config"
)

// adminPassword passes the product's password policy.
const adminPassword = "deploy-Check-7q!Vx2#Lm9"

// freeAddr returns a loopback address with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// chdbLib is where the embedded ClickHouse engine is, failing the test
// with how to get it when it is not there.
func chdbLib(t *testing.T) string {
	t.Helper()
	lib := os.Getenv(chdb.LibEnv)
	if lib == "" {
		lib = config.DefaultCHDBLib()
	}
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("libchdb.so is missing at %s (%v): run `go tool -modfile=tools/go.mod task chdb:fetch` or set %s", lib, err, chdb.LibEnv)
	}
	return lib
}

// node is a running `trackstream all` process.
type node struct {
	cmd                         *exec.Cmd
	out                         *bytes.Buffer
	exited                      chan error
	dataDir                     string
	opsURL, ingestURL, adminURL string
}

// startAll starts bin as `trackstream all` on free loopback ports and waits
// until /readyz answers 200.
func startAll(t *testing.T, bin, lib string) *node {
	t.Helper()
	n := &node{out: &bytes.Buffer{}, exited: make(chan error, 1), dataDir: t.TempDir()}
	ops, ing, adm := freeAddr(t), freeAddr(t), freeAddr(t)
	_, kport, _ := net.SplitHostPort(freeAddr(t))
	n.opsURL, n.ingestURL, n.adminURL = "http://"+ops, "http://"+ing, "http://"+adm
	n.cmd = exec.Command(bin, "all")
	n.cmd.Env = append(os.Environ(),
		"TRACKSTREAM_DATA_DIR="+n.dataDir,
		"TRACKSTREAM_OPS_ADDR="+ops,
		"TRACKSTREAM_INGEST_ADDR="+ing,
		"TRACKSTREAM_ADMIN_ADDR="+adm,
		"TRACKSTREAM_EMBEDDED_KAFKA_PORT="+kport,
		"TRACKSTREAM_CHDB_LIB="+lib,
		"TRACKSTREAM_ADMIN_PASSWORD="+adminPassword,
		"TRACKSTREAM_LOG_FORMAT=text",
		"TRACKSTREAM_PROCESSOR_BATCH_AGE=100ms",
	)
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start %s all: %v", bin, err)
	}
	go func() { n.exited <- n.cmd.Wait() }()
	t.Cleanup(func() {
		if n.cmd.ProcessState == nil {
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
	})
	n.poll(t, 120*time.Second, "GET /readyz = 200", func() (bool, error) {
		code, _, err := n.do(http.MethodGet, n.opsURL+"/readyz", "", "")
		return code == http.StatusOK, err
	})
	return n
}

// do makes one request with a bounded time.
func (n *node) do(method, url, token, body string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, b, err
}

// poll calls f until it reports done, the process exits or the deadline
// passes.
func (n *node) poll(t *testing.T, within time.Duration, what string, f func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-n.exited:
			n.exited <- err
			t.Fatalf("trackstream exited (%v) while waiting for %s; output:\n%s", err, what, n.out.String())
		default:
		}
		done, err := f()
		if done {
			return
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no %s within %s (last error: %v); output:\n%s", what, within, last, n.out.String())
}

// stop sends SIGTERM and waits for a clean exit.
func (n *node) stop(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-n.exited:
		if err != nil {
			t.Fatalf("trackstream did not stop cleanly on SIGTERM: %v; output:\n%s", err, n.out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("trackstream did not stop within 60 s of SIGTERM; output:\n%s", n.out.String())
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
	code, body, err := n.do(http.MethodGet, n.opsURL+"/metrics", "", "")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", code, err)
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
	code, body, err := n.do(http.MethodPost, n.adminURL+"/api/v1/auth/login", "", `{"username":"admin","password":"`+adminPassword+`"}`)
	if err != nil || code != http.StatusOK {
		t.Fatalf("admin login: %d %v %s", code, err, body)
	}
	var login struct{ Token string }
	if err := json.Unmarshal(body, &login); err != nil || login.Token == "" {
		t.Fatalf("admin login answer %s: %v", body, err)
	}
	code, body, err = n.do(http.MethodPost, n.adminURL+"/api/v1/sources", login.Token, `{"name":"deploy check"}`)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create source: %d %v %s", code, err, body)
	}
	var src struct{ ID string }
	if err := json.Unmarshal(body, &src); err != nil || src.ID == "" {
		t.Fatalf("create source answer %s: %v", body, err)
	}
	payload := fmt.Sprintf(`{"source":{"id":%q},"session":{"id":"s-1"},"profile":{"id":"p-1"},
		"events":[{"id":"deploy-check-1","type":"page-view"},{"type":"not a valid type!"}]}`, src.ID)
	n.poll(t, 30*time.Second, "ingest accepting the new source", func() (bool, error) {
		code, body, err := n.do(http.MethodPost, n.ingestURL+"/track", "", payload)
		if err != nil {
			return false, err
		}
		return code == http.StatusOK, fmt.Errorf("POST /track: %d %s", code, body)
	})
	if code, _, err := n.do(http.MethodPost, n.ingestURL+"/track", "", `{"source":{"id":"src_unknown"},"events":[{"type":"x"}]}`); err != nil || code != http.StatusUnauthorized {
		t.Errorf("POST /track with an unknown source: %d %v; want 401", code, err)
	}
	n.poll(t, 60*time.Second, "the event stored (trackstream_processor_rows_inserted_total >= 1)", func() (bool, error) {
		f := n.scrape(t)["trackstream_processor_rows_inserted_total"]
		if f == nil || len(f.GetMetric()) == 0 {
			return false, nil
		}
		return f.GetMetric()[0].GetCounter().GetValue() >= 1, nil
	})
}

// TestMetricNamesExist starts the binary built like the Dockerfile builds
// it, exercises it, scrapes /metrics and checks that every metric a
// dashboard panel or a rule uses is exposed. It then stops the process and
// runs the business dashboard's SQL on the ClickHouse data it left.
func TestMetricNamesExist(t *testing.T) {
	lib := chdbLib(t)
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
	deadline := time.Now().Add(45 * time.Second)
	for {
		exposed = exposedNames(n.scrape(t))
		missing = missing[:0]
		for name, where := range refs {
			if !exposed[name] {
				missing = append(missing, fmt.Sprintf("%s (used by %s)", name, strings.Join(where, "; ")))
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("metric not exposed by a running trackstream: %s", m)
	}
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
