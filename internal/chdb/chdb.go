// Package chdb is a small lazy binding over chDB's C API (libchdb.so, the
// ClickHouse engine packaged as a shared library), called through
// github.com/ebitengine/purego instead of cgo.
//
// Importing the package does nothing. The library is loaded with dlopen on the
// first call to [Open] (or [Version]) and stays loaded for the life of the
// process; a process can load only one library file. Right after loading, and
// before the first connection, chDB is told not to install its process-wide
// signal handlers so that the Go runtime keeps handling SIGSEGV, SIGPROF,
// SIGURG and friends (nil-pointer panics stay recoverable, os/signal keeps
// working).
//
// A [DB] is a fixed-size pool of chDB connections to one data directory. The
// engine allows one data directory per process at a time: several DBs (and
// many connections) may share that directory, but a different directory can
// be opened only after every DB on the current one has been closed. The
// directory is also locked against other processes.
//
// Rows for an INSERT either follow the statement inline in [DB.Query]
// (text formats only: the engine treats the text as a query) or travel
// separately, length-delimited and binary-safe, through [DB.Insert] and
// [DB.InsertFunc] (chDB's streaming insert), which is also several times
// cheaper for large inserts.
//
// Queries cannot be cancelled once they have been handed to chDB: a context
// only bounds the wait for a free connection. Keep statements bounded with
// ClickHouse settings (max_execution_time and the like) where that matters.
package chdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// LibEnv names the environment variable of the library's path (read by
// trackstream's configuration; named here in error messages).
const LibEnv = "TRACKSTREAM_CHDB_LIB"

// fetchHint tells a user how to get the library; it ends every
// ErrLibraryMissing error.
const fetchHint = "run `go tool -modfile=tools/go.mod task chdb:fetch` (downloads libchdb from npm) or set " +
	LibEnv + " to the path of libchdb.so"

var (
	// ErrLibraryMissing is wrapped by the error Open and Version return
	// when libchdb.so does not exist or cannot be loaded. The error's
	// message names the path that was tried and how to get the library.
	ErrLibraryMissing = errors.New("chdb: library missing")

	// ErrClosed is returned by queries on a DB that has been closed.
	ErrClosed = errors.New("chdb: database is closed")
)

// QueryError is a failure reported by the engine for one statement: a
// syntax error, an unknown table, a type mismatch and so on. The statement
// text is deliberately not part of the error (it can be megabytes of
// inserted rows); callers add whatever context they need. Note that
// ClickHouse's own message may quote a short fragment of the statement near
// the point of failure.
type QueryError struct {
	// Message is the engine's message, e.g.
	// "Code: 60. DB::Exception: Unknown table ... (UNKNOWN_TABLE)",
	// with surrounding whitespace trimmed.
	Message string
}

func (e *QueryError) Error() string { return "chdb: " + e.Message }

// library holds the resolved entry points of a loaded libchdb.so.
//
// Handles crossing the boundary are typed unsafe.Pointer. They point into C
// memory, which the Go garbage collector ignores, and keeping them as
// unsafe.Pointer (rather than uintptr) lets us dereference them without
// uintptr-to-pointer conversions.
type library struct {
	path string

	setSignalHandlersEnabled func(enabled int32)
	version                  func() unsafe.Pointer
	connect                  func(argc int32, argv unsafe.Pointer) unsafe.Pointer
	closeConn                func(conn unsafe.Pointer)
	queryN                   func(conn, query unsafe.Pointer, queryLen uintptr, format unsafe.Pointer, formatLen uintptr) unsafe.Pointer
	queryWithParamsN         func(conn, query unsafe.Pointer, queryLen uintptr, format unsafe.Pointer, formatLen uintptr,
		names, nameLens, values, valueLens unsafe.Pointer, count uintptr) unsafe.Pointer
	resultBuffer  func(res unsafe.Pointer) unsafe.Pointer
	resultLength  func(res unsafe.Pointer) uintptr
	resultError   func(res unsafe.Pointer) unsafe.Pointer
	destroyResult func(res unsafe.Pointer)

	// The streaming insert: chdb_stream_insert_n opens an INSERT whose
	// data is then handed over with length-delimited appends.
	streamInsertN       func(conn, query unsafe.Pointer, queryLen uintptr, format unsafe.Pointer, formatLen uintptr) unsafe.Pointer
	streamAppend        func(stream, data unsafe.Pointer, n uintptr) int32
	streamDone          func(stream unsafe.Pointer) unsafe.Pointer
	streamInsertError   func(stream unsafe.Pointer) unsafe.Pointer
	streamCancelInsert  func(stream unsafe.Pointer)
	destroyInsertStream func(stream unsafe.Pointer)
}

