package store

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/testkit"
)

const (
	ctxURL = "https://shop.example/p/42?utm_source=news&q=a%20b"
	ctxRef = "https://www.google.com/search?q=shoes"
	ctxUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
)

// contextCase is a context as sent with the row's url, referrer and user
// agent, and what the context column must store.
type contextCase struct {
	name, sent         string
	url, ref, ua       string
	stored             string // "" when the text must be stored as sent
	liftsNothingReason string
}

var contextCases = []contextCase{
	{name: "tracardi", url: ctxURL, ref: ctxRef, ua: ctxUA,
		sent:   `{"page":{"url":"` + ctxURL + `","path":"/p/42","referrer":"` + ctxRef + `"},"browser":{"userAgent":"` + ctxUA + `","language":"de"},"screen":{"width":1920}}`,
		stored: `{"page":{"url":{"":"url"},"path":"/p/42","referrer":{"":"referrer"}},"browser":{"userAgent":{"":"user_agent"},"language":"de"},"screen":{"width":1920}}`},
	{name: "segment", url: ctxURL, ua: ctxUA,
		sent:   `{"ip":"203.0.113.0","userAgent":"` + ctxUA + `","page":{"referrer":"","url":"` + ctxURL + `"},"library":{"name":"analytics.js"}}`,
		stored: `{"ip":"203.0.113.0","userAgent":{"":"user_agent"},"page":{"referrer":"","url":{"":"url"}},"library":{"name":"analytics.js"}}`},
	{name: "values that need escapes", url: "https://x.example/a\"b\\c\td\x01", ua: ctxUA,
		sent: `{"page":{"url":"https://x.example/a\"b\\c\td\u0001"}}`, liftsNothingReason: "only values without quotes, backslashes and control bytes are lifted"},
	{name: "non-ASCII", url: "https://x.example/ü/€/" + "\u2028", ua: ctxUA,
		sent:   `{"page":{"url":"https://x.example/ü/€/` + "\u2028" + `"}}`,
		stored: `{"page":{"url":{"":"url"}}}`},
	{name: "escapes another writer chose", url: "https://x.example/a/b", ua: ctxUA,
		sent: `{"page":{"url":"https:\/\/x.example\/a\/b"},"userAgent":"Mozilla\u002F5.0"}`, liftsNothingReason: "the text differs from the column's JSON"},
	{name: "values other than the columns'", url: ctxURL, ref: ctxRef, ua: "curl/8.0",
		sent: `{"page":{"url":"https://other.example/","referrer":null},"userAgent":"Mozilla/5.0 (header differs)","browser":{"userAgent":42}}`, liftsNothingReason: "no value equals its column"},
	{name: "short values", url: "http://a", ua: "ua",
		sent: `{"page":{"url":"http://a"},"userAgent":"ua"}`, liftsNothingReason: "a placeholder would not be shorter"},
	{name: "any member, the url once and the user agent twice", url: ctxURL, ua: ctxUA,
		sent:   `{"url":"` + ctxURL + `","page":{"href":"` + ctxURL + `"},"app":{"userAgent":"` + ctxUA + `"},"ua" : "` + ctxUA + `","ua2":"` + ctxUA + `"}`,
		stored: `{"url":{"":"url"},"page":{"href":"` + ctxURL + `"},"app":{"userAgent":{"":"user_agent"}},"ua" : {"":"user_agent"},"ua2":"` + ctxUA + `"}`},
	{name: "not a member value", url: ctxURL, ua: ctxUA,
		sent: `{"a":["` + ctxURL + `"],"` + ctxURL + `":1,"b":"x` + ctxURL + `","c":"` + ctxURL + `y"}`, liftsNothingReason: "in an array, a key, or part of a string"},
	{name: "text between two strings", url: ",1,2,3,4,5,6,7,8,9,",
		sent: `{"a":["x:",1,2,3,4,5,6,7,8,9,"y"]}`, liftsNothingReason: "a value starting with a comma may follow a closing quote"},
	{name: "referrer that is the page", url: ctxURL, ref: ctxURL,
		sent:   `{"page":{"url":"` + ctxURL + `","referrer":"` + ctxURL + `"}}`,
		stored: `{"page":{"url":{"":"url"},"referrer":{"":"referrer"}}}`},
	{name: "user agent that is the referrer", ref: ctxUA, ua: ctxUA,
		sent:   `{"page":{"referrer":"` + ctxUA + `"},"userAgent":"` + ctxUA + `","browser":{"userAgent":"` + ctxUA + `"}}`,
		stored: `{"page":{"referrer":{"":"referrer"}},"userAgent":{"":"user_agent"},"browser":{"userAgent":{"":"user_agent"}}}`},
	{name: "repeated key: the first value", url: ctxURL,
		sent:   `{"page":{"url":"` + ctxURL + `","url":"` + ctxURL + `"}}`,
		stored: `{"page":{"url":{"":"url"},"url":"` + ctxURL + `"}}`},
	{name: "empty object", url: ctxURL, sent: `{}`, liftsNothingReason: "nothing to lift"},
	{name: "a placeholder sent by someone else", url: ctxURL,
		sent:   `{"page":{"url":{"":"url"},"referrer":"` + ctxRef + `"}}`,
		stored: `{"":1,"page":{"url":{"":"url"},"referrer":"` + ctxRef + `"}}`},
	{name: "empty first key sent by someone else", url: ctxURL,
		sent:   `{"":1,"page":{"url":"` + ctxURL + `"}}`,
		stored: `{"":1,"":1,"page":{"url":"` + ctxURL + `"}}`},
}

