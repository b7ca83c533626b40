package jsonread

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidate(t *testing.T) {
	lim := Limits{MaxDepth: 4, MaxString: 8, Only64BitIntegers: true}
	for _, tc := range []struct {
		in   string
		code string // empty: accepted
		path string
	}{
		{`{}`, "", ""},
		{` {"a":[1,-2.5e3,true,false,null,"x"]} `, "", ""},
		{`{"s":"\u00e9\ud83d\ude00"}`, "", ""},
		{`{"a":1,"b":{"a":2}}`, "", ""}, // same key in different objects
		{`{"n":18446744073709551615,"m":-9223372036854775808,"z":-0}`, "", ""},
		{`{"n":1.8446744073709551616e19,"f":100000000000000000000000000.5}`, "", ""}, // floats: any size float64 holds
		{`{"n":18446744073709551616}`, CodeNumberOverflow, "n"},
		{`{"n":-9223372036854775809}`, CodeNumberOverflow, "n"},
		{`{"a":[1,10000000000000000000000000]}`, CodeNumberOverflow, "a[1]"},
		{`[99999999999999999999]`, CodeNumberOverflow, "[0]"},
		{``, CodeInvalidJSON, ""},
		{`{"a":1}x`, CodeInvalidJSON, ""},
		{`{"a":1}}`, CodeInvalidJSON, ""},
		{`{"a":1} {"b":2}`, CodeInvalidJSON, ""},
		{`{"a":1,}`, CodeInvalidJSON, "a"},
		{`{"a" 1}`, CodeInvalidJSON, "a"},
		{`{"a":01}`, CodeInvalidJSON, "a"},
		{`{"a":1.}`, CodeInvalidJSON, "a"},
		{`{"a":1e}`, CodeInvalidJSON, "a"},
		{`{"a":tru}`, CodeInvalidJSON, "a"},
		{`{"a":"\x"}`, CodeInvalidJSON, "a"},
		{`[1,2,]`, CodeInvalidJSON, "[2]"},
		{`[1 2]`, CodeInvalidJSON, "[0]"},
		{"{\"a\":\"\x01\"}", CodeInvalidJSON, "a"},
		{`{"a":1,"a":2}`, CodeDuplicateKey, "a"},
		{`{"b":{"c":[{"k":1,"k":1}]}}`, CodeDuplicateKey, "b.c[0].k"},
		{`{"a":1,"\u0061":2}`, CodeDuplicateKey, "a"},
		{`{"é":1,"\u00e9":2}`, CodeDuplicateKey, "é"},
		{`{"a":[[[[1]]]]}`, CodeTooDeep, "a[0][0][0]"},
		{`{"a":{"b":{"c":{"d":{}}}}}`, CodeTooDeep, "a.b.c.d"},
		{`{"a":1e309}`, CodeNumberOverflow, "a"},
		{`{"a":-1e309}`, CodeNumberOverflow, "a"},
		{`{"a":1e-400}`, "", ""}, // underflows to 0: representable
		{`{"a":"` + strings.Repeat("9", 9) + `"}`, CodeStringTooLong, "a"},
		{`{"` + strings.Repeat("k", 9) + `":1}`, CodeStringTooLong, ""},
		{`{"a":"\ud800"}`, CodeInvalidUTF8, "a"},
		{`{"a":"\udc00\ud800"}`, CodeInvalidUTF8, "a"},
		{`{"a":"\ud800\u0041"}`, CodeInvalidUTF8, "a"},
		{"{\"a\":\"\xff\"}", CodeInvalidUTF8, "a"},
		{"{\"a\":\"\xed\xa0\x80\"}", CodeInvalidUTF8, "a"}, // UTF-8 encoded surrogate
		{"{\"\xc3\":1}", CodeInvalidUTF8, ""},
		{"{\"a\":\xc3\xa9}", CodeInvalidJSON, "a"},
		{"{\"a\":\xff}", CodeInvalidUTF8, "a"},
		{"\xef\xbb\xbf{}", CodeInvalidJSON, ""}, // a byte order mark is not JSON
	} {
		v, _, err := Validate([]byte(tc.in), lim)
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("Validate(%q) = %v, want accepted", tc.in, err)
		case tc.code != "" && err == nil:
			t.Errorf("Validate(%q) accepted, want %s", tc.in, tc.code)
		case err != nil && (err.Code != tc.code || err.Path != tc.path):
			t.Errorf("Validate(%q) = %s at %q (%v), want %s at %q", tc.in, err.Code, err.Path, err, tc.code, tc.path)
		case err == nil && string(v.Raw()) != strings.TrimSpace(tc.in):
			t.Errorf("Validate(%q) = %q, want the value without surrounding space", tc.in, v.Raw())
		}
	}
}