// Process-wide state, all guarded by procMu: the loaded library and the data
// directory currently in use with the number of DBs open on it.
var (
	procMu     sync.Mutex
	loaded     *library
	activePath string
	activeDBs  int
)

// loadLocked dlopens libPath once per process. A failed load is not
// remembered, so a later call may succeed once the file has been fetched.
// procMu must be held.
func loadLocked(libPath string) (*library, error) {
	if libPath == "" {
		return nil, fmt.Errorf("%w: no library path given (%s is unset and the user cache directory is unknown); %s",
			ErrLibraryMissing, LibEnv, fetchHint)
	}
	abs, err := filepath.Abs(libPath)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot resolve %q: %v; %s", ErrLibraryMissing, libPath, err, fetchHint)
	}
	if loaded != nil {
		if loaded.path != abs {
			return nil, fmt.Errorf("chdb: %s is already loaded in this process; cannot load a second library %s",
				loaded.path, abs)
		}
		return loaded, nil
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("%w: %s: %v; %s", ErrLibraryMissing, abs, err, fetchHint)
	}
	// RTLD_LOCAL keeps the library's bundled C++ runtime out of the global
	// symbol namespace; RTLD_NOW reports unresolved symbols here rather than
	// at some later call.
	handle, err := purego.Dlopen(abs, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot load %s: %v; %s", ErrLibraryMissing, abs, err, fetchHint)
	}
	// A library that loaded but lacks a symbol is left loaded (unloading the
	// ClickHouse engine is not something to attempt), but not recorded as
	// usable.
	l := &library{path: abs}
	syms := []struct {
		name string
		fptr any
	}{
		{"chdb_set_signal_handlers_enabled", &l.setSignalHandlersEnabled},
		{"chdb_version", &l.version},
		{"chdb_connect", &l.connect},
		{"chdb_close_conn", &l.closeConn},
		{"chdb_query_n", &l.queryN},
		{"chdb_query_with_params_n", &l.queryWithParamsN},
		{"chdb_result_buffer", &l.resultBuffer},
		{"chdb_result_length", &l.resultLength},
		{"chdb_result_error", &l.resultError},
		{"chdb_destroy_query_result", &l.destroyResult},
		{"chdb_stream_insert_n", &l.streamInsertN},
		{"chdb_stream_append", &l.streamAppend},
		{"chdb_stream_done", &l.streamDone},
		{"chdb_stream_insert_error", &l.streamInsertError},
		{"chdb_stream_cancel_insert", &l.streamCancelInsert},
		{"chdb_destroy_insert_stream", &l.destroyInsertStream},
	}
	for _, s := range syms {
		addr, err := purego.Dlsym(handle, s.name)
		if err != nil || addr == 0 {
			return nil, fmt.Errorf("chdb: %s lacks symbol %s (wrong or too old chDB; %s): %v",
				abs, s.name, fetchHint, err)
		}
		purego.RegisterFunc(s.fptr, addr)
	}
	// Must precede the first chdb_connect: the engine installs its
	// handlers while booting, and those would replace the Go runtime's
	// (breaking nil-pointer recovery, preemption and os/signal).
	l.setSignalHandlersEnabled(0)
	loaded = l
	return l, nil
}

// Version loads the library at libPath (if it is not loaded yet) and returns
// the chDB version it reports, e.g. "26.7.3".
func Version(libPath string) (string, error) {
	procMu.Lock()
	l, err := loadLocked(libPath)
	procMu.Unlock()
	if err != nil {
		return "", err
	}
	return goString(l.version()), nil
}

