package chdb

// The engine allows one data directory per process at a time, so no test
// here calls t.Parallel: each opens its own t.TempDir(), and closes its DB
// (t.Cleanup) before the next test opens another directory.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/config"
)

// testLib is the library the tests load: TRACKSTREAM_CHDB_LIB, else where
// `task chdb:fetch` puts it. When it is missing, Open fails the test with
// ErrLibraryMissing and how to get it; `task test` always fetches it, so
// that is a setup error, never a reason to pass. (These tests cannot use
// internal/testkit, which imports this package.)
func testLib() string {
	if p := os.Getenv(LibEnv); p != "" {
		return p
	}
	return config.DefaultCHDBLib()
}

// openTest opens a DB with conns connections on a fresh directory and closes
// it when the test ends.
func openTest(tb testing.TB, conns int) *DB {
	tb.Helper()
	return openAt(tb, tb.TempDir(), conns)
}

func openAt(tb testing.TB, dir string, conns int) *DB {
	tb.Helper()
	db, err := Open(testLib(), dir, conns)
	if err != nil {
		tb.Fatalf("Open(%s): %v", dir, err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

func query(tb testing.TB, db *DB, q, format string) string {
	tb.Helper()
	out, err := db.Query(context.Background(), q, format)
	if err != nil {
		tb.Fatalf("Query(%.80q): %v", q, err)
	}
	return string(out)
}

func TestOpenMissingLibrary(t *testing.T) {
	// This test needs no library. When an earlier test (or -count=2) has
	// already loaded the real one, any other path would be refused as a
	// second library instead; hide it for the duration of the test so the
	// first-load path is what runs. Nothing here can load a library.
	procMu.Lock()
	saved := loaded
	loaded = nil
	procMu.Unlock()
	t.Cleanup(func() {
		procMu.Lock()
		loaded = saved
		procMu.Unlock()
	})

	missing := filepath.Join(t.TempDir(), "nowhere", "libchdb.so")
	db, err := Open(missing, t.TempDir(), 1)
	if err == nil {
		db.Close()
		t.Fatal("Open with a missing library succeeded")
	}
	if !errors.Is(err, ErrLibraryMissing) {
		t.Fatalf("error %v does not wrap ErrLibraryMissing", err)
	}
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{
		missing,
		"run `go tool -modfile=tools/go.mod task chdb:fetch` (downloads libchdb from npm) or set TRACKSTREAM_CHDB_LIB to the path of libchdb.so",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}

	// A file that exists but is not a loadable library is reported the
	// same way.
	bogus := filepath.Join(t.TempDir(), "libchdb.so")
	if err := os.WriteFile(bogus, []byte("not an ELF file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Version(bogus); !errors.Is(err, ErrLibraryMissing) || !strings.Contains(err.Error(), bogus) {
		t.Errorf("Version(garbage file) = %v, want ErrLibraryMissing naming %s", err, bogus)
	}

	if _, err := Open("", t.TempDir(), 1); !errors.Is(err, ErrLibraryMissing) {
		t.Errorf("Open with empty library path = %v, want ErrLibraryMissing", err)
	}
}

func TestOpenRejectsBadArguments(t *testing.T) {
	if _, err := Open("unused", t.TempDir(), 0); err == nil {
		t.Error("Open with 0 connections succeeded")
	}
	if _, err := Open("unused", "", 1); err == nil {
		t.Error("Open with empty data path succeeded")
	}
}

func TestVersion(t *testing.T) {
	lib := testLib()
	db := openTest(t, 1)
	if got := query(t, db, "SELECT version()", "TabSeparatedRaw"); !strings.HasPrefix(got, "26.") {
		t.Errorf("SELECT version() = %q, want 26.*", got)
	}
	v, err := Version(lib)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v, "26.") {
		t.Errorf("Version() = %q, want 26.*", v)
	}
}

func TestOpenCreatesDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	openAt(t, dir, 1)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm()&0o027 != 0 {
		t.Errorf("data dir mode = %v, want a directory no wider than 0750", fi.Mode())
	}
}

func TestSecondLibraryPathRejected(t *testing.T) {
	openTest(t, 1) // makes sure the real library is the loaded one
	other := filepath.Join(t.TempDir(), "libchdb.so")
	_, err := Version(other)
	if err == nil || !strings.Contains(err.Error(), "already loaded") {
		t.Fatalf("Version(%s) = %v, want an 'already loaded' error", other, err)
	}
}

func TestQueryError(t *testing.T) {
	db := openTest(t, 1)
	_, err := db.Query(context.Background(), "SELECT * FROM no_such_table_qe", "TabSeparated")
	var qe *QueryError
	if !errors.As(err, &qe) {
		t.Fatalf("error %v (%T) is not a *QueryError", err, err)
	}
	if !strings.Contains(qe.Message, "UNKNOWN_TABLE") || !strings.Contains(qe.Message, "Code: 60") {
		t.Errorf("message %q lacks the ClickHouse error", qe.Message)
	}
	if qe.Message != strings.TrimSpace(qe.Message) {
		t.Errorf("message %q is not trimmed", qe.Message)
	}
	if err.Error() != "chdb: "+qe.Message {
		t.Errorf("Error() = %q", err.Error())
	}

	_, err = db.Query(context.Background(), "SELEC 1", "TabSeparated")
	if !errors.As(err, &qe) || !strings.Contains(qe.Message, "SYNTAX_ERROR") {
		t.Errorf("syntax error gave %v", err)
	}

	// The connection is still usable after failures.
	if got := query(t, db, "SELECT 1", "TabSeparated"); got != "1\n" {
		t.Errorf("SELECT 1 after errors = %q", got)
	}
}

func TestQueryParamsHostileValue(t *testing.T) {
	db := openTest(t, 1)
	ctx := context.Background()
	const hostile = `x' OR 1=1 --`

	out, err := db.QueryParams(ctx, "SELECT {v:String}", "RawBLOB", map[string]string{"v": hostile})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != hostile {
		t.Errorf("round trip = %q, want %q", out, hostile)
	}

	// Interpolated into the SQL, the value would match every row.
	out, err = db.QueryParams(ctx,
		"SELECT count() FROM numbers(10) WHERE toString(number) = {v:String}",
		"TabSeparated", map[string]string{"v": hostile})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "0\n" {
		t.Errorf("count with hostile value = %q, want 0", out)
	}

	// Several parameters of different types bind by name.
	out, err = db.QueryParams(ctx, "SELECT {a:UInt64} + {b:UInt64}, {s:String}", "TabSeparated",
		map[string]string{"b": "2", "a": "40", "s": "ok"})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "42\tok\n" {
		t.Errorf("multi-param result = %q", out)
	}

	// A missing parameter is an engine error, not a crash.
	_, err = db.QueryParams(ctx, "SELECT {missing:String}", "TabSeparated", nil)
	var qe *QueryError
	if !errors.As(err, &qe) {
		t.Errorf("missing parameter gave %v, want *QueryError", err)
	}
}

func TestQueryParamsBinarySafe(t *testing.T) {
	db := openTest(t, 1)
	ctx := context.Background()
	for _, v := range []string{"a\x00b", "\x00", "", "\xff\xfe non-UTF-8 \x00 tail"} {
		out, err := db.QueryParams(ctx, "SELECT {v:String}", "RawBLOB", map[string]string{"v": v})
		if err != nil {
			t.Fatalf("value %q: %v", v, err)
		}
		if string(out) != v {
			t.Errorf("round trip of %q = %q", v, out)
		}
		out, err = db.QueryParams(ctx, "SELECT length({v:String})", "TabSeparated", map[string]string{"v": v})
		if err != nil {
			t.Fatal(err)
		}
		if want := strconv.Itoa(len(v)) + "\n"; string(out) != want {
			t.Errorf("length(%q) = %q, want %q", v, out, want)
		}
	}
}

func TestEscapeParam(t *testing.T) {
	db := openTest(t, 1)
	ctx := context.Background()
	v := "tab\tnewline\nbackslash\\ \\t \\x41 trailing\\"

	// Unescaped, the engine reads the value in escaped text form and
	// either rejects it or changes it.
	if out, err := db.QueryParams(ctx, "SELECT {v:String}", "RawBLOB", map[string]string{"v": v}); err == nil && string(out) == v {
		t.Errorf("raw value round-tripped; EscapeParam's premise no longer holds")
	}

	out, err := db.QueryParams(ctx, "SELECT {v:String}", "RawBLOB", map[string]string{"v": EscapeParam(v)})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != v {
		t.Errorf("escaped round trip = %q, want %q", out, v)
	}
}

func TestPersistenceAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const rows = 10_000

	db, err := Open(testLib(), dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Exec(ctx, "CREATE DATABASE ts ENGINE = Atomic"); err != nil {
		t.Fatal(err)
	}
	if got := query(t, db, "SELECT engine FROM system.databases WHERE name = 'ts'", "TabSeparated"); got != "Atomic\n" {
		t.Errorf("database engine = %q, want Atomic", got)
	}
	if err := db.Exec(ctx, `CREATE TABLE ts.events (
		id UInt64, name String, ver UInt32
	) ENGINE = ReplacingMergeTree(ver) ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Query(ctx, insertStatement("ts.events", 0, rows), "TabSeparated"); err != nil {
		t.Fatal(err)
	}
	if got := query(t, db, "SELECT count(), sum(id) FROM ts.events FINAL", "TabSeparated"); got != fmt.Sprintf("%d\t%d\n", rows, rows*(rows-1)/2) {
		t.Fatalf("count, sum after insert = %q", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Query(ctx, "SELECT 1", "TabSeparated"); !errors.Is(err, ErrClosed) {
		t.Errorf("Query after Close = %v, want ErrClosed", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}

	// Same path, same process, after every connection was closed.
	db2 := openAt(t, dir, 1)
	if got := query(t, db2, "SELECT count(), sum(id), max(name) FROM ts.events FINAL", "TabSeparated"); got != fmt.Sprintf("%d\t%d\tname-%d\n", rows, rows*(rows-1)/2, 9999) {
		t.Errorf("after reopen: %q", got)
	}
	// ReplacingMergeTree keeps the highest version per key.
	if err := db2.Exec(ctx, "INSERT INTO ts.events VALUES (1, 'replaced', 2)"); err != nil {
		t.Fatal(err)
	}
	if got := query(t, db2, "SELECT count(), any(name) FROM ts.events FINAL WHERE id = 1", "TabSeparated"); got != "1\treplaced\n" {
		t.Errorf("after replacing insert: %q", got)
	}
}

// insertStatement returns an INSERT ... FORMAT JSONEachRow statement with
// n rows whose ids start at first.
func insertStatement(table string, first, n int) string {
	var b strings.Builder
	b.Grow(40 + n*48)
	b.WriteString("INSERT INTO " + table + " FORMAT JSONEachRow\n")
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"name":"name-%04d","ver":1}`+"\n", i, i)
	}
	return b.String()
}

func TestOtherDataPathWhileOpen(t *testing.T) {
	db := openTest(t, 1)
	other := t.TempDir()
	if db2, err := Open(testLib(), other, 1); err == nil {
		db2.Close()
		t.Fatal("opening a second data path while one is open succeeded")
	} else if !strings.Contains(err.Error(), db.Path()) {
		t.Errorf("error %q does not name the open path %s", err, db.Path())
	}
	// A second DB on the same path shares the engine.
	db3 := openAt(t, db.Path(), 1)
	if got := query(t, db3, "SELECT 1", "TabSeparated"); got != "1\n" {
		t.Errorf("second DB on same path: %q", got)
	}
}

func TestParallelQueriesWithGC(t *testing.T) {
	db := openTest(t, 4)
	ctx := context.Background()
	const workers, perWorker = 4, 25

	stop := make(chan struct{})
	var gcWG sync.WaitGroup
	gcWG.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	})

	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				n := 100_000 + w*1000 + i
				out, err := db.QueryParams(ctx, "SELECT sum(number), {tag:String} FROM numbers({n:UInt64})", "TabSeparated",
					map[string]string{"n": strconv.Itoa(n), "tag": fmt.Sprintf("w%d-%d", w, i)})
				if err != nil {
					errs <- err
					return
				}
				want := fmt.Sprintf("%d\tw%d-%d\n", n*(n-1)/2, w, i)
				if string(out) != want {
					errs <- fmt.Errorf("worker %d query %d: got %q, want %q", w, i, out, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	gcWG.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(db.pool); got != 4 {
		t.Errorf("%d connections back in the pool, want 4", got)
	}
}

//go:noinline
func derefNil(p *int) int { return *p }

// TestGoSignalHandlingIntact checks that chDB did not take over the
// process's signal handlers: a nil dereference is still a recoverable Go
// panic, and os/signal still receives signals.
func TestGoSignalHandlingIntact(t *testing.T) {
	db := openTest(t, 2)
	// Keep the engine busy in the background while signals arrive.
	done := make(chan error, 1)
	go func() {
		_, err := db.Query(context.Background(), "SELECT count() FROM numbers(200000000)", "TabSeparated")
		done <- err
	}()
	query(t, db, "SELECT 1", "TabSeparated")

	recovered := func() (err error) {
		defer func() {
			r := recover()
			re, ok := r.(runtime.Error)
			if !ok {
				err = fmt.Errorf("recovered %v (%T), want a runtime.Error", r, r)
				return
			}
			if !strings.Contains(re.Error(), "nil pointer dereference") {
				err = fmt.Errorf("recovered %q, want a nil pointer dereference", re)
			}
		}()
		derefNil(nil)
		return errors.New("nil dereference did not panic")
	}
	for range 3 {
		if err := recovered(); err != nil {
			t.Fatal(err)
		}
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sigs:
	case <-time.After(5 * time.Second):
		t.Error("SIGUSR1 was not delivered to os/signal")
	}

	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := recovered(); err != nil {
		t.Fatal(err)
	}
}

// holdConnection takes db's only free connection, as a running statement
// does, until the returned release is called (also at cleanup).
func holdConnection(t *testing.T, db *DB) (release func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := db.acquire(ctx)
	if err != nil {
		t.Fatalf("take a connection: %v", err)
	}
	var once sync.Once
	release = func() { once.Do(func() { db.pool <- c }) }
	t.Cleanup(release)
	return release
}

func TestContextWhileAllConnectionsBusy(t *testing.T) {
	db := openTest(t, 1)
	release := holdConnection(t, db)

	// The connection stays taken until release below, so these errors
	// cannot have come from waiting for it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.Query(ctx, "SELECT 1", "TabSeparated"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: got %v, want context.Canceled", err)
	}
	tctx, tcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer tcancel()
	if _, err := db.Query(tctx, "SELECT 1", "TabSeparated"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ctx timing out while waiting: got %v, want context.DeadlineExceeded", err)
	}

	release()
	if got := query(t, db, "SELECT 2", "TabSeparated"); got != "2\n" {
		t.Errorf("after the connection came back: %q", got)
	}
}

