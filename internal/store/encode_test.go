package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/enrich"
	"github.com/trackstream/trackstream/internal/event"
)

func TestAppendObject(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "{}",
		"  ":               "{}",
		"null":             "{}",
		`{"a":1}`:          `{"a":1}`,
		" {\"a\":1}\n ":    `{"a":1}`,
		"{\"s\":\"\xff\"}": "{\"s\":\"\uFFFD\"}",
		"[1,2]":            "[1,2]", // left for ClickHouse to reject
	} {
		if got := string(appendObject(nil, []byte(in))); got != want {
			t.Errorf("appendObject(%q) = %q, want %q", in, got, want)
		}
	}
}

// binCursor decodes RowBinary the way the engine reads it.
type binCursor struct {
	t *testing.T
	b []byte
}

func (c *binCursor) take(n int) []byte {
	c.t.Helper()
	if n > len(c.b) {
		c.t.Fatalf("row ends early: want %d bytes, have %d", n, len(c.b))
	}
	out := c.b[:n]
	c.b = c.b[n:]
	return out
}

func (c *binCursor) str() string {
	c.t.Helper()
	n, w := binary.Uvarint(c.b)
	if w <= 0 {
		c.t.Fatalf("bad string length prefix % x", c.b[:min(len(c.b), 10)])
	}
	c.b = c.b[w:]
	return string(c.take(int(n)))
}

func (c *binCursor) time() time.Time {
	return time.UnixMilli(int64(binary.LittleEndian.Uint64(c.take(8)))).UTC()
}

// decodeRowBinary reads one row of the columns layout into a map of
// column name to value (string, time.Time, *time.Time or bool).
func decodeRowBinary(t *testing.T, b []byte) (map[string]any, []byte) {
	t.Helper()
	c := &binCursor{t: t, b: b}
	m := map[string]any{}
	for _, col := range columns {
		switch col.kind {
		case kindTime:
			m[col.name] = c.time()
		case kindNullTime:
			var v *time.Time
			if c.take(1)[0] == 0 {
				tm := c.time()
				v = &tm
			}
			m[col.name] = v
		case kindBool:
			m[col.name] = c.take(1)[0] == 1
		case kindString, kindJSON:
			m[col.name] = c.str()
		default:
			t.Fatalf("column %s: unknown kind %d", col.name, col.kind)
		}
	}
	return m, c.b
}

func TestAppendRowBinary(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 8e6, time.FixedZone("x", 3600))
	r := Row{
		Event: event.Event{SourceID: "s", ID: "i\n", Type: "t", Time: at, ReceivedAt: at.Add(time.Second), SentAt: &at, Late: true,
			UserAgent: "ua", Properties: json.RawMessage(` {"a":[1,{"b":null}]} `)},
		Fields: enrich.Fields{DeviceType: "desktop", Bot: true},
	}
	two := appendRowBinary(appendRowBinary(nil, &r), &r)
	m, rest := decodeRowBinary(t, two)
	if _, rest = decodeRowBinary(t, rest); len(rest) != 0 {
		t.Fatalf("%d bytes left after two rows", len(rest))
	}
	sent, _ := m["sent_at"].(*time.Time)
	for k, want := range map[string]any{
		"source_id": "s", "event_id": "i\n", "user_agent": "ua", "device_type": "desktop", "late": true, "is_bot": true,
		"event_time": at.UTC(), "received_at": at.Add(time.Second).UTC(), "client_time": (*time.Time)(nil),
		"properties": `{"a":[1,{"b":null}]}`, "context": "{}",
	} {
		if fmt.Sprint(m[k]) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if sent == nil || !sent.Equal(at) {
		t.Errorf("sent_at = %v, want %v", sent, at)
	}
}

// FuzzAppendRowBinary: whatever strings an event carries (ingest decoded
// them from untrusted input), the row decodes to exactly those strings and
// takes exactly its own bytes.
func FuzzAppendRowBinary(f *testing.F) {
	f.Add("src", "id", "ua \"x\"", `{"a":1}`)
	f.Add("", "\x00", "\xff\xfe\n\n", "")
	f.Add("\n\n\n\n\n\n\n\n\n\n", strings.Repeat("x", 200), "", `{"`+strings.Repeat("k", 300)+`":1}`)
	f.Fuzz(func(t *testing.T, source, id, ua, props string) {
		if !json.Valid([]byte(props)) {
			props = ""
		}
		r := Row{Event: event.Event{SourceID: source, ID: id, UserAgent: ua, Properties: json.RawMessage(props)}}
		m, rest := decodeRowBinary(t, appendRowBinary(nil, &r))
		if len(rest) != 0 {
			t.Fatalf("%d bytes left after the row", len(rest))
		}
		if m["source_id"] != source || m["event_id"] != id || m["user_agent"] != ua {
			t.Fatalf("strings changed: %q %q %q", m["source_id"], m["event_id"], m["user_agent"])
		}
		if want := string(appendObject(nil, []byte(props))); m["properties"] != want {
			t.Fatalf("properties %q, want %q", m["properties"], want)
		}
	})
}
