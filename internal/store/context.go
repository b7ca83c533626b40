package store

import (
	"bytes"
	"slices"
	"strings"
	"unsafe"

	"github.com/trackstream/trackstream/internal/event"
)

// The context column holds an event's context object without the string
// values that the row's typed columns already hold byte for byte, such as
// the page URL and referrer (context.page.url and context.page.referrer,
// columns url and referrer) and the user agent (context.userAgent or
// context.browser.userAgent, column user_agent). Each such value is
// replaced, where it stood, by a placeholder object naming its column
// ({"":"url"}, {"":"referrer"}, {"":"user_agent"}); ContextAsSent puts
// the column's value back. Storing them once made the events table about
// a fifth smaller (S6; docs/clickhouse-schema.md, "Context stored once").
//
// A value is replaced only when it is a member's value (after a colon)
// and its text is exactly the column's value written as a JSON string the
// way ContextAsSent writes it (appendJSONString), and only when that makes
// the text shorter: the object read back is then the object sent, byte
// for byte. Which member holds it does not matter to that; the url and
// referrer are replaced once at most and the user agent twice (the
// listings' size estimate counts on that). Ingest refuses empty keys, so
// no context it produced holds an object starting with an empty key (the
// bytes {""), and no context stored before placeholders existed holds
// one. A context from elsewhere that does is stored with the member "":1
// put first ({"":1,...}) and nothing replaced; ContextAsSent takes that
// member off again.

// Placeholders, each standing for one column's value.
const (
	placeholderURL       = `{"":"url"}`
	placeholderReferrer  = `{"":"referrer"}`
	placeholderUserAgent = `{"":"user_agent"}`
	// placeholderStart is what every placeholder starts with.
	placeholderStart = `{"":"`
	// verbatimMark opens a context stored as sent because it holds an
	// object whose first key is empty (see above).
	verbatimMark = `{"":1,`
)

// liftedSpan is one value of a context replaced by a placeholder: the
// value's bytes [at, end) of the object's text.
type liftedSpan struct {
	at, end     int
	placeholder string
}

// liftContext rewrites the context object's text b[from:] (as
// appendObject wrote it: valid UTF-8, no surrounding whitespace) into
// what the context column stores for event e, and returns b.
//
// It looks for the columns' values as JSON strings rather than parsing
// the object: the insert runs for every stored event, and a parse with
// internal/jsonread cost ~1.5 µs per event against ~0.1 µs for the
// search (a realistic context on the 2-core build machine). The objects
// come from internal/event's checking decoder, so they are valid JSON, in
// which a quote inside a string is always escaped: a column value without
// quotes, backslashes and control bytes, found between two quotes right
// after a colon, and not starting with a byte that may follow a closing
// quote (whitespace , : ] }), is a whole string value.
func liftContext(b []byte, from int, e *event.Event) []byte {
	obj := b[from:]
	if len(obj) < 2 || obj[0] != '{' {
		return b
	}
	if hasEmptyFirstKey(obj) {
		// Stored as sent, marked: "":1 as the first member.
		b = append(b, verbatimMark[1:]...)
		obj = b[from:]
		copy(obj[len(verbatimMark):], obj[1:len(obj)-len(verbatimMark)+1])
		copy(obj, verbatimMark)
		return b
	}
	var room [4]liftedSpan
	spans := findValues(obj, e.URL, placeholderURL, 1, room[:0])
	spans = findValues(obj, e.Referrer, placeholderReferrer, 1, spans)
	spans = findValues(obj, e.UserAgent, placeholderUserAgent, 2, spans)
	if len(spans) == 0 {
		return b
	}
	slices.SortFunc(spans, func(x, y liftedSpan) int { return x.at - y.at })
	// Each placeholder is shorter than its value, so the text is
	// rewritten in place, front to back.
	w, r := 0, 0
	for _, s := range spans {
		w += copy(obj[w:], obj[r:s.at])
		w += copy(obj[w:], s.placeholder)
		r = s.end
	}
	w += copy(obj[w:], obj[r:])
	return b[:from+w]
}

