package chdb

import (
	"context"
	"runtime"
	"strings"
	"unsafe"
)

// InsertPieceBytes is the size of the pieces handed to the engine: Insert
// appends data in pieces of at most this size, and InsertFunc's fill
// should stop adding rows once its piece is this long. The engine parses
// each append as it arrives, so bounded pieces keep both sides' buffering
// small.
const InsertPieceBytes = 4 << 20

// Insert runs an INSERT whose rows travel separately from the statement,
// through chDB's streaming insert: query is the statement without a FORMAT
// clause and without data (e.g. "INSERT INTO db.t (a, b) SETTINGS ..."),
// format names the format of data ("RowBinary", "JSONEachRow", "Native",
// ...). data is passed with explicit lengths, so any bytes are safe,
// unlike data written inline after a statement given to [DB.Query].
//
// The appended pieces form one insert: the engine cuts blocks only at
// max_insert_block_size rows (about a million by default), so an insert
// below that is stored as one block, deduplicated as a whole by its
// insert_deduplication_token, and not stored at all when the engine
// refuses any of its data.
//
// ctx bounds only the wait for a free connection, as for Query. A
// statement or data the engine refuses returns a *QueryError.
func (db *DB) Insert(ctx context.Context, query, format string, data []byte) error {
	off := 0
	return db.InsertFunc(ctx, query, format, func(buf []byte) ([]byte, bool) {
		n := min(len(data)-off, InsertPieceBytes)
		buf = append(buf, data[off:off+n]...)
		off += n
		return buf, off < len(data)
	})
}

// InsertFunc is [DB.Insert] with the data produced piece by piece, so that
// a large insert needs only one piece in memory: fill appends the next
// piece to buf, which it gets empty, and reports whether more pieces
// follow. A piece should end at the first row boundary at or after
// InsertPieceBytes (pieces are simply concatenated, so a row may also
// span two). fill is called on the calling goroutine and buf is
// reused for the next piece once the engine has taken the current one.
func (db *DB) InsertFunc(ctx context.Context, query, format string, fill func(buf []byte) ([]byte, bool)) error {
	c, err := db.acquire(ctx)
	if err != nil {
		return err
	}
	defer func() { db.pool <- c }()
	return db.lib.insert(c.handle(), query, format, fill)
}

// insert drives one streaming insert on connection h: open, append the
// pieces fill makes, finish. Every exit destroys the stream; an exit
// before a successful finish cancels it first.
//
// A piece is passed in place like a query's text: it holds no Go
// pointers, and it stays reachable (and unchanged) until the append that
// reads it has returned; the engine copies or consumes the bytes during
// the call.
func (l *library) insert(h unsafe.Pointer, query, format string, fill func([]byte) ([]byte, bool)) error {
	q, qn := strData(query)
	f, fn := strData(format)
	stream := l.streamInsertN(h, q, qn, f, fn)
	runtime.KeepAlive(query)
	runtime.KeepAlive(format)
	if stream == nil {
		return &QueryError{Message: "engine returned no insert stream (connection closed or out of memory)"}
	}
	defer l.destroyInsertStream(stream)
	if msg := l.streamInsertError(stream); msg != nil {
		return &QueryError{Message: strings.TrimSpace(goString(msg))}
	}
	buf := make([]byte, 0, InsertPieceBytes+InsertPieceBytes/4)
	for more := true; more; {
		buf, more = fill(buf[:0])
		if len(buf) == 0 {
			continue
		}
		ok := l.streamAppend(stream, unsafe.Pointer(unsafe.SliceData(buf)), uintptr(len(buf))) == 0
		runtime.KeepAlive(buf)
		if !ok {
			err := l.streamError(stream, "append to the insert failed")
			l.streamCancelInsert(stream)
			return err
		}
	}
	res := l.streamDone(stream)
	if res == nil {
		return l.streamError(stream, "engine returned no result when finishing the insert")
	}
	defer l.destroyResult(res)
	if msg := l.resultError(res); msg != nil {
		return &QueryError{Message: strings.TrimSpace(goString(msg))}
	}
	return nil
}

// streamError is the stream's error message as a *QueryError, or fallback
// when the engine recorded none.
func (l *library) streamError(stream unsafe.Pointer, fallback string) error {
	if msg := l.streamInsertError(stream); msg != nil {
		return &QueryError{Message: strings.TrimSpace(goString(msg))}
	}
	return &QueryError{Message: fallback}
}
