package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/internal/testkit/proc"
)

// startChild runs this test binary as `trackstream all` (see TestMain) in
// a separate process on dataDir and fixed loopback addresses, so a restart
// finds the same data and ports.
func startChild(t *testing.T, dataDir, batchAge string) (p *proc.Process, ingestAddr, adminAddr string) {
	t.Helper()
	ingestAddr, adminAddr, ops := testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t)
	p, err := proc.Start(t.Context(), proc.Spec{
		Name: "trackstream all", Bin: os.Args[0], Role: "all", OpsAddr: ops,
		Env: []string{
			"TRACKSTREAM_TEST_RUN_MAIN=1",
			"TRACKSTREAM_DATA_DIR=" + dataDir, "TRACKSTREAM_CHDB_LIB=" + testkit.CHDBLib(t),
			"TRACKSTREAM_ADMIN_PASSWORD=" + testPassword, "TRACKSTREAM_LOG_LEVEL=warn",
			"TRACKSTREAM_INGEST_ADDR=" + ingestAddr, "TRACKSTREAM_ADMIN_ADDR=" + adminAddr, "TRACKSTREAM_OPS_ADDR=" + ops,
			"TRACKSTREAM_EMBEDDED_KAFKA_PORT=" + freePort(t),
			"TRACKSTREAM_PROCESSOR_BATCH_AGE=" + batchAge, "TRACKSTREAM_INGEST_DRAIN_DELAY=0s",
		},
	}, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	return p, ingestAddr, adminAddr
}

// kill -9 after the 2xx loses nothing: events Kafka acknowledged but the
// processor had not stored yet are stored after a restart (G1, G7).
func TestKill9LosesNothingAcknowledged(t *testing.T) {
	testkit.SkipShort(t)
	// A long batch age keeps acknowledged events out of ClickHouse until
	// the kill.
	c, ingestAddr, adminAddr := startChild(t, filepath.Join(t.TempDir(), "data"), "60s")
	adm := login(t, adminAddr)
	src := createSource(t, adm, "kill")
	requests := make([]string, 5)
	for r := range requests {
		requests[r] = trackBody(src, r, 100)
	}
	waitSourceKnown(t, ingestAddr, src)
	sendAll(t, "http://"+ingestAddr+"/track", requests)
	if n := count(t, adm, src); n == 500 {
		t.Fatalf("all 500 events stored before the kill; the test would prove nothing")
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}

	if err := c.Restart(t.Context(), 60*time.Second, "TRACKSTREAM_PROCESSOR_BATCH_AGE=200ms"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, "500 events after kill -9 and restart", func() bool {
		n := count(t, adm, src)
		if n > 500 {
			t.Fatalf("%d events counted, more than the 500 sent", n)
		}
		return n == 500
	}, func() string { return c.Tail(40) })
	// SIGTERM stops cleanly: the child flushes, commits and exits 0.
	if err := c.Terminate(40 * time.Second); err != nil {
		t.Fatalf("SIGTERM exit: %v\n%s", err, c.Output())
	}
	if strings.Contains(c.Output(), `"level":"ERROR"`) {
		t.Fatalf("errors logged during the run:\n%s", c.Output())
	}
}
