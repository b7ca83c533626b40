package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// maxNesting bounds the nesting of objects and arrays in a record, like
// encoding/json's own limit.
const maxNesting = 10000

// decodeRecord reads a record value into e without reflection: one pass
// that checks the JSON as it goes (encoding/json would scan it twice).
// Properties and Context are sub-slices of value. It accepts only what
// encoding/json would accept for Event, decoding it the same way, except
// that member names must match exactly (encoding/json also takes other
// letter cases).
func decodeRecord(value []byte, e *Event) error {
	d := decoder{b: value}
	d.ws()
	if !d.consume('{') {
		return d.errorf("a record must be a JSON object")
	}
	d.ws()
	if d.consume('}') {
		return d.end()
	}
	for {
		d.ws()
		key, err := d.str()
		if err != nil {
			return err
		}
		d.ws()
		if !d.consume(':') {
			return d.errorf("expected ':' after a member name")
		}
		d.ws()
		if err := d.member(key, e); err != nil {
			return err
		}
		d.ws()
		if d.consume(',') {
			continue
		}
		if d.consume('}') {
			return d.end()
		}
		return d.errorf("expected ',' or '}' in the record")
	}
}

// decoder reads one record value.
type decoder struct {
	b []byte
	i int
}

func (d *decoder) errorf(format string, a ...any) error {
	return fmt.Errorf("invalid record at byte %d: %s", d.i, fmt.Sprintf(format, a...))
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\r', '\n':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) consume(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// end checks that only whitespace follows the record.
func (d *decoder) end() error {
	d.ws()
	if d.i != len(d.b) {
		return d.errorf("data after the record")
	}
	return nil
}

// member decodes the value of the member named key into e.
func (d *decoder) member(key string, e *Event) error {
	var s *string
	var t **time.Time
	switch key {
	case "source_id":
		s = &e.SourceID
	case "id":
		s = &e.ID
	case "type":
		s = &e.Type
	case "session_id":
		s = &e.SessionID
	case "profile_id":
		s = &e.ProfileID
	case "anonymous_id":
		s = &e.AnonymousID
	case "user_id":
		s = &e.UserID
	case "ip":
		s = &e.IP
	case "user_agent":
		s = &e.UserAgent
	case "url":
		s = &e.URL
	case "referrer":
		s = &e.Referrer
	case "name":
		s = &e.Name
	case "group_id":
		s = &e.GroupID
	case "previous_id":
		s = &e.PreviousID
	case "time":
		return d.timeValue(&e.Time)
	case "received_at":
		return d.timeValue(&e.ReceivedAt)
	case "client_time":
		t = &e.ClientTime
	case "sent_at":
		t = &e.SentAt
	case "late":
		return d.boolValue(key, &e.Late)
	case "properties":
		return d.rawValue(&e.Properties)
	case "context":
		return d.rawValue(&e.Context)
	default:
		return d.skip(0)
	}
	if s != nil {
		if d.null() {
			return nil
		}
		v, err := d.str()
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		*s = v
		return nil
	}
	if d.null() {
		*t = nil
		return nil
	}
	var tv time.Time
	if err := d.timeValue(&tv); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	*t = &tv
	return nil
}

// null consumes a null literal if one is next.
func (d *decoder) null() bool {
	if len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

func (d *decoder) timeValue(t *time.Time) error {
	start := d.i
	if d.null() {
		return nil
	}
	if _, err := d.str(); err != nil {
		return err
	}
	if err := t.UnmarshalJSON(d.b[start:d.i]); err != nil {
		return err
	}
	return nil
}

func (d *decoder) boolValue(key string, v *bool) error {
	switch {
	case d.null():
	case len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "true":
		d.i += 4
		*v = true
	case len(d.b)-d.i >= 5 && string(d.b[d.i:d.i+5]) == "false":
		d.i += 5
		*v = false
	default:
		return d.errorf("%s must be a boolean", key)
	}
	return nil
}

// rawValue checks any JSON value and keeps its bytes, as
// json.RawMessage does (null included).
func (d *decoder) rawValue(raw *json.RawMessage) error {
	start := d.i
	if err := d.skip(0); err != nil {
		return err
	}
	*raw = d.b[start:d.i:d.i]
	return nil
}

// skip checks and passes over one JSON value.
func (d *decoder) skip(depth int) error {
	if depth > maxNesting {
		return d.errorf("objects and arrays nest deeper than %d levels", maxNesting)
	}
	if d.i >= len(d.b) {
		return d.errorf("unexpected end of the record")
	}
	switch c := d.b[d.i]; {
	case c == '"':
		_, err := d.str()
		return err
	case c == '{', c == '[':
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		d.i++
		d.ws()
		if d.consume(closing) {
			return nil
		}
		for {
			d.ws()
			if c == '{' {
				if _, err := d.str(); err != nil {
					return err
				}
				d.ws()
				if !d.consume(':') {
					return d.errorf("expected ':' after an object key")
				}
				d.ws()
			}
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			d.ws()
			if d.consume(',') {
				continue
			}
			if d.consume(closing) {
				return nil
			}
			return d.errorf("expected ',' or '%c'", closing)
		}
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	return d.errorf("unexpected character %q", d.b[d.i])
}

func (d *decoder) literal(lit string) error {
	if len(d.b)-d.i < len(lit) || string(d.b[d.i:d.i+len(lit)]) != lit {
		return d.errorf("invalid literal")
	}
	d.i += len(lit)
	return nil
}

// number passes over a number of JSON's grammar.
func (d *decoder) number() error {
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	d.consume('-')
	switch {
	case d.consume('0'):
	case digits() == 0:
		return d.errorf("invalid number")
	}
	if d.consume('.') && digits() == 0 {
		return d.errorf("invalid number")
	}
	if d.consume('e') || d.consume('E') {
		if !d.consume('+') {
			d.consume('-')
		}
		if digits() == 0 {
			return d.errorf("invalid number")
		}
	}
	return nil
}

var errNotString = errors.New("expected a string")

// str decodes the string that starts at d.i, as encoding/json does
// (invalid UTF-8 and lone surrogate escapes become U+FFFD).
func (d *decoder) str() (string, error) {
	if !d.consume('"') {
		return "", d.errorf("%v", errNotString)
	}
	start := d.i
	for d.i < len(d.b) && plainByte[d.b[d.i]] {
		d.i++
	}
	switch {
	case d.i >= len(d.b):
		return "", d.errorf("unterminated string")
	case d.b[d.i] == '"':
		s := string(d.b[start:d.i])
		d.i++
		return s, nil
	case d.b[d.i] < 0x20:
		return "", d.errorf("control character in a string")
	}
	return d.slowStr(start)
}

// plainByte marks the bytes a string holds as they are: printable ASCII
// but the quote and the backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// slowStr finishes a string with escapes or non-ASCII bytes.
func (d *decoder) slowStr(start int) (string, error) {
	out := append(make([]byte, 0, d.i-start+16), d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return string(out), nil
		case c < 0x20:
			return "", d.errorf("control character in a string")
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(d.b[d.i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, d.b[d.i:d.i+size]...)
			}
			d.i += size
		case c != '\\':
			out = append(out, c)
			d.i++
		default:
			if d.i+1 >= len(d.b) {
				return "", d.errorf("unterminated string")
			}
			esc := d.b[d.i+1]
			d.i += 2
			switch esc {
			case '"', '\\', '/':
				out = append(out, esc)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return "", d.errorf(`invalid \u escape`)
				}
				if utf16.IsSurrogate(r) {
					r = d.lowSurrogate(r)
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", d.errorf("invalid escape in a string")
			}
		}
	}
	return "", d.errorf("unterminated string")
}

// hex4 reads the four hex digits of a \u escape.
func (d *decoder) hex4() (rune, bool) {
	if len(d.b)-d.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			return 0, false
		}
	}
	d.i += 4
	return r, true
}

// lowSurrogate completes a surrogate pair whose high half is r, or
// returns U+FFFD (leaving what follows unread) as encoding/json does.
func (d *decoder) lowSurrogate(r rune) rune {
	save := d.i
	if len(d.b)-d.i >= 6 && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
		d.i += 2
		if r2, ok := d.hex4(); ok {
			if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
				return dec
			}
		}
	}
	d.i = save
	return utf8.RuneError
}
