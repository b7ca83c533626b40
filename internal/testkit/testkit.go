// Package testkit is what trackstream's tests share: where the embedded
// ClickHouse library is, polling a condition with a deadline, free loopback
// addresses, logs that show only when a test fails, and the -short tier's
// skip. Only tests (and the helpers of tests) import it; product code never
// does.
package testkit

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/chdb"
	"github.com/trackstream/trackstream/internal/config"
)

// CHDBLib returns the libchdb.so tests use: TRACKSTREAM_CHDB_LIB, else
// where `task chdb:fetch` puts it. A missing library fails the test (never
// skips it): `task test` always fetches it, so its absence is a setup error
// that must not pass as green.
func CHDBLib(t testing.TB) string {
	t.Helper()
	lib, err := FindCHDBLib()
	if err != nil {
		t.Fatal(err)
	}
	return lib
}

// FindCHDBLib is CHDBLib for a TestMain, which has no test to fail: the
// error says where the library was looked for and how to get it.
func FindCHDBLib() (string, error) {
	lib := os.Getenv(chdb.LibEnv)
	if lib == "" {
		lib = config.DefaultCHDBLib()
	}
	if _, err := os.Stat(lib); err != nil {
		return "", fmt.Errorf("these tests need libchdb.so (the embedded ClickHouse engine), not found at %s (%v): "+
			"run `go tool -modfile=tools/go.mod task chdb:fetch` or set %s to its path", lib, err, chdb.LibEnv)
	}
	return lib, nil
}

// Poll intervals: quick at first for in-process conditions, then slower
// so a wait on another process does not spin.
const (
	firstPoll = 5 * time.Millisecond
	maxPoll   = 200 * time.Millisecond
)

// Poll calls cond until it returns true. It returns an error once within
// has passed, and ctx's error if ctx ends first.
func Poll(ctx context.Context, within time.Duration, cond func(context.Context) bool) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	wait := firstPoll
	for !cond(ctx) {
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("timed out after %s", within)
			}
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, maxPoll)
	}
	return nil
}

// Eventually calls cond until it returns true. When within has passed, or
// the test's context ends, it fails the test naming what it waited for,
// followed by each detail (e.g. the last value seen, a process's output).
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	err := Poll(t.Context(), within, func(context.Context) bool { return cond() })
	if err == nil {
		return
	}
	msg := fmt.Sprintf("%v waiting for %s", err, what)
	for _, d := range detail {
		msg += "; " + d()
	}
	t.Fatal(msg)
}

// FreeAddr returns 127.0.0.1:<port> with a port nothing listened on a
// moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free loopback port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// SkipShort skips a test under `go test -short`: one that starts real
// processes, kills them, or takes long. The fast tier leaves it to the
// full suite.
func SkipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("slow: skipped by -short, runs in `task test`")
	}
}

// Buffer collects output written from several goroutines (a child
// process, a logger) while the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Logger returns a text logger at level whose output is shown (t.Log)
// only if the test fails. Components still logging after the test ended
// (clients closing in the background) write into the void.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	t.Helper()
	buf := &Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level}))
}