func (c contextCase) event() event.Event {
	return event.Event{URL: c.url, Referrer: c.ref, UserAgent: c.ua, Context: json.RawMessage(c.sent)}
}

// TestContextStoredOnce: the context column holds the object without the
// values its row's url, referrer and user_agent columns hold (and only
// where they hold them byte for byte), and ContextAsSent gives back the
// object sent, byte for byte, through both encoders.
func TestContextStoredOnce(t *testing.T) {
	for _, c := range contextCases {
		t.Run(c.name, func(t *testing.T) {
			want := c.stored
			if want == "" {
				want = c.sent
			}
			r := Row{Event: c.event()}
			m, _ := decodeRowBinary(t, appendRowBinary(nil, &r))
			if m["context"] != want {
				t.Errorf("RowBinary stores %s\nwant %s (%s)", m["context"], want, c.liftsNothingReason)
			}
			vals := appendValues(nil, &r)
			if got := vals[len(vals)-1]; got != want {
				t.Errorf("server insert stores %s\nwant %s", got, want)
			}
			if got := ContextAsSent(want, c.url, c.ref, c.ua); got != c.sent {
				t.Errorf("read back %s\nwant %s", got, c.sent)
			}
		})
	}
}

// A context stored before placeholders existed (the whole object) reads
// back as it is: nothing is added from the columns, nothing doubled.
func TestContextAsSentKeepsFullContexts(t *testing.T) {
	for _, stored := range []string{
		`{"page":{"url":"` + ctxURL + `","referrer":"` + ctxRef + `"},"userAgent":"` + ctxUA + `"}`,
		`{"screen":{"width":1}}`,
		`{}`,
		`{"s":"{\"\":\"url\"}"}`,
	} {
		if got := ContextAsSent(stored, ctxURL, ctxRef, ctxUA); got != stored {
			t.Errorf("ContextAsSent(%s) = %s, want it unchanged", stored, got)
		}
	}
}