// TestValidateOffsetsAndMessages pins the wording and offsets senders see.
func TestValidateOffsetsAndMessages(t *testing.T) {
	lim := Limits{MaxDepth: 8, Only64BitIntegers: true}
	for in, want := range map[string]string{
		`{"p":{"big":1e400}}`:                 "p.big: number outside the range of a 64-bit float at byte 12",
		`{"p":{"n":18446744073709551616}}`:    "p.n: an integer outside the 64-bit range -9223372036854775808 to 18446744073709551615; send larger values as strings at byte 10",
		`{"p":{"price":1,"price":2}}`:         "p.price: duplicate key at byte 16",
		`{"s":"\ud800x"}`:                     "s: unpaired UTF-16 surrogate escape at byte 6",
		`{"a":1} x`:                           "unexpected data after the JSON value at byte 8",
		"{\"a\":[1,\n2,\n{\"b\":\"x\x01\"}]}": "a[2].b: control character in a string (escape it) at byte 19",
	} {
		_, _, err := Validate([]byte(in), lim)
		if err == nil || err.Error() != want {
			t.Errorf("Validate(%q) = %v, want %q", in, err, want)
		}
	}
}

// TestFacts: what Validate notes instead of refusing when the limits let
// it through.
func TestFacts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Facts
	}{
		{`{"a":"abc","b":[1,2]}`, Facts{LongestString: 3}},
		{` {"a": "x"} `, Facts{LongestString: 1, Spaces: true}},
		{`{"abcdefgh":"\u00e9"}`, Facts{LongestString: 8}},
		{`{"a":"\u00e9\u00e9"}`, Facts{LongestString: 4}},
		{`[18446744073709551616]`, Facts{WideInteger: true}},
		{`[-9223372036854775809, 1]`, Facts{WideInteger: true, Spaces: true}},
		{`[18446744073709551615,-9223372036854775808,1e30]`, Facts{}},
	} {
		_, got, err := Validate([]byte(tc.in), Limits{MaxDepth: 4})
		if err != nil || got != tc.want {
			t.Errorf("Validate(%q) facts = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestManyKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 100 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + strings.Repeat("x", i) + `":1`)
	}
	ok := b.String() + "}"
	v, _, err := Validate([]byte(ok), Limits{MaxDepth: 4})
	if err != nil {
		t.Fatalf("100 distinct keys: %v", err)
	}
	n := 0
	for m := v.Members(); ; n++ {
		if _, _, more := m.Next(); !more {
			break
		}
	}
	if n != 100 {
		t.Fatalf("Members walked %d keys, want 100", n)
	}
	dup := b.String() + `,"kxxxxx":2}`
	if _, _, err := Validate([]byte(dup), Limits{MaxDepth: 4}); err == nil || err.Code != CodeDuplicateKey || err.Path != "kxxxxx" {
		t.Fatalf("a duplicate after 100 keys: %v, want duplicate_key at kxxxxx", err)
	}
}

// TestKeysOfNestedObjects: the keys of open objects, more of them than
// a Decoder keeps in place, are told apart by object: the same key in an
// enclosing or a sibling object is no duplicate, a repeated one in the
// same object is, however deep.
func TestKeysOfNestedObjects(t *testing.T) {
	// Five levels of ten keys each, every level using the same names
	// k0..k9, the innermost object's last key given as dup.
	nest := func(dup string) string {
		var b strings.Builder
		for level := range 5 {
			b.WriteString("{")
			for k := range 9 {
				fmt.Fprintf(&b, `"k%d":%d,`, k, level)
			}
			if level < 4 {
				b.WriteString(`"k9":`)
			}
		}
		b.WriteString(`"` + dup + `":1}`)
		b.WriteString(strings.Repeat(`,"sibling":{"k0":1,"k1":2}}`, 4))
		return b.String()
	}
	if _, _, err := Validate([]byte(nest("k9")), Limits{MaxDepth: 8}); err != nil {
		t.Fatalf("same keys at five levels: %v", err)
	}
	_, _, err := Validate([]byte(nest("k3")), Limits{MaxDepth: 8})
	if err == nil || err.Code != CodeDuplicateKey || err.Path != "k9.k9.k9.k9.k3" {
		t.Fatalf("a key repeated in the fifth level: %v, want duplicate_key at k9.k9.k9.k9.k3", err)
	}
}

// TestLenient: a Lenient decoder accepts what encoding/json accepts and
// decodes strings as it does.
func TestLenient(t *testing.T) {
	lim := Limits{MaxDepth: 10000, Lenient: true}
	for _, in := range []string{
		`{"a":1,"a":2}`, `[1e400]`, `"\ud800"`, `"\ud800\u0041"`, `"\udc00\ud800\udc00"`, "\"bad \xff\xfe utf8\"",
		"{\"\xff\":1}", `"\ud83d\ude00 é \/ \b\f\n\r\t \\ \""`,
	} {
		v, _, err := Validate([]byte(in), lim)
		if err != nil {
			t.Errorf("Validate(%q) = %v, want accepted", in, err)
			continue
		}
		dec := json.NewDecoder(strings.NewReader(in))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("encoding/json refuses %q: %v", in, err)
		}
		if got := walk(t, v); !reflect.DeepEqual(got, want) {
			t.Errorf("walk(%q) = %#v, want %#v", in, got, want)
		}
		if v.Kind() == String {
			var d Decoder
			d.Reset([]byte(in), lim)
			s, err := d.String()
			if err != nil || s != want {
				t.Errorf("Decoder.String(%q) = %q, %v; want %q", in, s, err, want)
			}
		}
	}
}

// TestDecoderMembers reads an object member by member.
func TestDecoderMembers(t *testing.T) {
	in := ` { "s" : "a\"b" , "n":null, "o":{"x":[1,{"y":2}]}, "t" : true } `
	var d Decoder
	d.Reset([]byte(in), Limits{MaxDepth: 8})
	if err := d.BeginObject(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		key, ok, err := d.NextMember()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		switch string(key) {
		case "s":
			s, err := d.String()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, "s="+s)
		case "n":
			got = append(got, "n null="+map[bool]string{true: "yes", false: "no"}[d.Null()])
		default:
			v, err := d.Value()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(key)+"="+string(v.Raw()))
		}
	}
	if err := d.End(); err != nil {
		t.Fatal(err)
	}
	want := []string{`s=a"b`, "n null=yes", `o={"x":[1,{"y":2}]}`, "t=true"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for in, want := range map[string]string{
		`[]`:              "expected an object at byte 0",
		`{"b":1 "a":2}`:   "b: expected ',' or '}' in an object at byte 7",
		`{"b":1,"b":2}`:   "b: duplicate key at byte 7",
		`{"a":"x"} {}`:    "unexpected data after the JSON value at byte 10",
		`{"a":5}`:         "a: expected a string at byte 5",
		`{"a":"x"`:        "a: unexpected end of JSON in an object at byte 8",
		`{"a":"\ud800"}`:  "a: unpaired UTF-16 surrogate escape at byte 6",
		`{"a":"x","b":1}`: "",
	} {
		d.Reset([]byte(in), Limits{MaxDepth: 8})
		err := readStrings(&d)
		if (err == nil && want != "") || (err != nil && err.Error() != want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
}

// readStrings reads an object whose member a is a string, skipping the
// others, then its end.
func readStrings(d *Decoder) error {
	if err := d.BeginObject(); err != nil {
		return err
	}
	for {
		key, ok, err := d.NextMember()
		if err != nil {
			return err
		}
		if !ok {
			return d.End()
		}
		if string(key) == "a" {
			_, err = d.String()
		} else {
			err = d.Skip()
		}
		if err != nil {
			return err
		}
	}
}

func TestCompact(t *testing.T) {
	v, _, err := Validate([]byte(" { \"a\" : [ 1 , \"x y\\\" z\" ] ,\n\"b\":{} } "), Limits{MaxDepth: 4})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(v.Compact().Raw()), `{"a":[1,"x y\" z"],"b":{}}`; got != want {
		t.Fatalf("Compact = %s, want %s", got, want)
	}
	c, _, _ := Validate([]byte(`{"a":1}`), Limits{MaxDepth: 4})
	if got := c.Compact().Raw(); &got[0] != &c.Raw()[0] {
		t.Fatal("Compact copied a value that had no whitespace")
	}
}

// FuzzValidate checks Validate against encoding/json: whatever it accepts
// is valid JSON, valid UTF-8, and decodes to a value without duplicate
// keys or integers outside 64 bits; whatever encoding/json refuses it
// refuses too. A Lenient Validate accepts exactly what encoding/json
// accepts.
// checkValidateObject checks that ValidateObject answers for b what
// Validate answered (v, facts, err) and, for an object, collects the
// members Value.Members walks, after what its members buffer held.
func checkValidateObject(t *testing.T, b []byte, lim Limits, v Value, facts Facts, err *Error) {
	t.Helper()
	held := []Member{{Key: []byte("held"), Value: Value{[]byte("1")}}}
	ov, ofacts, members, oerr := ValidateObject(b, lim, held)
	if !reflect.DeepEqual(oerr, err) || !bytes.Equal(ov.Raw(), v.Raw()) || ofacts != facts {
		t.Fatalf("ValidateObject(%q) = %s, %+v, %v; Validate gives %s, %+v, %v", b, ov.Raw(), ofacts, oerr, v.Raw(), facts, err)
	}
	if err != nil {
		return
	}
	want := held
	for it := v.Members(); ; {
		key, value, ok := it.Next()
		if !ok {
			break
		}
		want = append(want, Member{key, value})
	}
	if !reflect.DeepEqual(members, want) {
		t.Fatalf("ValidateObject(%q) collected %q, Members walks %q", b, members, want)
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":[1,2,{"b":null}]}`, `{"a":1,"a":2}`, `{"a":"\ud800"}`, `[1e400]`, `"x"`, `{"\u0061":1,"a":2}`,
		`[18446744073709551616]`, `[-9223372036854775808]`, "\"\xff\"", ` [ 1 , "a b" ] `,
		` { "a\u0062" : { "c" : [ 1 ] } , "d" : "e" } `, `{"a":1,"b":{"a":1,"a":2}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, lerr := Validate(b, Limits{MaxDepth: 10000, Lenient: true})
		if (lerr == nil) != json.Valid(b) {
			t.Fatalf("Lenient Validate(%q) = %v, json.Valid = %v", b, lerr, json.Valid(b))
		}
		v, facts, err := Validate(b, Limits{MaxDepth: 16, Only64BitIntegers: true})
		checkValidateObject(t, b, Limits{MaxDepth: 16, Only64BitIntegers: true}, v, facts, err)
		if err != nil {
			if err.Code == "" || err.Msg == "" || err.Offset < 0 || err.Offset > len(b) {
				t.Fatalf("error %+v lacks a code or message or points outside the input", err)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("Validate accepted %q, which encoding/json refuses", b)
		}
		if !utf8.Valid(b) {
			t.Fatalf("Validate accepted invalid UTF-8 %q", b)
		}
		if facts.WideInteger {
			t.Fatalf("Validate accepted %q and noted a wide integer", b)
		}
		if !dupFree(b) {
			t.Fatalf("Validate accepted duplicate keys in %q", b)
		}
		// The walk over the checked value decodes what encoding/json
		// decodes (numbers as their text).
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("decode of accepted %q: %v", b, err)
		}
		if got := walk(t, v); !reflect.DeepEqual(got, want) {
			t.Fatalf("walk(%q) = %#v, encoding/json decodes %#v", b, got, want)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, b); err != nil {
			t.Fatal(err)
		}
		if got := v.Compact().Raw(); !bytes.Equal(got, compact.Bytes()) {
			t.Fatalf("Compact(%q) = %q, json.Compact gives %q", b, got, compact.Bytes())
		}
		if facts.Spaces != (len(compact.Bytes()) != len(v.Raw())) {
			t.Fatalf("Validate(%q) facts.Spaces = %v", b, facts.Spaces)
		}
	})
}

// walk decodes a checked value through Members, Elements and Text, the
// way encoding/json decodes into any with UseNumber.
func walk(t *testing.T, v Value) any {
	t.Helper()
	switch v.Kind() {
	case Object:
		m := map[string]any{}
		for it := v.Members(); ; {
			k, e, ok := it.Next()
			if !ok {
				return m
			}
			m[string(k)] = walk(t, e)
		}
	case Array:
		a := []any{}
		for it := v.Elements(); ; {
			e, ok := it.Next()
			if !ok {
				return a
			}
			a = append(a, walk(t, e))
		}
	case String:
		// AppendText appends the same text, after what dst holds.
		if got := v.AppendText([]byte("dst:")); string(got) != "dst:"+v.Text() {
			t.Fatalf("AppendText(%s) = %q, Text = %q", v.Raw(), got, v.Text())
		}
		return v.Text()
	case Bool:
		return v.Raw()[0] == 't'
	case Null:
		return nil
	case Number:
		return json.Number(v.Raw())
	}
	t.Fatalf("walk of nothing")
	return nil
}

// dupFree checks with encoding/json's token stream that no object of b
// repeats a key.
func dupFree(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	type obj struct {
		keys   map[string]bool
		object bool
		expect bool // next string token is a key
	}
	var stack []*obj
	for {
		tok, err := dec.Token()
		if err != nil {
			return true
		}
		var top *obj
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.object {
					top.expect = true
				}
				stack = append(stack, &obj{keys: map[string]bool{}, object: v == '{', expect: true})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.object && top.expect {
				if top.keys[v] {
					return false
				}
				top.keys[v] = true
				top.expect = false
				continue
			}
		}
		if top != nil && top.object {
			top.expect = true
		}
	}
}

// TestDeepPaths: paths stay right past the frames a Decoder keeps inline.
func TestDeepPaths(t *testing.T) {
	const n = 20
	in := strings.Repeat(`[0,{"a":1,"k":`, n) + "x" + strings.Repeat("}]", n)
	_, _, err := Validate([]byte(in), Limits{MaxDepth: 64})
	want := strings.Repeat("[1].k", n)
	if err == nil || err.Code != CodeInvalidJSON || err.Path != want {
		t.Fatalf("Validate = %v, want invalid_json at %s", err, want)
	}
	ok := strings.Repeat(`[0,{"a":1,"k":`, n) + "1" + strings.Repeat("}]", n)
	if _, _, err := Validate([]byte(ok), Limits{MaxDepth: 2 * n}); err != nil {
		t.Fatalf("%d levels within a limit of %d: %v", 2*n, 2*n, err)
	}
	if _, _, err := Validate([]byte(ok), Limits{MaxDepth: 2*n - 1}); err == nil || err.Code != CodeTooDeep {
		t.Fatalf("%d levels over a limit of %d: %v", 2*n, 2*n-1, err)
	}
}
