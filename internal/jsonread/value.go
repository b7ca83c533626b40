package jsonread

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// Value is one JSON value a Decoder has checked, without surrounding
// whitespace, or nothing (the zero Value, for an absent member). Only
// this package makes Values, so the fast walks below, which skip values
// by counting brackets outside strings and hand out sub-slices of the
// input instead of copies, never see text that was not checked.
type Value struct {
	b []byte
}

// Raw is the value's JSON text (nil for nothing): a sub-slice of the
// decoder's input.
func (v Value) Raw() []byte { return v.b }

// Kind is the JSON kind of a value.
type Kind uint8

// The kinds of Value. Nothing is the kind of the zero Value.
const (
	Nothing Kind = iota
	Null
	Bool
	Number
	String
	Array
	Object
)

// String names the kind as a sender knows it: object, string, ...
func (k Kind) String() string {
	return [...]string{"nothing", "null", "boolean", "number", "string", "array", "object"}[k]
}

// Kind is the value's kind.
func (v Value) Kind() Kind {
	if len(v.b) == 0 {
		return Nothing
	}
	switch v.b[0] {
	case '"':
		return String
	case '{':
		return Object
	case '[':
		return Array
	case 't', 'f':
		return Bool
	case 'n':
		return Null
	}
	return Number
}

// IsNullOrNothing reports whether v is null or absent.
func (v Value) IsNullOrNothing() bool { return len(v.b) == 0 || v.b[0] == 'n' }

// Text is a string value decoded, or "" for any other kind.
func (v Value) Text() string {
	if len(v.b) == 0 || v.b[0] != '"' {
		return ""
	}
	inner := v.b[1 : len(v.b)-1]
	if asIs(inner) {
		return string(inner)
	}
	return string(unescape(nil, inner))
}

// asIs reports whether the bytes between a checked string's quotes are
// its decoded text as they are: no escapes, no invalid UTF-8.
func asIs(inner []byte) bool {
	return plainRun(inner, 0) == len(inner) || bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner)
}

// AppendText appends what Text returns to dst, without making a string:
// for callers that only look at the text.
func (v Value) AppendText(dst []byte) []byte {
	if len(v.b) == 0 || v.b[0] != '"' {
		return dst
	}
	inner := v.b[1 : len(v.b)-1]
	if asIs(inner) {
		return append(dst, inner...)
	}
	if dst == nil {
		dst = make([]byte, 0, len(inner))
	}
	return unescape(dst, inner)
}

// Members walks the members of an object value (none for another kind).
func (v Value) Members() Members {
	if v.Kind() != Object {
		return Members{}
	}
	return Members{b: v.b, i: 1}
}

// Members walks the members of an object; see Value.Members.
type Members struct {
	b []byte
	i int
}

// Next returns the next member's key (decoded; a sub-slice of the value
// unless it held escapes) and value, or ok false at the end.
func (m *Members) Next() (key []byte, value Value, ok bool) {
	b := m.b
	i := skipWS(b, m.i)
	if i >= len(b) || b[i] != '"' {
		return nil, Value{}, false
	}
	end := stringEnd(b, i)
	key = b[i+1 : end-1]
	if !asIs(key) {
		key = unescape(nil, key)
	}
	i = skipWS(b, end) + 1 // past ':'
	i = skipWS(b, i)
	end = valueEnd(b, i)
	value = Value{b[i:end]}
	i = skipWS(b, end)
	if i < len(b) && b[i] == ',' {
		i++
	}
	m.i = i
	return key, value, true
}

// Elements walks the elements of an array value (none for another kind).
func (v Value) Elements() Elements {
	if v.Kind() != Array {
		return Elements{}
	}
	return Elements{b: v.b, i: 1}
}

// Elements walks the elements of an array; see Value.Elements.
type Elements struct {
	b []byte
	i int
}

// Next returns the next element, or ok false at the end.
func (e *Elements) Next() (Value, bool) {
	b := e.b
	i := skipWS(b, e.i)
	if i >= len(b) || b[i] == ']' {
		return Value{}, false
	}
	end := valueEnd(b, i)
	v := Value{b[i:end]}
	i = skipWS(b, end)
	if i < len(b) && b[i] == ',' {
		i++
	}
	e.i = i
	return v, true
}

// Compact returns v without the whitespace between its tokens (v itself
// when it has none).
func (v Value) Compact() Value {
	src := v.b
	var dst []byte
	start := 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '"':
			i = stringEnd(src, i) - 1
		case ' ', '\t', '\r', '\n':
			if dst == nil {
				dst = make([]byte, 0, len(src))
			}
			dst = append(dst, src[start:i]...)
			start = i + 1
		}
	}
	if dst == nil {
		return v
	}
	return Value{append(dst, src[start:]...)}
}

// skipWS returns the index of the first non-whitespace byte of b at or
// after i.
func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// valueEnd returns the index just past the checked value that starts at
// b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
		i++
	}
	return i
}

// stringEnd returns the index just past the checked string whose opening
// quote is b[i]: the first quote that is not part of an escape (a checked
// string's backslashes each start an escape of at least two bytes).
func stringEnd(b []byte, i int) int {
	for i++; ; i += 2 {
		i = quoteOrBackslash(b, i)
		if i >= len(b) {
			return len(b)
		}
		if b[i] == '"' {
			return i + 1
		}
	}
}

// unescape appends the decoded text of the checked string raw (the bytes
// between its quotes) to dst, as encoding/json decodes it: invalid UTF-8
// and unpaired surrogate escapes (which only a Lenient decoder lets
// through) become U+FFFD.
func unescape(dst, raw []byte) []byte {
	if dst == nil {
		dst = make([]byte, 0, len(raw))
	}
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			switch e := raw[i+1]; e {
			case 'u':
				r, _ := hex4(raw, i+2)
				i += 6
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						r2, _ = hex4(raw, i+2)
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				dst = utf8.AppendRune(dst, r)
			default:
				dst = append(dst, unescapeByte(e))
				i += 2
			}
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, raw[i:i+size]...)
			}
			i += size
		}
	}
	return dst
}

// unescapeByte is the byte a one-character escape \c stands for.
func unescapeByte(c byte) byte {
	switch c {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return c // " \ /
}
