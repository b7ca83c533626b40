package store

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/trackstream/trackstream/internal/event"
)

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "nl\nret\rtab\t", "\x00\x01\x1f\x7f", "ünï 🎉", "</script>&"} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != s {
			t.Errorf("appendString(%q) = %s; decodes to %q, %v", s, got, back, err)
		}
	}
	// Bytes that are not UTF-8 are written verbatim (ClickHouse reads
	// them as they are), not replaced.
	if got := string(appendString(nil, "a\xffb")); got != "\"a\xffb\"" {
		t.Errorf("invalid UTF-8 written as %q", got)
	}
}

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

func TestAppendRowIsOneJSONLine(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 8e6, time.FixedZone("x", 3600))
	r := Row{Event: event.Event{SourceID: "s", ID: "i\n", Type: "t", Time: at, ReceivedAt: at, SentAt: &at,
		Properties: json.RawMessage(`{"a":[1,{"b":null}]}`)}}
	line := appendRow(nil, &r)
	if strings.Count(string(line), "\n") != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("not one line: %q", line)
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	cols := strings.Split(strings.Trim(insertColumns, "()"), ", ")
	if len(m) != len(cols) {
		t.Errorf("row has %d keys, insertColumns %d", len(m), len(cols))
	}
	for _, c := range cols {
		if _, ok := m[c]; !ok {
			t.Errorf("column %s missing from the row", c)
		}
	}
	if m["event_time"] != "2026-03-04 04:06:07.008" || m["client_time"] != nil || m["sent_at"] != "2026-03-04 04:06:07.008" || m["event_id"] != "i\n" {
		t.Errorf("times/ids not as expected: %v %v %v %q", m["event_time"], m["client_time"], m["sent_at"], m["event_id"])
	}
}

// FuzzAppendRow: whatever strings an event carries (ingest decoded them
// from untrusted input), the row stays one line of valid JSON that gives
// the strings back.
func FuzzAppendRow(f *testing.F) {
	f.Add("src", "id", "ua \"x\"", `{"a":1}`)
	f.Add("", "\x00", "\xff\xfe", "")
	f.Fuzz(func(t *testing.T, source, id, ua, props string) {
		if !json.Valid([]byte(props)) {
			props = ""
		}
		r := Row{Event: event.Event{SourceID: source, ID: id, UserAgent: ua, Properties: json.RawMessage(props)}}
		line := appendRow(nil, &r)
		if strings.Count(string(line), "\n") != 1 {
			t.Fatalf("not one line: %q", line)
		}
		if utf8.ValidString(source) && utf8.ValidString(id) && utf8.ValidString(ua) {
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatalf("invalid JSON %q: %v", line, err)
			}
			if m["source_id"] != source || m["event_id"] != id || m["user_agent"] != ua {
				t.Fatalf("strings changed: %q %q %q", m["source_id"], m["event_id"], m["user_agent"])
			}
		}
	})
}
