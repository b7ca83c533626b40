package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/internal/testkit/client"
)

// NPMClientsEnv names the directory where `task npm:clients` installed the
// client SDKs of testdata/npm (its node_modules and the package-lock.json
// it was installed from). By default it is the user cache's
// trackstream/npm-clients/<first 12 hex digits of the lock's SHA-256>.
const NPMClientsEnv = "TRACKSTREAM_NPM_CLIENTS"

// npmClients returns the installed SDKs' node_modules. Missing or stale
// (another package-lock.json) fails the test, saying how to install them:
// `task test` always does.
func npmClients(t *testing.T) string {
	t.Helper()
	want, err := os.ReadFile("testdata/npm/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv(NPMClientsEnv)
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(want)
		dir = filepath.Join(cache, "trackstream", "npm-clients", hex.EncodeToString(sum[:6]))
	}
	got, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the client SDKs of testdata/npm are not installed in %s (or are from another package-lock.json): run `go tool -modfile=tools/go.mod task npm:clients` or set %s", dir, NPMClientsEnv)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is needed to run the client SDKs: %v (.ci/run installs it with npm)", err)
	}
	return filepath.Join(dir, "node_modules")
}

// TestNodeSDKs runs the Node.js SDKs as they come from npm against the all
// role, each with a server source of its own: every event they send is
// stored exactly once.
func TestNodeSDKs(t *testing.T) {
	testkit.SkipShort(t)
	modules := npmClients(t)
	cfg := testConfig(t, t.TempDir())
	n, _ := startAll(t, cfg)
	adm := login(t, n.adminAddr)
	const events = 45 // 5 batches of 10 with the identify call

	for _, sdk := range []string{"rudderstack", "segment"} {
		t.Run(sdk, func(t *testing.T) {
			var src struct {
				ID       string
				WriteKey string `json:"write_key"`
			}
			if err := adm.Call(t.Context(), "POST", "/api/v1/sources", map[string]string{"name": sdk + " backend", "kind": "server"}, &src); err != nil {
				t.Fatal(err)
			}
			// The new source reaches ingest through the sources topic.
			testkit.Eventually(t, 10*time.Second, "ingest knows the new source", func() bool {
				req, _ := http.NewRequest("POST", "http://"+n.ingestAddr+"/v1/batch", bytes.NewReader([]byte(`{}`)))
				req.SetBasicAuth(src.WriteKey, "")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == http.StatusBadRequest // known key, empty batch
			})

			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "npm", sdk+".js"))
			cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "COLLECTOR=http://"+n.ingestAddr, "WRITE_KEY="+src.WriteKey, fmt.Sprintf("EVENTS=%d", events))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("node %s.js: %v\n%s", sdk, err, out)
			}
			testkit.Eventually(t, 30*time.Second, fmt.Sprintf("%d events stored", events+1), func() bool {
				return count(t, adm, src.ID) == events+1
			})
			checkSDKEvents(t, adm, src.ID, events, true, "identify")
		})
	}
}

// checkSDKEvents lists a source's events through the admin API and wants
// track calls n = 0..tracks-1 and each of the other calls once, every
// event listed once; withUser also wants a user id on every event (the
// Node SDKs identify before they send).
func checkSDKEvents(t *testing.T, adm *client.Admin, source string, tracks int, withUser bool, calls ...string) {
	t.Helper()
	var out struct {
		Events []struct {
			EventID    string `json:"event_id"`
			Type       string
			UserID     string `json:"user_id"`
			Properties map[string]any
		}
	}
	listEvents(t, adm, source, &out)
	seen := map[string]int{}
	ids := map[string]bool{}
	for _, e := range out.Events {
		key := e.Type
		if e.Type == "Order Completed" {
			key = fmt.Sprint("n=", e.Properties["n"])
		}
		seen[key]++
		if ids[e.EventID] {
			t.Errorf("event %s listed twice", e.EventID)
		}
		if withUser && e.UserID == "" {
			t.Errorf("event %s listed without its user id", e.EventID)
		}
		ids[e.EventID] = true
	}
	want := map[string]int{}
	for _, c := range calls {
		want[c] = 1
	}
	for i := range tracks {
		want[fmt.Sprint("n=", i)] = 1
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("events stored %v, want each of %v once", seen, want)
	}
}
