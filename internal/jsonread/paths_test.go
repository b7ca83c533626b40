package jsonread

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// pathsOf walks v with Paths and returns what it reported: "k:" before
// each key's path and "l:" before each leaf's, segments joined by /
// ([] for an array's elements).
func pathsOf(t *testing.T, v Value, stopAt string) ([]string, error) {
	t.Helper()
	var got []string
	show := func(p []byte) string { return string(bytes.ReplaceAll(p, []byte{0}, []byte{'/'})) }
	rest, err := v.Paths([]byte("p"), func(path, key []byte) error {
		got = append(got, "k:"+show(path))
		if string(key) == stopAt {
			return errors.New("stop")
		}
		return nil
	}, func(path []byte) { got = append(got, "l:"+show(path)) })
	if err == nil && string(rest) != "p" {
		t.Errorf("Paths returned the buffer %q, want its prefix", rest)
	}
	return got, err
}

// walkSlow is Paths' reference: the same report made with Members and
// Elements at every level.
func walkSlow(v Value, path string, out *[]string) {
	switch v.Kind() {
	case Object:
		empty := true
		for it := v.Members(); ; {
			k, val, ok := it.Next()
			if !ok {
				break
			}
			empty = false
			p := path + "/" + string(k)
			*out = append(*out, "k:"+p)
			if val.Kind() != Object && val.Kind() != Array {
				*out = append(*out, "l:"+p)
				continue
			}
			walkSlow(val, p, out)
		}
		if empty {
			*out = append(*out, "l:"+path)
		}
	case Array:
		*out = append(*out, "l:"+path)
		for it := v.Elements(); ; {
			e, ok := it.Next()
			if !ok {
				break
			}
			if e.Kind() == Object || e.Kind() == Array {
				walkSlow(e, path+"/", out)
			}
		}
	}
}

func TestPaths(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{}`, "l:p"},
		{`{"a":1}`, "k:p/a l:p/a"},
		{` { "a" : { "b" : "x" , "c" : [ 1 , { "d" : null } , [ ] , [ { } ] ] } , "e" : { } , "f" : true } `,
			"k:p/a k:p/a/b l:p/a/b k:p/a/c l:p/a/c k:p/a/c//d l:p/a/c//d l:p/a/c/ l:p/a/c/ l:p/a/c// k:p/e l:p/e k:p/f l:p/f"},
		{`{"esc\"aped\u00e9":1,"ünï":[],"":-1.5e3}`, `k:p/esc"apedé l:p/esc"apedé k:p/ünï l:p/ünï k:p/ l:p/`},
		{`[{"a":1},2,"s"]`, "l:p k:p//a l:p//a"},
		{`"not an object"`, ""},
	} {
		v, _, err := Validate([]byte(tc.in), Limits{MaxDepth: 32})
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		got, werr := pathsOf(t, v, "\x00never")
		if werr != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%s:\n got %q %v\nwant %q", tc.in, strings.Join(got, " "), werr, tc.want)
		}
		var slow []string
		walkSlow(v, "p", &slow)
		if strings.Join(slow, " ") != tc.want {
			t.Errorf("%s: the reference walk gives %q", tc.in, strings.Join(slow, " "))
		}
	}
}

func TestPathsStopsAtTheKeysError(t *testing.T) {
	v, _, _ := Validate([]byte(`{"a":{"b":1,"stop":2,"c":3},"d":4}`), Limits{MaxDepth: 32})
	got, err := pathsOf(t, v, "stop")
	if err == nil || strings.Join(got, " ") != "k:p/a k:p/a/b l:p/a/b k:p/a/stop" {
		t.Errorf("got %q, %v", strings.Join(got, " "), err)
	}
}

// Paths reports what the walk with Members and Elements reports, for any
// object the hardening scan accepts.
func FuzzPaths(f *testing.F) {
	for _, s := range []string{`{"a":[{"b":[[{"c":1}]]},{}],"d":"e\"}","f":{"g":{}}}`, `{"x":[1,2,{"y":[]}]}`, `{ "a" : [ ] }`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		v, _, err := Validate([]byte(in), Limits{MaxDepth: 64})
		if err != nil || v.Kind() != Object {
			return
		}
		got, _ := pathsOf(t, v, "\x00never")
		var slow []string
		walkSlow(v, "p", &slow)
		if strings.Join(got, "\n") != strings.Join(slow, "\n") {
			t.Fatalf("%s:\n Paths %q\n walk  %q", in, got, slow)
		}
	})
}
