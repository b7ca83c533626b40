package ingest

import (
	"encoding/base64"
	"encoding/json"
	"hash/maphash"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/trackstream/trackstream/internal/jsonread"
	"github.com/trackstream/trackstream/internal/sources"
)

func TestClientIP(t *testing.T) {
	r, err := newIPResolver([]string{"10.0.0.0/8", "192.0.2.1", "::ffff:172.16.0.1"}, "X-Forwarded-For")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		peer, header, want string
	}{
		{"198.51.100.1", "", "198.51.100.1"},
		{"198.51.100.1", "203.0.113.5", "198.51.100.1"}, // untrusted peer: header ignored
		{"10.1.1.1", "203.0.113.5", "203.0.113.5"},
		{"192.0.2.1", "203.0.113.5, 10.2.2.2", "203.0.113.5"},
		{"192.0.2.1", "6.6.6.6, 203.0.113.5, 10.2.2.2", "203.0.113.5"}, // a forged left part is skipped
		{"10.1.1.1", "10.2.2.2, 10.3.3.3", "10.2.2.2"},                 // all trusted: the leftmost
		{"10.1.1.1", "garbage", "10.1.1.1"},
		{"10.1.1.1", "203.0.113.5, garbage", "10.1.1.1"},
		{"::ffff:10.1.1.1", "2001:db8::7", "2001:db8::7"},
		{"172.16.0.1", "203.0.113.9", "203.0.113.9"},
	} {
		got := r.clientIP(netip.MustParseAddr(tc.peer), tc.header)
		if got.String() != tc.want {
			t.Errorf("clientIP(%s, %q) = %s, want %s", tc.peer, tc.header, got, tc.want)
		}
	}
	if _, err := newIPResolver([]string{"not-an-ip"}, "X-Forwarded-For"); err == nil {
		t.Error("a malformed trusted proxy was accepted")
	}
}

func TestApplyIPPolicy(t *testing.T) {
	for _, tc := range []struct {
		ip     string
		policy sources.IPPolicy
		want   string
	}{
		{"203.0.113.77", sources.IPKeep, "203.0.113.77"},
		{"203.0.113.77", sources.IPTruncate, "203.0.113.0"},
		{"203.0.113.77", sources.IPDrop, ""},
		{"::ffff:203.0.113.77", sources.IPTruncate, "203.0.113.0"},
		{"2001:db8:abcd:12::1", sources.IPTruncate, "2001:db8:abcd::"},
		{"2001:db8:abcd:12::1", sources.IPKeep, "2001:db8:abcd:12::1"},
		{"203.0.113.77", "", ""}, // an unknown policy keeps nothing
	} {
		if got := applyIPPolicy(netip.MustParseAddr(tc.ip), tc.policy); got != tc.want {
			t.Errorf("applyIPPolicy(%s, %q) = %q, want %q", tc.ip, tc.policy, got, tc.want)
		}
	}
	if got := applyIPPolicy(netip.Addr{}, sources.IPKeep); got != "" {
		t.Errorf("an invalid address became %q", got)
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter()
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		if ok, _ := l.allow("a", 3, t0); !ok {
			t.Fatalf("request %d of a burst of 3 refused", i)
		}
	}
	ok, wait := l.allow("a", 3, t0)
	if ok || wait <= 0 || wait > time.Second/3+time.Millisecond {
		t.Fatalf("4th request: ok=%v wait=%v, want refused with a wait up to 1/3 s", ok, wait)
	}
	if ok, _ := l.allow("b", 3, t0); !ok {
		t.Fatal("another source was limited")
	}
	if ok, _ := l.allow("a", 3, t0.Add(wait)); !ok {
		t.Fatal("refused after waiting the returned time")
	}
	if ok, _ := l.allow("a", 0, t0); !ok {
		t.Fatal("rate 0 must be unlimited")
	}
	// A changed rate starts a fresh bucket.
	if ok, _ := l.allow("a", 10, t0); !ok {
		t.Fatal("a raised rate did not apply")
	}
	// Idle time refills up to the burst only.
	for i := range 10 {
		if ok, _ := l.allow("c", 2, t0.Add(time.Hour)); ok != (i < 2) {
			t.Fatalf("after an idle hour, request %d: ok=%v; the burst is 2", i, ok)
		}
	}
}

