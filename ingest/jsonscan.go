package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// scanLimits bound what scanJSON accepts.
type scanLimits struct {
	// MaxDepth caps the nesting of objects and arrays.
	MaxDepth int
	// MaxString, when positive, caps the decoded bytes of every string.
	MaxString int
}

// scanError is one problem scanJSON found: a machine-readable code, the
// JSON path where it is (e.g. events[2].properties.price) and what is
// wrong.
type scanError struct {
	Code   string
	Path   string
	Offset int
	Msg    string
}

func (e *scanError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s at byte %d", e.Msg, e.Offset)
	}
	return fmt.Sprintf("%s: %s at byte %d", e.Path, e.Msg, e.Offset)
}

// The codes of scanError.
const (
	codeInvalidJSON    = "invalid_json"
	codeInvalidUTF8    = "invalid_utf8"
	codeDuplicateKey   = "duplicate_key"
	codeTooDeep        = "too_deep"
	codeNumberOverflow = "number_overflow"
	codeStringTooLong  = "string_too_long"
)

// scanJSON checks that b is exactly one JSON value (surrounding whitespace
// allowed) with none of the quirks encoding/json lets through: invalid
// UTF-8 (inside strings or out), unpaired UTF-16 surrogate escapes,
// duplicate object keys (compared after unescaping), nesting deeper than
// MaxDepth, numbers outside float64's range and data after the value. It
// allocates only for the path of an error and for objects of many keys.
// Large integers are left alone, so a decoder that keeps number text
// (json.RawMessage, json.Number) keeps them exactly.
func scanJSON(b []byte, lim scanLimits) *scanError {
	var s scanner
	s.init(b, lim)
	s.ws()
	if s.i >= len(b) {
		return s.fail(codeInvalidJSON, "the body is empty; it must be a JSON object")
	}
	if err := s.value(0); err != nil {
		return err
	}
	s.ws()
	if s.i < len(b) {
		return s.fail(codeInvalidJSON, "unexpected data after the JSON value")
	}
	return nil
}

// bodyFacts are what scanBody learnt about a body besides its validity.
type bodyFacts struct {
	// longStrings: some string is longer than MaxString, so the parts of
	// the body that limit applies to (each event, shared objects) must be
	// scanned again with scanJSON.
	longStrings bool
	// spaces: there is whitespace between tokens inside the top-level
	// value, so JSON taken verbatim from the body must be compacted.
	spaces bool
}

// scanBody is scanJSON for a whole request body, except that strings
// over lim.MaxString are not an error but noted in the facts it returns.
func scanBody(b []byte, lim scanLimits) (bodyFacts, *scanError) {
	var s scanner
	s.init(b, lim)
	s.noteLong = true
	s.ws()
	if s.i >= len(b) {
		return bodyFacts{}, s.fail(codeInvalidJSON, "the body is empty; it must be a JSON object")
	}
	s.sawSpace = false
	if err := s.value(0); err != nil {
		return bodyFacts{}, err
	}
	facts := bodyFacts{longStrings: s.sawLong, spaces: s.sawSpace}
	s.ws()
	if s.i < len(b) {
		return bodyFacts{}, s.fail(codeInvalidJSON, "unexpected data after the JSON value")
	}
	return facts, nil
}

// frame is one open object or array, for error paths and duplicate keys.
type frame struct {
	array bool
	index int    // current element of an array
	key   []byte // current key of an object
	keys  int    // index in scanner.keys where this object's keys start
}

type scanner struct {
	b      []byte
	i      int
	lim    scanLimits
	frames []frame
	keys   [][]byte
	// noteLong makes a string over MaxString set sawLong instead of
	// failing the scan.
	noteLong bool
	sawLong  bool
	// sawSpace: ws skipped whitespace.
	sawSpace bool
	frameBuf [8]frame
	keyBuf   [16][]byte
}

// init readies s to scan b; its first levels of nesting and keys need no
// allocation.
func (s *scanner) init(b []byte, lim scanLimits) {
	*s = scanner{b: b, lim: lim}
	s.frames = s.frameBuf[:0]
	s.keys = s.keyBuf[:0]
}