// conn is one chDB connection. ptr is the chdb_connection* that
// chdb_connect returned; the chdb_connection handle the query functions take
// is the value stored at that address.
type conn struct {
	ptr unsafe.Pointer
}

func (c *conn) handle() unsafe.Pointer { return *(*unsafe.Pointer)(c.ptr) }

// DB is a pool of chDB connections to one data directory. It is safe for
// concurrent use; each connection runs one statement at a time, so the pool
// size bounds how many statements run in parallel.
type DB struct {
	lib   *library
	path  string
	size  int
	pool  chan *conn
	done  chan struct{} // closed when Close starts
	close sync.Once
}

// Open loads libchdb.so from libPath (once per process) and opens conns connections (conns >= 1) to the data
// directory dataPath, creating it with mode 0750 if needed. Each connection
// is made as `clickhouse --path=<dataPath>`.
//
// Only one data directory can be open per process at a time: opening a
// different one while a DB on the current one is still open fails. Opening
// the same directory again is fine and shares the engine.
//
// The first Open in a process boots the engine, which takes noticeably
// longer than later ones.
func Open(libPath, dataPath string, conns int) (*DB, error) {
	if conns < 1 {
		return nil, fmt.Errorf("chdb: need at least one connection, got %d", conns)
	}
	if dataPath == "" {
		return nil, errors.New("chdb: empty data path")
	}
	path, err := filepath.Abs(dataPath)
	if err != nil {
		return nil, fmt.Errorf("chdb: data path %q: %w", dataPath, err)
	}

	procMu.Lock()
	defer procMu.Unlock()

	l, err := loadLocked(libPath)
	if err != nil {
		return nil, err
	}
	if activeDBs > 0 && activePath != path {
		return nil, fmt.Errorf("chdb: cannot open %s: this process already has %s open, and chDB allows one data path per process; close it first",
			path, activePath)
	}
	if err := os.MkdirAll(path, 0o750); err != nil {
		return nil, fmt.Errorf("chdb: create data path: %w", err)
	}

	db := &DB{
		lib:  l,
		path: path,
		size: conns,
		pool: make(chan *conn, conns),
		done: make(chan struct{}),
	}
	for i := range conns {
		c, err := l.connectTo(path)
		if err != nil {
			for range i {
				l.closeConn((<-db.pool).ptr)
			}
			return nil, err
		}
		db.pool <- c
	}
	activePath = path
	activeDBs++
	return db, nil
}

// connectTo opens one connection as `clickhouse --path=<path>`.
func (l *library) connectTo(path string) (*conn, error) {
	args := []string{"clickhouse", "--path=" + path}

	// argv is a Go-allocated char*[] whose entries point into one
	// Go-allocated buffer of NUL-terminated strings. cgo's rules (which
	// purego calls follow) let C see Go memory during a call as long as any
	// Go pointers stored in it are pinned: the buffer is pinned, so argv may
	// hold pointers into it, and purego keeps argv itself alive for the
	// duration of the call. chdb_connect copies its arguments, so unpinning
	// afterwards is safe.
	var size int
	for _, a := range args {
		size += len(a) + 1
	}
	buf := make([]byte, 0, size)
	argv := make([]unsafe.Pointer, len(args)+1) // NULL-terminated like main's argv
	for i, a := range args {
		argv[i] = unsafe.Pointer(unsafe.SliceData(buf[len(buf):cap(buf)]))
		buf = append(buf, a...)
		buf = append(buf, 0)
	}
	var pin runtime.Pinner
	pin.Pin(unsafe.SliceData(buf))
	ptr := l.connect(int32(len(args)), unsafe.Pointer(unsafe.SliceData(argv)))
	pin.Unpin()
	runtime.KeepAlive(argv)
	runtime.KeepAlive(buf)

	if ptr == nil || *(*unsafe.Pointer)(ptr) == nil {
		// chDB reports the reason on stderr only.
		return nil, fmt.Errorf("chdb: connecting to %s failed (data path locked by another process, unreadable, or not a chDB data directory?)", path)
	}
	return &conn{ptr: ptr}, nil
}

