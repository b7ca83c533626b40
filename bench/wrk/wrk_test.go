package wrk

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trackstream/trackstream/bench/loadgen"
)

// collector answers like ingest: 200 with "accepted" = the events of a
// valid Tracardi body, 400 otherwise; acceptOnly, when set, caps the
// accepted count to make partial answers.
func collector(t *testing.T, acceptOnly int, served *atomic.Int64) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, "bad gzip", http.StatusBadRequest)
				return
			}
			body = zr
		}
		var req struct {
			Source struct{ ID string }
			Events []struct{ ID, Type string }
		}
		if err := json.NewDecoder(body).Decode(&req); err != nil || r.URL.Path != "/track" || req.Source.ID != "src_wrk" || len(req.Events) == 0 {
			http.Error(w, fmt.Sprintf("bad request: %v", err), http.StatusBadRequest)
			return
		}
		n := len(req.Events)
		if acceptOnly > 0 {
			n = min(n, acceptOnly)
		}
		served.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"accepted":%d,"rejected":[]}`, n)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRunCountsAcknowledgedEvents(t *testing.T) {
	if _, err := Available(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		batch      int
		gzip       bool
		acceptOnly int
		count      bool
	}{
		{"single", 1, false, 0, true},
		{"batch gzip", 5, true, 0, true},
		{"partial answers", 5, false, 3, true},
		{"wrk's counts only", 5, false, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var served atomic.Int64
			srv := collector(t, tc.acceptOnly, &served)
			res, err := Run(context.Background(), Options{
				Target: strings.TrimPrefix(srv.URL, "http://"), Gen: loadgen.GenConfig{SourceID: "src_wrk", EventsPerRequest: tc.batch},
				Gzip: tc.gzip, Conns: 4, Threads: 1, Duration: 2 * time.Second, Warmup: time.Second, WorkDir: t.TempDir(),
				CountAnswers: tc.count,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests == 0 || res.Status[400] != 0 || res.Status[0] != 0 || res.Status[StatusAnyError] != 0 {
				t.Fatalf("requests %d, answers %v (%s)", res.Requests, res.Status, res.FirstError)
			}
			if res.Requests > served.Load() {
				t.Fatalf("wrk counted %d requests, the server answered %d", res.Requests, served.Load())
			}
			if tc.acceptOnly > 0 {
				if res.Events != 0 || res.Status[-1] != res.Requests || res.OK != 0 {
					t.Fatalf("partial answers: events %d, ok %d, answers %v", res.Events, res.OK, res.Status)
				}
				return
			}
			if tc.count == (res.Status[StatusAnyOK] != 0) || (tc.count && res.Status[200] != res.Requests) {
				t.Fatalf("answers counted %v: %v", tc.count, res.Status)
			}
			if res.Events != res.Requests*int64(tc.batch) || res.OK != res.Requests || res.TotalAcked <= res.Events {
				t.Fatalf("events %d (total %d) for %d requests of %d", res.Events, res.TotalAcked, res.Requests, tc.batch)
			}
			if res.BodyBytes < 100 || res.Latency.P50 <= 0 || res.Latency.P99 < res.Latency.P50 || res.ClientCPU <= 0 {
				t.Fatalf("body %.0f B, latency %+v, wrk cpu %.3f s", res.BodyBytes, res.Latency, res.ClientCPU)
			}
		})
	}
}