// manyKeys is the object size beyond which duplicate keys are found with a
// map rather than by comparing with every earlier key.
const manyKeys = 32

func (s *scanner) fail(code, msg string) *scanError {
	return &scanError{Code: code, Path: s.path(), Offset: s.i, Msg: msg}
}

// path renders the open frames as a JSON path: a.b[3].c.
func (s *scanner) path() string {
	var sb strings.Builder
	for _, f := range s.frames {
		switch {
		case f.array:
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(f.index))
			sb.WriteByte(']')
		case f.key != nil:
			if sb.Len() > 0 {
				sb.WriteByte('.')
			}
			sb.Write(bytes.ToValidUTF8(f.key, []byte("\uFFFD")))
		}
	}
	return sb.String()
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
			s.sawSpace = true
		default:
			return
		}
	}
}

func (s *scanner) value(depth int) *scanError {
	if s.i >= len(s.b) {
		return s.fail(codeInvalidJSON, "unexpected end of JSON")
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(depth + 1)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		_, err := s.str(false)
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c >= utf8.RuneSelf:
		if r, _ := utf8.DecodeRune(s.b[s.i:]); r == utf8.RuneError {
			return s.fail(codeInvalidUTF8, "invalid UTF-8")
		}
	}
	return s.fail(codeInvalidJSON, fmt.Sprintf("unexpected character %q", s.b[s.i]))
}

func (s *scanner) literal(lit string) *scanError {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return s.fail(codeInvalidJSON, "invalid literal (want true, false or null)")
	}
	s.i += len(lit)
	return nil
}

func (s *scanner) tooDeep(depth int) *scanError {
	if depth > s.lim.MaxDepth {
		return s.fail(codeTooDeep, fmt.Sprintf("objects and arrays nest deeper than %d levels", s.lim.MaxDepth))
	}
	return nil
}

func (s *scanner) object(depth int) *scanError {
	if err := s.tooDeep(depth); err != nil {
		return err
	}
	s.i++ // {
	s.frames = append(s.frames, frame{keys: len(s.keys)})
	fi := len(s.frames) - 1
	var seen map[string]struct{}
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.frames = s.frames[:fi]
		return nil
	}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.fail(codeInvalidJSON, "expected a string key")
		}
		keyAt := s.i
		key, err := s.str(true)
		if err != nil {
			return err
		}
		s.frames[fi].key = key
		own := s.keys[s.frames[fi].keys:]
		dup := false
		if seen != nil {
			_, dup = seen[string(key)]
			seen[string(key)] = struct{}{}
		} else {
			for _, k := range own {
				if bytes.Equal(k, key) {
					dup = true
					break
				}
			}
			s.keys = append(s.keys, key)
			if len(own)+1 > manyKeys {
				seen = make(map[string]struct{}, 2*manyKeys)
				for _, k := range s.keys[s.frames[fi].keys:] {
					seen[string(k)] = struct{}{}
				}
			}
		}
		if dup {
			s.i = keyAt
			return s.fail(codeDuplicateKey, "duplicate key")
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.fail(codeInvalidJSON, "expected ':' after an object key")
		}
		s.i++
		s.ws()
		if err := s.value(depth); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.fail(codeInvalidJSON, "unexpected end of JSON in an object")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			s.keys = s.keys[:s.frames[fi].keys]
			s.frames = s.frames[:fi]
			return nil
		default:
			return s.fail(codeInvalidJSON, "expected ',' or '}' in an object")
		}
	}
}

func (s *scanner) array(depth int) *scanError {
	if err := s.tooDeep(depth); err != nil {
		return err
	}
	s.i++ // [
	s.frames = append(s.frames, frame{array: true})
	fi := len(s.frames) - 1
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		s.frames = s.frames[:fi]
		return nil
	}
	for {
		s.ws()
		if err := s.value(depth); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.fail(codeInvalidJSON, "unexpected end of JSON in an array")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.frames[fi].index++
		case ']':
			s.i++
			s.frames = s.frames[:fi]
			return nil
		default:
			return s.fail(codeInvalidJSON, "expected ',' or ']' in an array")
		}
	}
}