// hasEmptyFirstKey reports whether obj holds the bytes {"" (in valid
// JSON: an object whose first key is empty).
func hasEmptyFirstKey(obj []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(obj[i:], '{')
		if j < 0 {
			return false
		}
		i += j + 1
		if len(obj)-i >= 2 && obj[i] == '"' && obj[i+1] == '"' {
			return true
		}
	}
}

// findValues appends to spans up to max member values of obj that are
// exactly the JSON string of value (see liftContext), each to be replaced
// by placeholder.
func findValues(obj []byte, value, placeholder string, max int, spans []liftedSpan) []liftedSpan {
	if len(value)+2 <= len(placeholder) || !liftable(value) {
		return spans
	}
	text := unsafe.String(unsafe.SliceData(obj), len(obj))
	for i, found := 1, 0; found < max; {
		j := strings.Index(text[i:], value)
		if j < 0 {
			return spans
		}
		at := i + j - 1 // the opening quote
		end := i + j + len(value) + 1
		i += j + 1
		if end > len(obj) || obj[at] != '"' || obj[end-1] != '"' || !afterColon(obj, at) || taken(spans, at) {
			continue
		}
		spans = append(spans, liftedSpan{at: at, end: end, placeholder: placeholder})
		found++
		i = end
	}
	return spans
}

// taken reports whether the value at obj[at] is one of spans already
// (two columns may hold the same value, such as a referrer that is the
// page itself).
func taken(spans []liftedSpan, at int) bool {
	for _, s := range spans {
		if s.at == at {
			return true
		}
	}
	return false
}

// liftable reports whether value, between quotes, is its own JSON string
// and cannot be mistaken for text after a closing quote (see
// liftContext).
func liftable(value string) bool {
	switch value[0] {
	case ' ', '\t', '\n', '\r', ',', ':', ']', '}':
		return false
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// afterColon reports whether the byte before obj[at], whitespace skipped,
// is a colon: the value of a member.
func afterColon(obj []byte, at int) bool {
	for at--; at >= 0; at-- {
		switch obj[at] {
		case ' ', '\t', '\n', '\r':
			continue
		case ':':
			return true
		}
		return false
	}
	return false
}

// appendJSONString appends s as a JSON string the way a browser's
// JSON.stringify writes it: quote, backslash and control characters
// escaped (\b, \f, \n, \r, \t, else \u00xx), everything else as it is.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// ContextAsSent returns the context object an event was stored with,
// from the text its context column holds and its url, referrer and
// user_agent columns: the placeholders put there on insert replaced by
// the columns' values (see the comment at the top of this file). Text
// without placeholders, as every row stored before them holds, comes
// back as it is.
func ContextAsSent(stored, url, referrer, userAgent string) string {
	if strings.HasPrefix(stored, verbatimMark) {
		return "{" + stored[len(verbatimMark):]
	}
	i := strings.Index(stored, placeholderStart)
	if i < 0 {
		return stored
	}
	b := make([]byte, 0, len(stored)+len(url)+len(referrer)+len(userAgent))
	for i >= 0 {
		b = append(b, stored[:i]...)
		stored = stored[i:]
		switch {
		case strings.HasPrefix(stored, placeholderURL):
			b, stored = appendJSONString(b, url), stored[len(placeholderURL):]
		case strings.HasPrefix(stored, placeholderReferrer):
			b, stored = appendJSONString(b, referrer), stored[len(placeholderReferrer):]
		case strings.HasPrefix(stored, placeholderUserAgent):
			b, stored = appendJSONString(b, userAgent), stored[len(placeholderUserAgent):]
		default:
			b, stored = append(b, placeholderStart...), stored[len(placeholderStart):]
		}
		i = strings.Index(stored, placeholderStart)
	}
	return string(append(b, stored...))
}
