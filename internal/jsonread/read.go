// Package jsonread is trackstream's one reader of JSON from untrusted
// bytes (request bodies, Kafka records). A Decoder checks the grammar and
// the limits a Limits sets (nesting depth, string sizes, UTF-8, surrogate
// escapes, duplicate keys, number ranges, data after the value) and
// reports a problem as an *Error with its JSON path and byte offset.
// What it has checked comes out as a Value, the only thing the fast
// walking, unquoting and compacting of value.go accept: they rely on the
// text being well-formed, and the type makes sure it is.
package jsonread

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits say what a Decoder accepts besides JSON's grammar.
type Limits struct {
	// MaxDepth caps the nesting of objects and arrays (1 for a flat
	// object). It must be positive.
	MaxDepth int
	// MaxString, when positive, caps the decoded bytes of every string,
	// keys included. Facts.LongestString reports the longest either way.
	MaxString int
	// Only64BitIntegers refuses integer literals (no fraction, no
	// exponent) outside the ranges of int64 and uint64, the integers
	// ClickHouse's JSON column can hold. Facts.WideInteger reports them
	// either way.
	Only64BitIntegers bool
	// Lenient accepts what encoding/json accepts: invalid UTF-8 and
	// unpaired UTF-16 surrogate escapes (decoded as U+FFFD), duplicate
	// keys and numbers outside float64's range. Without it all of these
	// are refused.
	Lenient bool
}

// Facts are what a Decoder saw in the text it accepted.
type Facts struct {
	// LongestString is the decoded size of the longest string, keys
	// included.
	LongestString int
	// WideInteger: some integer literal is outside the ranges of int64
	// and uint64.
	WideInteger bool
	// Spaces: there is whitespace between the tokens of a value, so the
	// text is not compact.
	Spaces bool
}

// Error is one problem a Decoder found: a machine-readable code (one of
// the Code constants), the JSON path where it is (e.g.
// events[2].properties.price, "" for the top level), the byte offset in
// the decoder's input and what is wrong.
type Error struct {
	Code   string
	Path   string
	Offset int
	Msg    string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s at byte %d", e.Msg, e.Offset)
	}
	return fmt.Sprintf("%s: %s at byte %d", e.Path, e.Msg, e.Offset)
}

// The codes of Error.
const (
	CodeInvalidJSON    = "invalid_json"
	CodeInvalidUTF8    = "invalid_utf8"
	CodeDuplicateKey   = "duplicate_key"
	CodeTooDeep        = "too_deep"
	CodeNumberOverflow = "number_overflow"
	CodeStringTooLong  = "string_too_long"
)

// Validate checks that b is exactly one JSON value within lim
// (surrounding whitespace allowed) and returns it without that
// whitespace, with the facts seen on the way. It allocates only for the
// path of an error, for escaped keys, for objects of many keys, for more
// than 32 keys in the open objects and for nesting deeper than 8.
func Validate(b []byte, lim Limits) (Value, Facts, *Error) {
	v, facts, _, err := validate(b, lim, nil, false)
	return v, facts, err
}

// Member is one member of an object: its decoded key (a sub-slice of the
// input unless it holds escapes) and its value.
type Member struct {
	Key   []byte
	Value Value
}

// ValidateObject is Validate that, when the value is an object, also
// appends its members to members, in order, as Value.Members walks them:
// a caller that reads the top level of a body gets it from the pass that
// checks the body instead of reading the body twice. On an error members
// may hold some of them.
func ValidateObject(b []byte, lim Limits, members []Member) (Value, Facts, []Member, *Error) {
	return validate(b, lim, members, true)
}

// decoders keeps validate's Decoders. A Decoder is about 1.2 KiB: on
// validate's stack it made ingest's /track requests need more than the
// 8 KiB a goroutine's stack starts with, so every one of ingest's
// connection goroutines kept a 16 KiB stack (16 MiB at 1,000
// connections, S5 in docs/benchmarks.md). The pool costs no allocation
// once warm.
var decoders = sync.Pool{New: func() any { return new(Decoder) }}

