package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/trackstream/trackstream/internal/event"
)

const chTimeLayout = "2006-01-02 15:04:05.000"

// appendRowBinary appends r in ClickHouse's RowBinary format, one value
// per entry of columns, in their order. Strings are length-prefixed and go
// byte for byte; times are Int64 milliseconds (DateTime64(3)); Nullable
// values carry a null flag byte; Bool is one byte. JSON objects go as
// their text (a String), normalised by appendObject; the context without
// the values its row's typed columns hold (liftContext).
func appendRowBinary(b []byte, r *Row) []byte {
	for i := range columns {
		c := &columns[i]
		switch c.kind {
		case kindString:
			b = appendBinString(b, *(*string)(c.value(r)))
		case kindTime:
			b = appendBinTime(b, *(*time.Time)(c.value(r)))
		case kindNullTime:
			b = appendBinTimePtr(b, *(**time.Time)(c.value(r)))
		case kindBool:
			b = appendBinBool(b, *(*bool)(c.value(r)))
		case kindJSON:
			var lift *event.Event
			if c.liftContext {
				lift = &r.Event
			}
			b = appendBinJSON(b, *(*json.RawMessage)(c.value(r)), lift)
		}
	}
	return b
}

// appendBinString writes s as a RowBinary String: LEB128 length, bytes.
func appendBinString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendBinJSON writes a JSON object as a String holding its text ({}
// for an empty or null value); with lift set, the context column's text
// for that event (liftContext).
func appendBinJSON(b []byte, raw []byte, lift *event.Event) []byte {
	// The object is written after a length prefix that is only known once
	// appendObject has normalised it: reserve the longest prefix a length
	// below 2^35 can need, then move the bytes left when the prefix is
	// shorter. Objects are bounded far below that by ingest's body limit.
	const maxPrefix = 5
	start := len(b)
	b = append(b, make([]byte, maxPrefix)...)
	b = appendObject(b, raw)
	if lift != nil {
		b = liftContext(b, start+maxPrefix, lift)
	}
	n := len(b) - start - maxPrefix
	var prefix [binary.MaxVarintLen64]byte
	p := binary.PutUvarint(prefix[:], uint64(n))
	copy(b[start:], prefix[:p])
	copy(b[start+p:], b[start+maxPrefix:])
	return b[:start+p+n]
}

func appendBinTime(b []byte, t time.Time) []byte {
	return binary.LittleEndian.AppendUint64(b, uint64(t.UnixMilli()))
}

func appendBinTimePtr(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, 1)
	}
	return appendBinTime(append(b, 0), *t)
}

func appendBinBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendObject appends the text of a JSON object column's value; records
// were decoded by internal/event's checking decoder, so raw is well-formed
// JSON, though, as encoding/json allows, its strings may hold invalid
// UTF-8, replaced here. That it is an object is checked before the insert
// (checkObjects).
func appendObject(b []byte, raw []byte) []byte {
	trimmed := bytes.TrimSpace(raw)
	if isEmptyObject(trimmed) {
		return append(b, "{}"...)
	}
	if !utf8.Valid(trimmed) {
		trimmed = bytes.ToValidUTF8(trimmed, []byte("\uFFFD"))
	}
	return append(b, trimmed...)
}

// isEmptyObject reports whether a trimmed JSON value stands for no object
// (absent or null), stored as {}.
func isEmptyObject(trimmed []byte) bool { return len(trimmed) == 0 || string(trimmed) == "null" }

// checkObjects refuses (ErrRejected) rows whose properties or context is
// not a JSON object: the columns hold text, so the engine no longer
// refuses another JSON value, and the queries read keys of an object.
// Ingest refuses such events before Kafka; this catches a record written
// by something else, which the processor then isolates and dead-letters.
func checkObjects(rows []Row) error {
	for i := range rows {
		for j := range columns {
			c := &columns[j]
			if c.kind != kindJSON {
				continue
			}
			v := bytes.TrimSpace(*(*json.RawMessage)(c.value(&rows[i])))
			if !isEmptyObject(v) && v[0] != '{' {
				e := &rows[i].Event
				return fmt.Errorf("event %s/%s: %s is not a JSON object: %w", e.SourceID, e.ID, c.name, ErrRejected)
			}
		}
	}
	return nil
}