// Path returns the absolute data directory of db.
func (db *DB) Path() string { return db.path }

// Query runs one statement and returns its complete output in the given
// ClickHouse output format ("JSONEachRow", "TabSeparated", "RawBLOB", ...).
// Data for an INSERT goes inline after the statement, e.g.
// "INSERT INTO t FORMAT JSONEachRow\n{...}\n{...}".
//
// ctx bounds only the wait for a free connection: once the statement has been
// handed to chDB it runs to completion, because the C API has no way to
// cancel it. A ctx that is already done makes Query return its error without
// running anything.
//
// A failed statement returns a *QueryError.
func (db *DB) Query(ctx context.Context, query, format string) ([]byte, error) {
	return db.run(ctx, query, format, nil)
}

// QueryParams is Query with server-side parameter binding: the statement
// refers to parameters as {name:Type} (e.g. "SELECT {id:UInt64}"), and
// params maps each name to its value in text form. Values never become part
// of the SQL text, so they need no quoting and cannot inject SQL; they are
// passed with explicit lengths, so they may contain NUL bytes.
//
// The engine parses each value as a field of type Type in ClickHouse's
// escaped (TabSeparated) text form. For String parameters this means a
// backslash starts an escape sequence (`\t`, `\n`, `\\`, `\x41`, ...) and a
// raw tab or newline is an error; pass arbitrary strings through
// [EscapeParam] to have them arrive unchanged.
func (db *DB) QueryParams(ctx context.Context, query, format string, params map[string]string) ([]byte, error) {
	if params == nil {
		params = map[string]string{}
	}
	return db.run(ctx, query, format, params)
}

// Exec runs a statement for its effect, discarding any output.
func (db *DB) Exec(ctx context.Context, query string) error {
	_, err := db.Query(ctx, query, "TabSeparated")
	return err
}

// acquire borrows a connection, waiting for one to be free.
func (db *DB) acquire(ctx context.Context) (*conn, error) {
	select {
	case <-db.done:
		return nil, ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("chdb: waiting for a connection: %w", err)
	}
	select {
	case c := <-db.pool:
		// The select picks at random among ready cases, so a connection
		// may have been taken while Close was starting.
		select {
		case <-db.done:
			db.pool <- c
			return nil, ErrClosed
		default:
			return c, nil
		}
	case <-db.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("chdb: waiting for a connection: %w", ctx.Err())
	}
}

// run executes query on a borrowed connection. params == nil selects
// chdb_query_n; otherwise chdb_query_with_params_n.
func (db *DB) run(ctx context.Context, query, format string, params map[string]string) ([]byte, error) {
	c, err := db.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { db.pool <- c }()

	l := db.lib
	q, qn := strData(query)
	f, fn := strData(format)
	var res unsafe.Pointer
	if params == nil {
		// The query and format bytes are passed in place: they hold no Go
		// pointers, stay reachable through query and format until the
		// KeepAlives below, and the Go heap does not move objects.
		res = l.queryN(c.handle(), q, qn, f, fn)
	} else {
		res = l.queryWithParams(c.handle(), q, qn, f, fn, params)
	}
	runtime.KeepAlive(query)
	runtime.KeepAlive(format)
	if res == nil {
		return nil, &QueryError{Message: "engine returned no result (connection closed or out of memory)"}
	}
	defer l.destroyResult(res)

	if msg := l.resultError(res); msg != nil {
		return nil, &QueryError{Message: strings.TrimSpace(goString(msg))}
	}
	n := l.resultLength(res)
	out := make([]byte, n)
	if n > 0 {
		// Copy out before chdb_destroy_query_result frees the buffer.
		copy(out, unsafe.Slice((*byte)(l.resultBuffer(res)), n))
	}
	return out, nil
}