// validate is Validate, and ValidateObject when collect is set.
func validate(b []byte, lim Limits, members []Member, collect bool) (Value, Facts, []Member, *Error) {
	d := decoders.Get().(*Decoder)
	defer d.release()
	d.Reset(b, lim)
	d.ws()
	if d.i >= len(b) {
		return Value{}, Facts{}, members, d.fail(CodeInvalidJSON, "the input is empty; it must be a JSON value")
	}
	start := d.i
	d.facts.Spaces = false
	var err *Error
	if collect && b[d.i] == '{' {
		members, err = d.object(members, true)
	} else {
		err = d.value()
	}
	if err != nil {
		return Value{}, Facts{}, members, err
	}
	v, facts := Value{b[start:d.i]}, d.facts
	if err := d.end(); err != nil {
		return Value{}, Facts{}, members, err
	}
	return v, facts, members, nil
}

// Decoder reads one JSON value from untrusted bytes, checking it as it
// goes, either whole (Value, Skip) or member by member (BeginObject,
// NextMember, String). Its zero value is unusable; call Reset. A Decoder
// needs no allocation for its first levels of nesting, so one declared
// as a local variable stays on the stack.
type Decoder struct {
	b     []byte
	i     int
	lim   Limits
	facts Facts
	// depth frames are open: the first ones in shallow, the others in
	// deep. shallow is indexed in place, never sliced, so that d holds
	// no pointer into itself and can stay on the stack.
	depth   int
	shallow [8]frame
	deep    []frame
	// nkeys keys of the open objects are kept, for duplicate keys: the
	// first ones in shallowKeys, the others in deepKeys, in place as the
	// frames are (a Decoder pointing into itself, or to its caller's
	// stack, would be moved to the heap: one allocation per Validate).
	nkeys       int
	shallowKeys [32][]byte
	deepKeys    [][]byte
}

// frame is one open object or array, for error paths and duplicate keys.
// Its counts are 32-bit, to keep it small: inputs are bounded far below
// 2 GiB.
type frame struct {
	key   []byte              // current key of an object
	seen  map[string]struct{} // keys of an object of many keys
	n     int32               // members or elements read so far
	keys  int32               // index of the first of this object's keys (see Decoder.key)
	array bool
}

// manyKeys is the object size beyond which duplicate keys are found with a
// map rather than by comparing with every earlier key.
const manyKeys = 32

// Reset readies d to read b within lim.
func (d *Decoder) Reset(b []byte, lim Limits) {
	d.b, d.i, d.lim, d.facts = b, 0, lim, Facts{}
	d.depth, d.deep, d.nkeys, d.deepKeys = 0, d.deep[:0], 0, d.deepKeys[:0]
}

// release gives d back to decoders, holding nothing of its input: a
// pooled Decoder must not keep a request's body alive.
func (d *Decoder) release() {
	d.b = nil
	clear(d.shallow[:])
	clear(d.shallowKeys[:])
	clear(d.deep[:cap(d.deep)])
	clear(d.deepKeys[:cap(d.deepKeys)])
	decoders.Put(d)
}

// key is the i-th key kept for duplicate keys.
func (d *Decoder) key(i int) []byte {
	if i < len(d.shallowKeys) {
		return d.shallowKeys[i]
	}
	return d.deepKeys[i-len(d.shallowKeys)]
}

// keepKey keeps key as the next key of the innermost object.
func (d *Decoder) keepKey(key []byte) {
	if d.nkeys < len(d.shallowKeys) {
		d.shallowKeys[d.nkeys] = key
	} else {
		d.deepKeys = append(d.deepKeys[:d.nkeys-len(d.shallowKeys)], key)
	}
	d.nkeys++
}

// frame is the i-th open frame, from the outermost.
func (d *Decoder) frame(i int) *frame {
	if i < len(d.shallow) {
		return &d.shallow[i]
	}
	return &d.deep[i-len(d.shallow)]
}

// BeginObject reads the opening brace of an object (after any
// whitespace); read its members with NextMember. Like every error of a
// Decoder, its error is an *Error.
func (d *Decoder) BeginObject() error {
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return d.fail(CodeInvalidJSON, "expected an object")
	}
	if err := d.enter(false); err != nil {
		return err
	}
	return nil
}