// Close waits for the statements running on its connections: it returns
// only after the last connection is back, and a statement running while
// it waits completes normally.
func TestCloseWaitsForRunningQuery(t *testing.T) {
	db, err := Open(testLib(), t.TempDir(), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	type answer struct {
		out []byte
		err error
	}
	res := make(chan answer, 1)
	go func() {
		out, err := db.Query(context.Background(), "SELECT sleep(0.5), 'done'", "TabSeparated")
		res <- answer{out, err}
	}()
	// The test holds the other connection, so it decides when the last
	// statement ends.
	release := holdConnection(t, db)
	// Close must not start before the statement has its connection (it
	// would be refused with ErrClosed instead).
	for deadline := time.Now().Add(30 * time.Second); len(db.pool) != 0 && len(res) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the statement did not take a connection within 30 s")
		}
	}

	var released atomic.Bool
	closed := make(chan error, 1)
	go func() {
		err := db.Close()
		if !released.Load() {
			err = errors.Join(err, errors.New("Close returned while a connection was still in use"))
		}
		closed <- err
	}()
	select {
	case <-db.done:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not start within 30 s")
	}
	if _, err := db.Query(context.Background(), "SELECT 1", "TabSeparated"); !errors.Is(err, ErrClosed) {
		t.Errorf("Query while Close waits = %v, want ErrClosed", err)
	}
	select {
	case a := <-res:
		if a.err != nil || string(a.out) != "0\tdone\n" {
			t.Errorf("statement running while Close waits: %q, %v; want it to complete", a.out, a.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the statement running while Close waits did not finish within 30 s")
	}
	released.Store(true)
	release()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return within 30 s of the last connection coming back")
	}
	if err := db.Exec(context.Background(), "SELECT 1"); !errors.Is(err, ErrClosed) {
		t.Errorf("Exec after Close = %v, want ErrClosed", err)
	}
}

func BenchmarkInsertJSONEachRow(b *testing.B) {
	db := openTest(b, 1)
	ctx := context.Background()
	// Plain MergeTree: every op inserts the same ids, which a
	// ReplacingMergeTree would merge away, spoiling the final count.
	if err := db.Exec(ctx, "CREATE TABLE bench (id UInt64, name String, ver UInt32) ENGINE = MergeTree ORDER BY id"); err != nil {
		b.Fatal(err)
	}
	const rows = 10_000
	stmt := insertStatement("bench", 0, rows)
	b.SetBytes(int64(len(stmt)))
	b.ReportAllocs()
	ops := 0
	for b.Loop() {
		if err := db.Exec(ctx, stmt); err != nil {
			b.Fatal(err)
		}
		ops++
	}
	b.ReportMetric(float64(rows*ops)/b.Elapsed().Seconds(), "rows/s")
	out, err := db.Query(ctx, "SELECT count() FROM bench", "TabSeparated")
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(out, []byte(strconv.Itoa(rows*ops)+"\n")) {
		b.Errorf("count() = %q, want %d", out, rows*ops)
	}
}