// queryWithParams calls chdb_query_with_params_n.
//
// The C side wants four parallel arrays: char* names, size_t name lengths,
// char* values, size_t value lengths. They are built in Go memory:
//   - every name and value is copied into one []byte buffer, which is pinned
//     with a runtime.Pinner for the duration of the call;
//   - ptrs ([]unsafe.Pointer) holds pointers into that buffer: names in
//     ptrs[:n], values in ptrs[n:]. Go memory handed to C may contain Go
//     pointers only if they point to pinned memory, which they do (pinning
//     any address inside an object pins the whole object);
//   - lens ([]uintptr, which is size_t) holds the lengths the same way.
//
// ptrs and lens themselves are only reachable from C through the call's
// arguments, which purego keeps alive while the call runs; the KeepAlives
// make that explicit. The engine copies the parameters before returning, so
// nothing has to outlive the call. Strings are not NUL-terminated; the
// lengths make the call binary-safe.
func (l *library) queryWithParams(h, q unsafe.Pointer, qn uintptr, f unsafe.Pointer, fn uintptr, params map[string]string) unsafe.Pointer {
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range params {
			if !yield(k) {
				return
			}
		}
	})
	n := len(names)
	size := 1 // never empty, so there is always a valid address to point at
	for _, k := range names {
		size += len(k) + len(params[k])
	}
	buf := make([]byte, 0, size)
	ptrs := make([]unsafe.Pointer, 2*n+1)
	lens := make([]uintptr, 2*n+1)
	add := func(i int, s string) {
		ptrs[i] = unsafe.Pointer(unsafe.SliceData(buf[len(buf):cap(buf)]))
		lens[i] = uintptr(len(s))
		buf = append(buf, s...)
	}
	for i, k := range names {
		add(i, k)
		add(n+i, params[k])
	}

	var pin runtime.Pinner
	pin.Pin(unsafe.SliceData(buf))
	defer pin.Unpin()
	res := l.queryWithParamsN(h, q, qn, f, fn,
		unsafe.Pointer(&ptrs[0]), unsafe.Pointer(&lens[0]),
		unsafe.Pointer(&ptrs[n]), unsafe.Pointer(&lens[n]),
		uintptr(n))
	runtime.KeepAlive(ptrs)
	runtime.KeepAlive(lens)
	runtime.KeepAlive(buf)
	return res
}

// EscapeParam escapes s for use as a String value in QueryParams, so that it
// reaches the engine byte for byte. The engine reads parameter values in
// ClickHouse's escaped (TabSeparated) text form: a backslash starts an escape
// sequence, and a raw tab or newline ends the value early, which the engine
// rejects. EscapeParam therefore writes backslash, tab and newline as `\\`,
// `\t` and `\n`; every other byte, NUL included, is taken literally.
//
// Use it for String (and FixedString) parameters only: other types, such as
// Array(String), have their own literal syntax.
func EscapeParam(s string) string { return paramEscaper.Replace(s) }

var paramEscaper = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`)

// Close waits for running statements to finish, then closes every
// connection. It is idempotent and safe to call concurrently; statements
// started after Close return ErrClosed. Once every DB on a data directory is
// closed, the process may open a different one.
func (db *DB) Close() error {
	db.close.Do(func() {
		close(db.done)
		conns := make([]*conn, 0, db.size)
		for range db.size {
			conns = append(conns, <-db.pool)
		}
		procMu.Lock()
		defer procMu.Unlock()
		for _, c := range conns {
			db.lib.closeConn(c.ptr)
		}
		activeDBs--
		if activeDBs == 0 {
			activePath = ""
		}
	})
	return nil
}

// strData returns a C view of s: a pointer to its bytes and its length. An
// empty string yields a pointer to a static NUL byte rather than nil.
func strData(s string) (unsafe.Pointer, uintptr) {
	if len(s) == 0 {
		return unsafe.Pointer(&emptyCString[0]), 0
	}
	return unsafe.Pointer(unsafe.StringData(s)), uintptr(len(s))
}

var emptyCString = [1]byte{0}

// goString copies the NUL-terminated C string at p into Go memory.
func goString(p unsafe.Pointer) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(p, n)) != 0 {
		n++
	}
	return string(unsafe.Slice((*byte)(p), n))
}