// NextMember reads up to the value of the next member of the object
// BeginObject opened and returns its decoded key (a sub-slice of the
// input unless it holds escapes), or ok false after the closing brace.
// Read the value before calling NextMember again.
func (d *Decoder) NextMember() (key []byte, ok bool, err error) {
	key, ok, e := d.member()
	if e != nil {
		return nil, false, e
	}
	return key, ok, nil
}

// Skip checks and passes over the next value.
func (d *Decoder) Skip() error {
	if err := d.value(); err != nil {
		return err
	}
	return nil
}

// Value checks the next value and returns it.
func (d *Decoder) Value() (Value, error) {
	start := d.i
	if err := d.value(); err != nil {
		return Value{}, err
	}
	return Value{d.b[start:d.i]}, nil
}

// String reads the next value, which must be a string, and returns it
// decoded.
func (d *Decoder) String() (string, error) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return "", d.fail(CodeInvalidJSON, "expected a string")
	}
	raw, plain, err := d.str()
	if err != nil {
		return "", err
	}
	if plain {
		return string(raw), nil
	}
	return string(unescape(nil, raw)), nil
}

// Null passes over a null literal if one is next.
func (d *Decoder) Null() bool {
	if len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

// End checks that only whitespace follows what d has read.
func (d *Decoder) End() error {
	if err := d.end(); err != nil {
		return err
	}
	return nil
}

func (d *Decoder) end() *Error {
	d.ws()
	if d.i < len(d.b) {
		return d.fail(CodeInvalidJSON, "unexpected data after the JSON value")
	}
	return nil
}

func (d *Decoder) fail(code, msg string) *Error {
	return &Error{Code: code, Path: d.path(), Offset: d.i, Msg: msg}
}

// path renders the open frames as a JSON path: a.b[3].c.
func (d *Decoder) path() string {
	var sb strings.Builder
	for i := range d.depth {
		switch f := d.frame(i); {
		case f.array:
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(int(max(f.n-1, 0))))
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

func (d *Decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\r', '\n':
			d.i++
			d.facts.Spaces = true
		default:
			return
		}
	}
}

// value checks and passes over the value at d.i.
func (d *Decoder) value() *Error {
	if d.i >= len(d.b) {
		return d.fail(CodeInvalidJSON, "unexpected end of JSON")
	}
	switch c := d.b[d.i]; {
	case c == '{':
		_, err := d.object(nil, false)
		return err
	case c == '[':
		return d.array()
	case c == '"':
		_, _, err := d.str()
		return err
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case c >= utf8.RuneSelf && !d.lim.Lenient:
		if r, _ := utf8.DecodeRune(d.b[d.i:]); r == utf8.RuneError {
			return d.fail(CodeInvalidUTF8, "invalid UTF-8")
		}
	}
	return d.fail(CodeInvalidJSON, fmt.Sprintf("unexpected character %q", d.b[d.i]))
}

func (d *Decoder) literal(lit string) *Error {
	if len(d.b)-d.i < len(lit) || string(d.b[d.i:d.i+len(lit)]) != lit {
		return d.fail(CodeInvalidJSON, "invalid literal (want true, false or null)")
	}
	d.i += len(lit)
	return nil
}

// enter opens the object or array at d.i.
func (d *Decoder) enter(array bool) *Error {
	if d.depth+1 > d.lim.MaxDepth {
		return d.fail(CodeTooDeep, fmt.Sprintf("objects and arrays nest deeper than %d levels", d.lim.MaxDepth))
	}
	d.i++
	f := frame{array: array, keys: int32(d.nkeys)}
	if d.depth < len(d.shallow) {
		d.shallow[d.depth] = f
	} else {
		d.deep = append(d.deep[:d.depth-len(d.shallow)], f)
	}
	d.depth++
	return nil
}

// leave closes the innermost object or array (its closing bracket is
// at d.i).
func (d *Decoder) leave() {
	d.i++
	d.depth--
	d.nkeys = int(d.frame(d.depth).keys)
}

// object checks and passes over the object at d.i, appending its members
// to members when collect is set (see ValidateObject).
func (d *Decoder) object(members []Member, collect bool) ([]Member, *Error) {
	if err := d.enter(false); err != nil {
		return members, err
	}
	for {
		key, more, err := d.member()
		if err != nil || !more {
			return members, err
		}
		start := d.i
		if err := d.value(); err != nil {
			return members, err
		}
		if collect {
			members = append(members, Member{key, Value{d.b[start:d.i]}})
		}
	}
}

// member reads the separator or end before the next member of the
// innermost object, then its key and colon. It returns ok false after
// the closing brace.
func (d *Decoder) member() (key []byte, ok bool, err *Error) {
	f := d.frame(d.depth - 1)
	d.ws()
	if f.n == 0 {
		if d.i < len(d.b) && d.b[d.i] == '}' {
			d.leave()
			return nil, false, nil
		}
	} else {
		if d.i >= len(d.b) {
			return nil, false, d.fail(CodeInvalidJSON, "unexpected end of JSON in an object")
		}
		switch d.b[d.i] {
		case ',':
			d.i++
			d.ws()
		case '}':
			d.leave()
			return nil, false, nil
		default:
			return nil, false, d.fail(CodeInvalidJSON, "expected ',' or '}' in an object")
		}
	}
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false, d.fail(CodeInvalidJSON, "expected a string key")
	}
	keyAt := d.i
	raw, plain, err := d.str()
	if err != nil {
		return nil, false, err
	}
	key = raw
	if !plain {
		key = unescape(nil, raw)
	}
	f.key = key
	f.n++
	if !d.lim.Lenient && d.duplicate(f, key) {
		d.i = keyAt
		return nil, false, d.fail(CodeDuplicateKey, "duplicate key")
	}
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != ':' {
		return nil, false, d.fail(CodeInvalidJSON, "expected ':' after an object key")
	}
	d.i++
	d.ws()
	return key, true, nil
}

