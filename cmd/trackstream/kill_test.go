package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// child is trackstream all running as a separate process.
type child struct {
	cmd                    *exec.Cmd
	out                    *lockedBuffer
	ingest, admin, opsAddr string
}

func startChild(t *testing.T, dataDir string, ports [4]string, batchAge string) *child {
	t.Helper()
	c := &child{out: &lockedBuffer{}, ingest: "127.0.0.1:" + ports[0], admin: "127.0.0.1:" + ports[1], opsAddr: "127.0.0.1:" + ports[2]}
	c.cmd = exec.Command(os.Args[0], "all")
	c.cmd.Env = []string{
		"TRACKSTREAM_TEST_RUN_MAIN=1", "HOME=" + os.Getenv("HOME"), "PATH=" + os.Getenv("PATH"),
		"TRACKSTREAM_DATA_DIR=" + dataDir, "TRACKSTREAM_CHDB_LIB=" + chdbLib(t),
		"TRACKSTREAM_ADMIN_PASSWORD=" + testPassword, "TRACKSTREAM_LOG_LEVEL=warn",
		"TRACKSTREAM_INGEST_ADDR=" + c.ingest, "TRACKSTREAM_ADMIN_ADDR=" + c.admin, "TRACKSTREAM_OPS_ADDR=" + c.opsAddr,
		"TRACKSTREAM_EMBEDDED_KAFKA_PORT=" + ports[3],
		"TRACKSTREAM_PROCESSOR_BATCH_AGE=" + batchAge, "TRACKSTREAM_INGEST_DRAIN_DELAY=0s",
	}
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
	})
	waitFor(t, 60*time.Second, "child ready", func() bool {
		resp, err := http.Get("http://" + c.opsAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return c
}

// kill -9 after the 2xx loses nothing: events Kafka acknowledged but the
// processor had not stored yet are stored after a restart (G1, G7).
func TestKill9LosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	ports := [4]string{freePort(t), freePort(t), freePort(t), freePort(t)}
	// A long batch age keeps acknowledged events out of ClickHouse until
	// the kill.
	c := startChild(t, dir, ports, "60s")
	token := login(t, "http://"+c.admin)
	code, body := call(t, "POST", "http://"+c.admin+"/api/v1/sources", token, `{"name":"kill"}`)
	if code != http.StatusCreated {
		t.Fatalf("create source: %d %s", code, body)
	}
	var src struct{ ID string }
	mustJSON(t, body, &src)
	requests := make([]string, 5)
	for r := range requests {
		requests[r] = trackBody(src.ID, r, 100)
	}
	waitFor(t, 10*time.Second, "ingest knows the source", func() bool {
		code, _ := call(t, "POST", "http://"+c.ingest+"/track", "", requests[0])
		return code != http.StatusUnauthorized
	})
	sendAll(t, "http://"+c.ingest+"/track", requests)
	if n := count(t, "http://"+c.admin, token, src.ID); n == 500 {
		t.Fatalf("all 500 events stored before the kill; the test would prove nothing")
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()

	c2 := startChild(t, dir, ports, "200ms")
	token2 := login(t, "http://"+c2.admin)
	waitFor(t, 60*time.Second, "500 events after kill -9 and restart", func() bool {
		n := count(t, "http://"+c2.admin, token2, src.ID)
		if n > 500 {
			t.Fatalf("%d events counted, more than the 500 sent", n)
		}
		return n == 500
	}, c2.out)
	// SIGTERM stops cleanly: the child flushes, commits and exits 0.
	if err := c2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c2.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("SIGTERM exit: %v\n%s", err, c2.out.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("no exit 40 s after SIGTERM\n%s", c2.out.String())
	}
	if strings.Contains(c2.out.String(), `"level":"ERROR"`) {
		t.Fatalf("errors logged during the run:\n%s", c2.out.String())
	}
}