// FuzzContextRoundTrip: whatever context and columns a row carries, the
// context read back is the text the insert would have stored without
// placeholders.
func FuzzContextRoundTrip(f *testing.F) {
	for _, c := range contextCases {
		f.Add(c.sent, c.url, c.ref, c.ua)
	}
	f.Add(`{"page":{"url":"\xff\xfe long enough to lift"}}`, "\xff\xfe long enough to lift", "", "")
	f.Add(`{"userAgent":"`+ctxUA+`","browser":{"userAgent":"`+ctxUA+`"}}`, "", "", ctxUA)
	f.Fuzz(func(t *testing.T, sent, url, ref, ua string) {
		if !json.Valid([]byte(sent)) || !strings.HasPrefix(strings.TrimSpace(sent), "{") {
			return
		}
		r := Row{Event: event.Event{URL: url, Referrer: ref, UserAgent: ua, Context: json.RawMessage(sent)}}
		m, rest := decodeRowBinary(t, appendRowBinary(nil, &r))
		if len(rest) != 0 {
			t.Fatalf("%d bytes left after the row", len(rest))
		}
		want := string(appendObject(nil, []byte(sent)))
		if got := ContextAsSent(m["context"].(string), url, ref, ua); got != want {
			t.Fatalf("stored %s, read back %s, want %s", m["context"], got, want)
		}
	})
}

// TestContextRoundTripInChDB stores events through the embedded insert
// and a row the way builds before placeholders stored it (the whole
// context, by SQL), and reads each back from the engine: every context
// comes back as sent, the lifted ones stored with placeholders.
func TestContextRoundTripInChDB(t *testing.T) {
	ctx := context.Background()
	s, err := OpenEmbedded(ctx, testkit.CHDBLib(t), t.TempDir(), quiet, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	batch := make([]Row, len(contextCases))
	for i, c := range contextCases {
		batch[i] = Row{Event: c.event()}
		e := &batch[i].Event
		e.SourceID, e.ID, e.Type, e.Time, e.ReceivedAt = "src-ctx", c.name, "page", at, at
	}
	if err := s.InsertRows(ctx, "ctx-1", batch); err != nil {
		t.Fatal(err)
	}
	// Its context's user agent is not the column's (a browser's header
	// and what the page's script put in the context may differ).
	old := `{"page":{"url":"` + ctxURL + `","referrer":"` + ctxRef + `"},"browser":{"userAgent":"Mozilla/5.0 (script)"}}`
	query(t, s, "INSERT INTO trackstream.events (source_id, event_id, event_type, event_time, received_at, url, referrer, user_agent, context) VALUES "+
		"('src-ctx', 'old row', 'page', '2026-05-06 07:08:09', '2026-05-06 07:08:09', '"+ctxURL+"', '"+ctxRef+"', '"+ctxUA+"', '"+old+"')")

	out := query(t, s, "SELECT event_id, context, url, referrer, user_agent FROM trackstream.events WHERE source_id = 'src-ctx' FORMAT JSONEachRow")
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct {
			EventID   string `json:"event_id"`
			Context   string `json:"context"`
			URL       string `json:"url"`
			Referrer  string `json:"referrer"`
			UserAgent string `json:"user_agent"`
		}
		dec := json.NewDecoder(strings.NewReader(line))
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("row %s: %v", line, err)
		}
		got[r.EventID] = ContextAsSent(r.Context, r.URL, r.Referrer, r.UserAgent)
		if c := contextCaseNamed(r.EventID); c.stored != "" && r.Context != c.stored {
			t.Errorf("%s: the engine holds %s\nwant %s", r.EventID, r.Context, c.stored)
		}
	}
	for _, c := range contextCases {
		if got[c.name] != c.sent {
			t.Errorf("%s: read back %s\nwant %s", c.name, got[c.name], c.sent)
		}
	}
	if got["old row"] != old {
		t.Errorf("a row stored with its whole context reads back %s\nwant %s", got["old row"], old)
	}
}

// contextCaseNamed is the case of that name (the zero case for none).
func contextCaseNamed(name string) contextCase {
	for _, c := range contextCases {
		if c.name == name {
			return c
		}
	}
	return contextCase{}
}