// duplicate records key as a key of the object f and reports whether
// the object had it already.
func (d *Decoder) duplicate(f *frame, key []byte) bool {
	if f.seen != nil {
		if _, dup := f.seen[string(key)]; dup {
			return true
		}
		f.seen[string(key)] = struct{}{}
		return false
	}
	for i := int(f.keys); i < d.nkeys; i++ {
		if bytes.Equal(d.key(i), key) {
			return true
		}
	}
	d.keepKey(key)
	if d.nkeys-int(f.keys) > manyKeys {
		f.seen = make(map[string]struct{}, 2*manyKeys)
		for i := int(f.keys); i < d.nkeys; i++ {
			f.seen[string(d.key(i))] = struct{}{}
		}
	}
	return false
}

func (d *Decoder) array() *Error {
	if err := d.enter(true); err != nil {
		return err
	}
	fi := d.depth - 1 // its frame moves when deeper ones are added
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.leave()
		return nil
	}
	for {
		d.ws()
		d.frame(fi).n++
		if err := d.value(); err != nil {
			return err
		}
		d.ws()
		if d.i >= len(d.b) {
			return d.fail(CodeInvalidJSON, "unexpected end of JSON in an array")
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.leave()
			return nil
		default:
			return d.fail(CodeInvalidJSON, "expected ',' or ']' in an array")
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

// str checks the string whose opening quote is at d.i and passes over
// it. It returns the bytes between the quotes and whether they are the
// decoded text as they are (no escapes, nothing to replace).
func (d *Decoder) str() (raw []byte, plain bool, err *Error) {
	start := d.i + 1
	d.i++
	plain = true
	n := 0 // decoded bytes
	for {
		// Plain ASCII runs, the bulk of most strings, need no more checks.
		j := plainRun(d.b, d.i)
		n += j - d.i
		d.i = j
		if d.i >= len(d.b) {
			return nil, false, d.fail(CodeInvalidJSON, "unterminated string")
		}
		c := d.b[d.i]
		switch {
		case c == '"':
			raw = d.b[start:d.i]
			d.i++
			if n > d.facts.LongestString {
				d.facts.LongestString = n
			}
			if d.lim.MaxString > 0 && n > d.lim.MaxString {
				d.i = start - 1
				return nil, false, d.fail(CodeStringTooLong, fmt.Sprintf("a string of %d bytes; the limit is %d", n, d.lim.MaxString))
			}
			return raw, plain, nil
		case c == '\\':
			plain = false
			if d.i+1 >= len(d.b) {
				return nil, false, d.fail(CodeInvalidJSON, "unterminated string")
			}
			switch d.b[d.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i += 2
				n++
			case 'u':
				r, ok := hex4(d.b, d.i+2)
				if !ok {
					return nil, false, d.fail(CodeInvalidJSON, `invalid \u escape`)
				}
				d.i += 6
				if utf16.IsSurrogate(r) {
					r2, ok2 := rune(-1), false
					if r < 0xDC00 && d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
						r2, ok2 = hex4(d.b, d.i+2)
					}
					switch {
					case ok2 && utf16.DecodeRune(r, r2) != utf8.RuneError:
						d.i += 6
						r = utf16.DecodeRune(r, r2)
					case !d.lim.Lenient:
						d.i -= 6
						return nil, false, d.fail(CodeInvalidUTF8, "unpaired UTF-16 surrogate escape")
					default:
						r = utf8.RuneError // what follows is read on its own
					}
				}
				n += utf8.RuneLen(r)
			default:
				return nil, false, d.fail(CodeInvalidJSON, "invalid escape in a string")
			}
		case c < 0x20:
			return nil, false, d.fail(CodeInvalidJSON, "control character in a string (escape it)")
		case c < utf8.RuneSelf:
			d.i++
			n++
		default:
			r, size := utf8.DecodeRune(d.b[d.i:])
			if r == utf8.RuneError && size == 1 {
				if !d.lim.Lenient {
					return nil, false, d.fail(CodeInvalidUTF8, "invalid UTF-8 in a string")
				}
				plain = false // decoded as U+FFFD
				d.i++
				n += utf8.RuneLen(utf8.RuneError)
				continue
			}
			d.i += size
			n += size
		}
	}
}

// hex4 reads the four hex digits of a \u escape at b[at:].
func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
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

// Largest magnitudes of integers ClickHouse's JSON column holds: uint64's
// maximum and int64's minimum.
const (
	maxUint64Text = "18446744073709551615"
	minInt64Text  = "9223372036854775808" // after the minus sign
)

func (d *Decoder) number() *Error {
	start := d.i
	if d.b[d.i] == '-' {
		d.i++
	}
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.i >= len(d.b) {
		return d.fail(CodeInvalidJSON, "invalid number")
	}
	if d.b[d.i] == '0' {
		d.i++
	} else if digits() == 0 {
		return d.fail(CodeInvalidJSON, "invalid number")
	}
	intEnd := d.i
	float := false
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		float = true
		if digits() == 0 {
			return d.fail(CodeInvalidJSON, "invalid number: no digits after '.'")
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		float = true
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return d.fail(CodeInvalidJSON, "invalid number: no digits in the exponent")
		}
	}
	if !float {
		// JSON integers have no leading zeros: compare digit counts, then
		// digits.
		mag, limit := d.b[start:intEnd], maxUint64Text
		if mag[0] == '-' {
			mag, limit = mag[1:], minInt64Text
		}
		if len(mag) > len(limit) || (len(mag) == len(limit) && string(mag) > limit) {
			d.facts.WideInteger = true
			if d.lim.Only64BitIntegers {
				d.i = start
				return d.fail(CodeNumberOverflow, "an integer outside the 64-bit range -"+minInt64Text+" to "+maxUint64Text+"; send larger values as strings")
			}
		}
	}
	// An integer of up to 308 digits is within float64's range; only
	// longer ones and those with a fraction or exponent need parsing.
	if !d.lim.Lenient && (float || d.i-start > 308) {
		f, err := strconv.ParseFloat(string(d.b[start:d.i]), 64)
		if err != nil && errors.Is(err, strconv.ErrRange) && math.IsInf(f, 0) {
			d.i = start
			return d.fail(CodeNumberOverflow, "number outside the range of a 64-bit float")
		}
	}
	return nil
}
