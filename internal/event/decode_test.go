package event

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// decodeCases are record values the hand-written decoder must read as
// encoding/json does, or refuse where encoding/json refuses.
var decodeCases = []string{
	`{"source_id":"s","id":"i","type":"t","time":"2026-11-25T10:00:00.123Z","received_at":"2026-11-25T10:00:01Z"}`,
	`{"source_id":"s","id":"i","type":"t","time":"2026-11-25T10:00:00+01:00","received_at":"2026-11-25T10:00:01Z","client_time":"2026-11-25T09:00:00.5Z","sent_at":null,"late":true,"session_id":"s1","profile_id":"p1","anonymous_id":"a","user_id":"u","ip":"203.0.113.0","user_agent":"UA \u00e9 \ud83d\ude00 \ud800 x","url":"https://e.com/","referrer":"r","properties":{"n":12345678901234567890,"a":[1,-0.5e+3,{"x":null}],"s":"\"q\""},"context":{},"name":"N","group_id":"g","previous_id":"p","country":"DE","region":"BE","city":"Berlin","geo_db":"dbip-country@2026-06-01","ch_ua":"\"Brave\";v=\"124\"","ch_ua_mobile":"?0","ch_ua_platform":"\"Linux\"","future_member":[{"a":[[]]}]}`,
	" \n{ \"source_id\" : \"s\" , \"id\":\"i\",\"type\":\"t\",\"properties\": null , \"late\": false } \t",
	`{"source_id":"s\/x\b\f\n\r\t\\","id":"i","type":"t","id":"second"}`,
	"{\"source_id\":\"bad \xff utf8\",\"id\":\"i\",\"type\":\"t\"}",
	`{}`,
	// refused by both:
	`{"source_id":"s","id":"i","type":"t","properties":{"a":1,}}`,
	`{"source_id":"s","id":"i","type":"t","properties":[01]}`,
	`{"source_id":"s","id":"i","type":"t","properties":{"a":tru}}`,
	`{"source_id":"s","id":"i","type":"t","late":"yes"}`,
	`{"source_id":5,"id":"i","type":"t"}`,
	`{"source_id":"s","id":"i","type":"t","time":"yesterday"}`,
	"{\"source_id\":\"ctl \x01\",\"id\":\"i\",\"type\":\"t\"}",
	`{"source_id":"s","id":"i","type":"t"} x`,
	`{"source_id":"s","id":"i","type":"t","properties":{"a":1}`,
	`{"source_id":"s" "id":"i"}`,
	`[]`, ``, `"x"`, `{"a":"\u12"}`, `{"a":"\x"}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`, `{"a":.5}`,
}

// TestDecodeMatchesEncodingJSON: what the decoder accepts, encoding/json
// accepts and decodes to the same event; what encoding/json refuses, the
// decoder refuses.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	accepted := 0
	for _, v := range decodeCases {
		if checkAgainstEncodingJSON(t, []byte(v)) {
			accepted++
		}
	}
	if accepted < 5 {
		t.Fatalf("only %d of the cases decoded", accepted)
	}
}

// TestDecodeRoundTrip: every record AppendJSON writes decodes to the
// event written.
func TestDecodeRoundTrip(t *testing.T) {
	ct := time.Date(2026, 11, 25, 9, 59, 58, 120_000_000, time.UTC)
	st := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	in := Event{
		SourceID: "src", ID: "id", Type: "page-view", Time: st.Add(123456789), ReceivedAt: st, ClientTime: &ct, SentAt: &st, Late: true,
		SessionID: "s", ProfileID: "p", AnonymousID: "a", UserID: "u", IP: "203.0.113.0", UserAgent: "ua <&> \u2028 é", URL: "u", Referrer: "r",
		Properties: json.RawMessage(`{"k":[1,2]}`), Context: json.RawMessage(`{"c":"d"}`), Name: "n", GroupID: "g", PreviousID: "pp", Country: "FR", GeoDB: "x@2026-01-01", ClientHints: ClientHints{UA: `"Brave";v="1"`, Mobile: "?1", Platform: `"Android"`},
	}
	v, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := Unmarshal(FormatVersion, v)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip changed the event:\n%+v\n%+v", in, out)
	}
}

func FuzzDecode(f *testing.F) {
	for _, v := range decodeCases {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		checkAgainstEncodingJSON(t, v)
	})
}

// checkAgainstEncodingJSON compares the decoder with encoding/json on v
// and reports whether it decoded.
func checkAgainstEncodingJSON(t *testing.T, v []byte) bool {
	t.Helper()
	var got, want Event
	err := decodeRecord(v, &got)
	werr := json.Unmarshal(v, &want)
	if err == nil && werr != nil && sameCaseKeys(v) {
		t.Fatalf("%q: decoded, encoding/json refuses it: %v", v, werr)
	}
	if werr == nil && err != nil && sameCaseKeys(v) {
		t.Fatalf("%q: refused (%v), encoding/json decodes it", v, err)
	}
	if err == nil && sameCaseKeys(v) && !sameEvent(got, want) {
		t.Fatalf("%q:\ngot  %+v\nwant %+v", v, got, want)
	}
	return err == nil
}

// sameCaseKeys reports whether every member name of the record object v
// is spelt as Event's tags spell it or names no field at all (the one
// documented difference: encoding/json also matches other letter cases).
func sameCaseKeys(v []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(v, &m) != nil {
		return true
	}
	fields := map[string]bool{}
	rt := reflect.TypeFor[Event]()
	for i := range rt.NumField() {
		fields[lower(jsonName(rt.Field(i)))] = true
	}
	for k := range m {
		if fields[lower(k)] && !hasTag(rt, k) {
			return false
		}
	}
	return true
}

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	for i := range len(tag) {
		if tag[i] == ',' {
			return tag[:i]
		}
	}
	return tag
}

func hasTag(rt reflect.Type, k string) bool {
	for i := range rt.NumField() {
		if jsonName(rt.Field(i)) == k {
			return true
		}
	}
	return false
}

// lower folds ASCII and the two non-ASCII letters encoding/json folds
// onto ASCII ones (the Kelvin sign and the long s).
func lower(s string) string {
	r := []rune(s)
	for i, c := range r {
		switch {
		case c >= 'A' && c <= 'Z':
			r[i] = c + 'a' - 'A'
		case c == '\u212a':
			r[i] = 'k'
		case c == '\u017f':
			r[i] = 's'
		}
	}
	return string(r)
}

func sameEvent(a, b Event) bool {
	timesEqual := func(x, y *time.Time) bool {
		return (x == nil) == (y == nil) && (x == nil || x.Equal(*y))
	}
	if !a.Time.Equal(b.Time) || !a.ReceivedAt.Equal(b.ReceivedAt) || !timesEqual(a.ClientTime, b.ClientTime) || !timesEqual(a.SentAt, b.SentAt) {
		return false
	}
	a.Time, b.Time, a.ReceivedAt, b.ReceivedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	a.ClientTime, b.ClientTime, a.SentAt, b.SentAt = nil, nil, nil, nil
	if len(a.Properties) == 0 && len(b.Properties) == 0 {
		a.Properties, b.Properties = nil, nil
	}
	if len(a.Context) == 0 && len(b.Context) == 0 {
		a.Context, b.Context = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

// BenchmarkUnmarshal measures decoding one realistic record, the
// processor's per-record parse.
func BenchmarkUnmarshal(b *testing.B) {
	e := benchEvent()
	v, err := e.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal(FormatVersion, v); err != nil {
			b.Fatal(err)
		}
	}
}
