package ingest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestScanJSON(t *testing.T) {
	lim := scanLimits{MaxDepth: 4, MaxString: 8}
	for _, tc := range []struct {
		in   string
		code string // empty: accepted
		path string
	}{
		{`{}`, "", ""},
		{` {"a":[1,-2.5e3,true,false,null,"x"]} `, "", ""},
		{`{"n":12345678901234567890123456789}`, "", ""}, // big integers are fine: kept as text
		{`{"s":"\u00e9\ud83d\ude00"}`, "", ""},
		{`{"a":1,"b":{"a":2}}`, "", ""}, // same key in different objects
		{``, codeInvalidJSON, ""},
		{`{"a":1}x`, codeInvalidJSON, ""},
		{`{"a":1}}`, codeInvalidJSON, ""},
		{`{"a":1} {"b":2}`, codeInvalidJSON, ""},
		{`{"a":1,}`, codeInvalidJSON, "a"},
		{`{"a" 1}`, codeInvalidJSON, "a"},
		{`{"a":01}`, codeInvalidJSON, "a"},
		{`{"a":1.}`, codeInvalidJSON, "a"},
		{`{"a":1e}`, codeInvalidJSON, "a"},
		{`{"a":tru}`, codeInvalidJSON, "a"},
		{`{"a":"\x"}`, codeInvalidJSON, "a"},
		{"{\"a\":\"\x01\"}", codeInvalidJSON, "a"},
		{`{"a":1,"a":2}`, codeDuplicateKey, "a"},
		{`{"b":{"c":[{"k":1,"k":1}]}}`, codeDuplicateKey, "b.c[0].k"},
		{`{"a":1,"\u0061":2}`, codeDuplicateKey, "a"},
		{`{"é":1,"\u00e9":2}`, codeDuplicateKey, "é"},
		{`{"a":[[[[1]]]]}`, codeTooDeep, "a[0][0][0]"},
		{`{"a":{"b":{"c":{"d":{}}}}}`, codeTooDeep, "a.b.c.d"},
		{`{"a":1e309}`, codeNumberOverflow, "a"},
		{`{"a":-1e309}`, codeNumberOverflow, "a"},
		{`{"a":1e-400}`, "", ""}, // underflows to 0: representable
		{`{"a":"` + strings.Repeat("9", 9) + `"}`, codeStringTooLong, "a"},
		{`{"` + strings.Repeat("k", 9) + `":1}`, codeStringTooLong, ""},
		{`{"a":"\ud800"}`, codeInvalidUTF8, "a"},
		{`{"a":"\udc00\ud800"}`, codeInvalidUTF8, "a"},
		{`{"a":"\ud800\u0041"}`, codeInvalidUTF8, "a"},
		{"{\"a\":\"\xff\"}", codeInvalidUTF8, "a"},
		{"{\"a\":\"\xed\xa0\x80\"}", codeInvalidUTF8, "a"}, // UTF-8 encoded surrogate
		{"{\"\xc3\":1}", codeInvalidUTF8, ""},
		{"\xef\xbb\xbf{}", codeInvalidJSON, ""}, // a byte order mark is not JSON
	} {
		err := scanJSON([]byte(tc.in), lim)
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("scanJSON(%q) = %v, want accepted", tc.in, err)
		case tc.code != "" && err == nil:
			t.Errorf("scanJSON(%q) accepted, want %s", tc.in, tc.code)
		case err != nil && (err.Code != tc.code || err.Path != tc.path):
			t.Errorf("scanJSON(%q) = %s at %q (%v), want %s at %q", tc.in, err.Code, err.Path, err, tc.code, tc.path)
		}
	}
}

func TestScanJSONManyKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 100 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + strings.Repeat("x", i) + `":1`)
	}
	ok := b.String() + "}"
	if err := scanJSON([]byte(ok), scanLimits{MaxDepth: 4}); err != nil {
		t.Fatalf("100 distinct keys: %v", err)
	}
	dup := b.String() + `,"kxxxxx":2}`
	if err := scanJSON([]byte(dup), scanLimits{MaxDepth: 4}); err == nil || err.Code != codeDuplicateKey {
		t.Fatalf("a duplicate after 100 keys: %v, want duplicate_key", err)
	}
	if n := objectKeys([]byte(ok)); n != 100 {
		t.Fatalf("objectKeys = %d, want 100", n)
	}
}

// FuzzScanJSON checks scanJSON against encoding/json: whatever it accepts
// is valid JSON, valid UTF-8, and decodes to a value without duplicate
// keys; whatever encoding/json refuses it refuses too.
func FuzzScanJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2,{"b":null}]}`, `{"a":1,"a":2}`, `{"a":"\ud800"}`, `[1e400]`, `"x"`, `{"\u0061":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := scanJSON(b, scanLimits{MaxDepth: 16})
		if err != nil {
			if err.Code == "" || err.Msg == "" || err.Offset < 0 || err.Offset > len(b) {
				t.Fatalf("error %+v lacks a code or message or points outside the input", err)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("scanJSON accepted %q, which encoding/json refuses", b)
		}
		if !utf8.Valid(b) {
			t.Fatalf("scanJSON accepted invalid UTF-8 %q", b)
		}
		// Re-encoding what encoding/json decodes keeps every key only
		// when there were no duplicates: compare key counts.
		var v any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("decode of accepted %q: %v", b, err)
		}
		if got, want := countKeys(v), strings.Count(string(b), ":"); got > want {
			t.Fatalf("decoded %d keys from %q with %d colons", got, b, want)
		}
		if dupFree(t, b) != true {
			t.Fatalf("scanJSON accepted duplicate keys in %q", b)
		}
	})
}

func countKeys(v any) int {
	switch x := v.(type) {
	case map[string]any:
		n := len(x)
		for _, e := range x {
			n += countKeys(e)
		}
		return n
	case []any:
		n := 0
		for _, e := range x {
			n += countKeys(e)
		}
		return n
	}
	return 0
}

// dupFree checks with encoding/json's token stream that no object of b
// repeats a key.
func dupFree(t *testing.T, b []byte) bool {
	t.Helper()
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
			case '{':
				if top != nil && top.object {
					top.expect = true
				}
				stack = append(stack, &obj{keys: map[string]bool{}, object: true, expect: true})
				continue
			case '[':
				if top != nil && top.object {
					top.expect = true
				}
				stack = append(stack, &obj{})
				continue
			default:
				stack = stack[:len(stack)-1]
				continue
			}
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