// plainASCII marks the bytes a string may hold as they are: printable
// ASCII but the quote and the backslash.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str scans a string starting at its opening quote. For a key it returns
// the key's decoded bytes (a slice of the input when it has no escapes).
func (s *scanner) str(key bool) ([]byte, *scanError) {
	start := s.i + 1
	s.i++
	escaped := false
	n := 0 // decoded bytes
	for {
		// Plain ASCII runs, the bulk of most strings, need no more checks.
		j := s.i
		for j < len(s.b) && plainASCII[s.b[j]] {
			j++
		}
		n += j - s.i
		s.i = j
		if s.i >= len(s.b) {
			return nil, s.fail(codeInvalidJSON, "unterminated string")
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			raw := s.b[start:s.i]
			s.i++
			if s.lim.MaxString > 0 && n > s.lim.MaxString {
				s.sawLong = true
			}
			if s.sawLong && !s.noteLong {
				s.i = start - 1
				return nil, s.fail(codeStringTooLong, fmt.Sprintf("a string of %d bytes; the limit is %d", n, s.lim.MaxString))
			}
			if !key || !escaped {
				return raw, nil
			}
			return s.unescapeKey(raw), nil
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				return nil, s.fail(codeInvalidJSON, "unterminated string")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
				n++
			case 'u':
				r, ok := s.hex4(s.i + 2)
				if !ok {
					return nil, s.fail(codeInvalidJSON, `invalid \u escape`)
				}
				s.i += 6
				if utf16.IsSurrogate(r) {
					r2, ok2 := rune(-1), false
					if r < 0xDC00 && s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
						r2, ok2 = s.hex4(s.i + 2)
					}
					if !ok2 || utf16.DecodeRune(r, r2) == utf8.RuneError {
						s.i -= 6
						return nil, s.fail(codeInvalidUTF8, "unpaired UTF-16 surrogate escape")
					}
					s.i += 6
					r = utf16.DecodeRune(r, r2)
				}
				n += utf8.RuneLen(r)
			default:
				return nil, s.fail(codeInvalidJSON, "invalid escape in a string")
			}
		case c < 0x20:
			return nil, s.fail(codeInvalidJSON, "control character in a string (escape it)")
		case c < utf8.RuneSelf:
			s.i++
			n++
		default:
			r, size := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && size == 1 {
				return nil, s.fail(codeInvalidUTF8, "invalid UTF-8 in a string")
			}
			s.i += size
			n += size
		}
	}
}

func (s *scanner) hex4(at int) (rune, bool) {
	if at+4 > len(s.b) {
		return 0, false
	}
	var r rune
	for _, c := range s.b[at : at+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// unescapeKey decodes a key already checked by str.
func (s *scanner) unescapeKey(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'u':
			r, _ := s.hex4At(raw, i+2)
			i += 6
			if utf16.IsSurrogate(r) {
				r2, _ := s.hex4At(raw, i+2)
				r = utf16.DecodeRune(r, r2)
				i += 6
			}
			out = utf8.AppendRune(out, r)
		default:
			out = append(out, unescapeByte(raw[i+1]))
			i += 2
		}
	}
	return out
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

func (s *scanner) hex4At(b []byte, at int) (rune, bool) {
	saved := s.b
	s.b = b
	r, ok := s.hex4(at)
	s.b = saved
	return r, ok
}

func (s *scanner) number() *scanError {
	start := s.i
	if s.b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i >= len(s.b) {
		return s.fail(codeInvalidJSON, "invalid number")
	}
	if s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return s.fail(codeInvalidJSON, "invalid number")
	}
	float := false
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		float = true
		if digits() == 0 {
			return s.fail(codeInvalidJSON, "invalid number: no digits after '.'")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		float = true
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return s.fail(codeInvalidJSON, "invalid number: no digits in the exponent")
		}
	}
	// An integer of up to 308 digits is within float64's range; only
	// longer ones and those with a fraction or exponent need parsing.
	if float || s.i-start > 308 {
		f, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
		if err != nil && errors.Is(err, strconv.ErrRange) && math.IsInf(f, 0) {
			s.i = start
			return s.fail(codeNumberOverflow, "number outside the range of a 64-bit float")
		}
	}
	return nil
}