func TestParseBasicAuth(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		header, user string
		ok           bool
	}{
		{"Basic " + enc("key:"), "key", true},
		{"basic " + enc("key:secret"), "key", true},
		{"Basic " + enc("nocolon"), "", false},
		{"Basic !!!", "", false},
		{"Bearer " + enc("key:"), "", false},
		{"", "", false},
	} {
		user, _, ok := parseBasicAuth(tc.header)
		if user != tc.user || ok != tc.ok {
			t.Errorf("parseBasicAuth(%q) = %q, %v; want %q, %v", tc.header, user, ok, tc.user, tc.ok)
		}
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"}, // never cut a rune in half
		{"a\xffb", 5, "a\uFFFDb"},
	} {
		if got := clip(tc.in, tc.n); got != tc.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func FuzzParseBasicAuth(f *testing.F) {
	f.Add("Basic " + base64.StdEncoding.EncodeToString([]byte("key:")))
	f.Add("basic !!")
	f.Fuzz(func(t *testing.T, h string) {
		user, pass, ok := parseBasicAuth(h)
		if !ok && (user != "" || pass != "") {
			t.Fatalf("failed parse returned %q, %q", user, pass)
		}
		if ok {
			again, _, ok2 := parseBasicAuth("Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
			if !ok2 || again != user {
				t.Fatalf("round trip of %q lost the user", user)
			}
		}
	})
}

func FuzzClientIP(f *testing.F) {
	r, err := newIPResolver([]string{"10.0.0.0/8"}, "X-Forwarded-For")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("203.0.113.5, 10.1.1.1", true)
	f.Add(" , ,", false)
	f.Fuzz(func(t *testing.T, header string, trustedPeer bool) {
		peer := netip.MustParseAddr("198.51.100.1")
		if trustedPeer {
			peer = netip.MustParseAddr("10.9.9.9")
		}
		got := r.clientIP(peer, header)
		if !got.IsValid() {
			t.Fatalf("clientIP(%s, %q) is invalid", peer, header)
		}
		if !trustedPeer && got != peer {
			t.Fatalf("an untrusted peer's header %q was believed: %s", header, got)
		}
	})
}

// TestSchemaValueMatchesJSONSchemaDecoder: the value built from scanned
// JSON for schema validation is the one jsonschema's own decoder builds.
func TestSchemaValueMatchesJSONSchemaDecoder(t *testing.T) {
	for _, doc := range []string{
		`{}`, `[]`, `"x"`, `true`, `false`, `null`, `0`, `-1.5e300`,
		`{"n":12345678901234567890,"f":0.1,"s":"a\"\\\u00e9\ud83d\ude00","a":[1,[],{},null,true,"x"],"o":{"k":{"k":[false]}}}`,
		"{ \"sp aced\" : [ 1 , 2 ] ,\n\"\\u0041\": {} }",
	} {
		v, _, jerr := jsonread.Validate([]byte(doc), jsonread.Limits{MaxDepth: 32})
		if jerr != nil {
			t.Fatalf("%s: %v", doc, jerr)
		}
		want, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		if got := schemaValue(v); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\ngot  %#v\nwant %#v", doc, got, want)
		}
	}
}

// TestRecordsAreCompact: JSON objects taken from a body with whitespace
// between tokens reach Kafka compacted (whitespace inside strings kept),
// and from a compact body as they were sent.
func TestRecordsAreCompact(t *testing.T) {
	lim := goldenLimits()
	for _, tc := range []struct{ body, props, ctx string }{
		{
			body:  "{ \"source\" : {\"id\":\"src_test\"},\n \"events\": [ {\"type\":\"t\", \"properties\": { \"a b\" : [ 1 ,\t2 ], \"s\": \"x  \\\" y\" },\r\n \"context\": { } } ] }",
			props: `{"a b":[1,2],"s":"x  \" y"}`, ctx: `{}`,
		},
		{
			body:  `{"source":{"id":"src_test"},"events":[{"type":"t","properties":{"a":[1,2],"s":"x  y"},"context":{"k":null}}]}`,
			props: `{"a":[1,2],"s":"x  y"}`, ctx: `{"k":null}`,
		},
	} {
		b, err := decodeTrack([]byte(tc.body), lim, maphash.MakeSeed())
		if err != nil {
			t.Fatal(err)
		}
		src, _ := goldenSources().Get("src_test")
		events, rejected := judge(b, &src, &goldenMeta, &lim, goldenSchemas(t), nil)
		if len(events) != 1 {
			t.Fatalf("%v", rejected)
		}
		rs := new(recordSet)
		if err := rs.encode(events); err != nil {
			t.Fatal(err)
		}
		recs := rs.recs
		v := string(recs[0].Value)
		if !strings.Contains(v, `"properties":`+tc.props) || !strings.Contains(v, `"context":`+tc.ctx) {
			t.Errorf("record %s lacks properties %s or context %s", v, tc.props, tc.ctx)
		}
	}
}

// TestPlainResponseMatchesEncodingJSON: the hand-written answer is what
// encoding/json writes, and anything it cannot write plainly is left to
// encoding/json.
func TestPlainResponseMatchesEncodingJSON(t *testing.T) {
	for _, resp := range []trackResponse{
		{Accepted: 1, IDs: []string{"0193a5f2-7c1e-7a3b-9f00-5d2c8e4b1a77"}, Rejected: []Rejection{}},
		{Accepted: 3, IDs: []string{"a", "b-1", "c_2:x"}, Rejected: []Rejection{}},
		{Accepted: 1, IDs: []string{"a"}, Rejected: []Rejection{}, Profile: &profileRef{"0f8e2d6c-31b4-4d8e-9a51-2c7d1f0e9b3a"}},
	} {
		got, ok := appendPlainResponse(nil, resp)
		want, _ := json.Marshal(resp)
		if !ok || string(got) != string(want) {
			t.Errorf("got %s (%v), want %s", got, ok, want)
		}
	}
	for _, resp := range []trackResponse{
		{Accepted: 1, IDs: []string{`a"b`}, Rejected: []Rejection{}},
		{Accepted: 1, IDs: []string{"é"}, Rejected: []Rejection{}},
		{Accepted: 1, IDs: []string{"a<b"}, Rejected: []Rejection{}},
		{Accepted: 1, IDs: []string{"a"}, Rejected: []Rejection{}, Profile: &profileRef{`p"1`}},
		{Accepted: 1, IDs: []string{"a"}, Rejected: []Rejection{{Index: 1, Path: "events[1]", Code: "x", Reason: "y"}}},
	} {
		if got, ok := appendPlainResponse(nil, resp); ok {
			t.Errorf("%+v written plainly as %s", resp, got)
		}
	}
}
