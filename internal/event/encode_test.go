package event

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestAppendJSONMatchesEncodingJSON: the hand-written encoder writes
// byte for byte what encoding/json writes for the same event, for
// strings that need every kind of escape.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	ct := time.Date(2026, 11, 25, 9, 59, 58, 120_000_000, time.FixedZone("x", 3600))
	st := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	hard := "quote\" back\\ nl\n cr\r tab\t bs\b ff\f nul\x00 esc\x1b del\x7f <b>&amp; ünï 😀 ls\u2028 ps\u2029 bad\xff\xfe end"
	for name, e := range map[string]Event{
		"minimal": {SourceID: "s", ID: "i", Type: "t", Time: st, ReceivedAt: st},
		"full": {
			SourceID: "src_1", ID: "0193a5f2-7c1e-7a3b-9f00-5d2c8e4b1a77", Type: "page-view",
			Time: st.Add(123456789), ReceivedAt: st, ClientTime: &ct, SentAt: &st, Late: true,
			SessionID: "s1", ProfileID: "p1", AnonymousID: "a1", UserID: "u1", IP: "203.0.113.0",
			UserAgent: "Mozilla/5.0 (X11)", URL: "https://example.com/a?b=c", Referrer: "https://ref.example/",
			Properties: json.RawMessage(`{"n":12345678901234567890,"s":"a\"b\\u00e9","f":1.5e-7,"a":[1,{"x":null}],"t":true}`),
			Context:    json.RawMessage(`{"page":{"url":"https://example.com/"},"e":{}}`),
			Name:       "Home", GroupID: "g1", PreviousID: "p0", Country: "GB", Region: "ENG", City: "London", GeoDB: "GeoLite2-City@2026-11-24",
			ClientHints: ClientHints{UA: `"Chromium";v="124", "Google Chrome";v="124"`, Mobile: "?0", Platform: `"Windows"`},
		},
		"hard strings": {SourceID: hard, ID: hard, Type: hard, Time: st, ReceivedAt: st, UserAgent: hard, Name: hard},
	} {
		want, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\ngot  %s\nwant %s", name, got, want)
		}
	}
}

func TestAppendJSONRefusesUnencodableTimes(t *testing.T) {
	bad := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	e := Event{SourceID: "s", ID: "i", Type: "t", Time: bad, ReceivedAt: time.Now()}
	if _, err := e.Marshal(); err == nil {
		t.Fatal("a year-10000 time encoded")
	}
	if _, err := json.Marshal(&e); err == nil {
		t.Fatal("encoding/json changed: it now encodes year 10000")
	}
}

// benchEvent is a realistic record's event: a page view from a browser.
func benchEvent() Event {
	st := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	return Event{
		SourceID: "src_1", ID: "0193a5f2-7c1e-7a3b-9f00-5d2c8e4b1a77", Type: "page-view", Time: st, ReceivedAt: st, ClientTime: &st,
		SessionID: "0193a5f2-7c1e-7a3b-9f00-5d2c8e4b1a78", ProfileID: "0193a5f2-7c1e-7a3b-9f00-5d2c8e4b1a79", IP: "203.0.113.0",
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		URL:       "https://shop.example.com/products/running-shoes/trail-runner-3000", Referrer: "https://www.example.org/",
		Properties: json.RawMessage(`{"url":"https://shop.example.com/products/running-shoes/trail-runner-3000?utm_source=newsletter","title":"Trail Runner 3000 - Running shoes - Example Shop","price":129.95,"currency":"EUR","tags":["running","trail","outdoor"]}`),
		Context:    json.RawMessage(`{"browser":{"language":"de-DE"},"page":{"url":"https://shop.example.com/products/running-shoes/trail-runner-3000","referrer":"https://www.example.org/"},"screen":{"height":1080,"width":1920}}`),
	}
}

// BenchmarkMarshal measures encoding one realistic record.
func BenchmarkMarshal(b *testing.B) {
	e := benchEvent()
	for _, enc := range []struct {
		name string
		fn   func() ([]byte, error)
	}{
		{"append", e.Marshal},
		{"encoding-json", func() ([]byte, error) { return json.Marshal(&e) }},
	} {
		b.Run(enc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v, err := enc.fn()
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(v)))
			}
		})
	}
}
