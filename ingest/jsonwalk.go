package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// This file reads JSON that scanJSON has already accepted: valid, one
// value, valid UTF-8, no duplicate keys. Knowing that, it skips values by
// counting brackets outside strings, far faster than decoding them, and
// hands out sub-slices of the body instead of copies. It must never see
// JSON that did not pass the scan.

// fieldError is a member of the wrong JSON kind: its path (relative to the
// value being decoded) and why.
type fieldError struct {
	field  string
	reason string
}

func (e *fieldError) Error() string { return e.field + " " + e.reason }

// wrongKind is the error for a value at field that is not of kind want.
func wrongKind(field, want string, value []byte) *fieldError {
	return &fieldError{field: field, reason: fmt.Sprintf("must be %s, got %s", want, kindOf(value))}
}

// kindOf names the JSON kind of a scanned value.
func kindOf(value []byte) string {
	if len(value) == 0 {
		return "nothing"
	}
	switch value[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// isNull reports whether a scanned value is the null literal.
func isNull(value []byte) bool { return len(value) == 4 && value[0] == 'n' }

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

// valueEnd returns the index just past the value that starts at b[i].
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

// stringEnd returns the index just past the string whose opening quote is
// b[i]: the first quote not escaped by an odd run of backslashes.
func stringEnd(b []byte, i int) int {
	for i++; ; {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		q := i + j
		k := q - 1
		for k >= i && b[k] == '\\' {
			k--
		}
		if (q-1-k)%2 == 0 {
			return q + 1
		}
		i = q + 1
	}
}

// objectIter walks the members of a scanned object.
type objectIter struct {
	b []byte
	i int
}

// membersOf starts a walk over the object obj (which must start with '{').
func membersOf(obj []byte) objectIter { return objectIter{b: obj, i: 1} }

// next returns the next member's key (unescaped; a sub-slice of the
// object unless it held escapes) and raw value, or ok false at the end.
func (it *objectIter) next() (key, value []byte, ok bool) {
	b := it.b
	i := skipWS(b, it.i)
	if i >= len(b) || b[i] != '"' {
		return nil, nil, false
	}
	end := stringEnd(b, i)
	key = b[i+1 : end-1]
	if bytes.IndexByte(key, '\\') >= 0 {
		key = []byte(unquote(b[i:end]))
	}
	i = skipWS(b, end) + 1 // past ':'
	i = skipWS(b, i)
	end = valueEnd(b, i)
	value = b[i:end]
	i = skipWS(b, end)
	if i < len(b) && b[i] == ',' {
		i++
	}
	it.i = i
	return key, value, true
}

// arrayIter walks the elements of a scanned array.
type arrayIter struct {
	b []byte
	i int
}

// elementsOf starts a walk over the array arr (which must start with '[').
func elementsOf(arr []byte) arrayIter { return arrayIter{b: arr, i: 1} }

// next returns the next element, or ok false at the end.
func (it *arrayIter) next() (value []byte, ok bool) {
	b := it.b
	i := skipWS(b, it.i)
	if i >= len(b) || b[i] == ']' {
		return nil, false
	}
	end := valueEnd(b, i)
	value = b[i:end]
	i = skipWS(b, end)
	if i < len(b) && b[i] == ',' {
		i++
	}
	it.i = i
	return value, true
}

// elements returns the elements of a scanned array, at most max of them,
// and how many it has in all.
func elements(arr []byte, max int) (out [][]byte, n int) {
	for it := elementsOf(arr); ; n++ {
		v, ok := it.next()
		if !ok {
			return out, n
		}
		if n < max {
			out = append(out, v)
		}
	}
}

// unquote decodes a scanned JSON string (quotes included).
func unquote(value []byte) string {
	inner := value[1 : len(value)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(value, &s) // scanned already: cannot fail
	return s
}

// stringField decodes a member that must be a string or null (""),
// naming field when it is another kind.
func stringField(field string, value []byte) (string, *fieldError) {
	switch {
	case len(value) > 0 && value[0] == '"':
		return unquote(value), nil
	case isNull(value):
		return "", nil
	}
	return "", wrongKind(field, "a string", value)
}

// flexIDField decodes an id that Segment libraries send as a string or, from
// some languages, a number (kept as its exact text); null is "".
func flexIDField(field string, value []byte) (string, *fieldError) {
	if len(value) > 0 && (value[0] == '-' || (value[0] >= '0' && value[0] <= '9')) {
		return string(value), nil
	}
	return stringField(field, value)
}

// objectField checks a member that must be an object or null, returning
// it (nil for null).
func objectField(field string, value []byte) ([]byte, *fieldError) {
	switch {
	case len(value) > 0 && value[0] == '{':
		return value, nil
	case isNull(value):
		return nil, nil
	}
	return nil, wrongKind(field, "an object", value)
}

// arrayField checks a member that must be an array or null, returning it
// (nil for null).
func arrayField(field string, value []byte) ([]byte, *fieldError) {
	switch {
	case len(value) > 0 && value[0] == '[':
		return value, nil
	case isNull(value):
		return nil, nil
	}
	return nil, wrongKind(field, "an array", value)
}

// idObjectField decodes Tracardi's {"id": "..."} references (source,
// session, profile); null or a missing id is "".
func idObjectField(field string, value []byte) (string, *fieldError) {
	obj, err := objectField(field, value)
	if err != nil || obj == nil {
		return "", err
	}
	id := ""
	for it := membersOf(obj); ; {
		key, v, ok := it.next()
		if !ok {
			return id, nil
		}
		if string(key) == "id" {
			if id, err = stringField(field+".id", v); err != nil {
				return "", err
			}
		}
	}
}

// compact returns the scanned JSON value src without the whitespace
// between its tokens (src itself when it has none).
func compact(src []byte) []byte {
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
		return src
	}
	return append(dst, src[start:]...)
}
