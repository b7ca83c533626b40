package adminapi

import (
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/store"
)

// ctxDay holds the context events, away from every other test's days.
var ctxDay = t0.Add(60 * 24 * time.Hour)

// Event listings answer the context as it was sent: an event stored
// without the url, referrer and user agent its columns hold (the
// placeholders of store.ContextAsSent) and one stored with its whole
// context by SQL, as builds before placeholders stored it, answer the
// same bytes, the object sent, in the search, the profile timeline and the
// session detail.
func TestListingsAnswerTheContextSent(t *testing.T) {
	st, db := chStore(t)
	const (
		pageURL = "https://shop.example/p/7?utm_source=news&x=<y>"
		ref     = "https://www.google.com/"
		ua      = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
	)
	sent := `{"page":{"url":"` + pageURL + `","path":"/p/7","referrer":"` + ref + `"},"browser":{"userAgent":"` + ua + `","language":"de"},"screen":{"width":1280}}`
	at := ctxDay.Add(time.Hour)
	ev := event.Event{SourceID: "ctx", ID: "new", Type: "page", Time: at, ReceivedAt: at, SessionID: "CTX", ProfileID: "pCTX",
		URL: pageURL, Referrer: ref, UserAgent: ua, Properties: json.RawMessage(`{}`), Context: json.RawMessage(sent)}
	if err := write(context.Background(), st, "ctx-new", []store.Row{{Event: ev}}); err != nil {
		t.Fatal(err)
	}
	old := at.Add(time.Minute).Format("2006-01-02 15:04:05")
	if err := db.Exec(context.Background(), "INSERT INTO trackstream.events (source_id, event_id, event_type, event_time, received_at, session_id, profile_id, url, referrer, user_agent, properties, context) VALUES "+
		"('ctx', 'old', 'page', '"+old+"', '"+old+"', 'CTX', 'pCTX', '"+pageURL+"', '"+ref+"', '"+ua+"', '{}', '"+sent+"')"); err != nil {
		t.Fatal(err)
	}
	out, err := db.Query(context.Background(), "SELECT event_id, context FROM trackstream.events WHERE source_id = 'ctx' ORDER BY event_id", "TabSeparatedRaw")
	if err != nil {
		t.Fatal(err)
	}
	if stored := string(out); !strings.Contains(stored, "new\t"+`{"page":{"url":{"":"url"}`) || !strings.Contains(stored, "old\t"+sent) {
		t.Fatalf("stored contexts %s: want the new row's with placeholders, the old row's whole", stored)
	}

	e := startWith(t, st, &clock{t: ctxDay.Add(24 * time.Hour)})
	tok := e.login("admin", strong)
	rng := "from=" + url.QueryEscape(ctxDay.Format(time.RFC3339)) + "&to=" + url.QueryEscape(ctxDay.Add(24*time.Hour).Format(time.RFC3339))
	var want any
	if err := json.Unmarshal([]byte(sent), &want); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/events?source=ctx&", "/api/v1/profiles/pCTX/events?source=ctx&", "/api/v1/sessions/CTX?source=ctx&"} {
		var answer struct {
			Events []struct {
				EventID string          `json:"event_id"`
				Context json.RawMessage `json:"context"`
			} `json:"events"`
		}
		e.get(tok, path+rng, 200, &answer)
		got := map[string]string{}
		for _, ev := range answer.Events {
			got[ev.EventID] = string(ev.Context)
			var v any
			if err := json.Unmarshal(ev.Context, &v); err != nil || !reflect.DeepEqual(v, want) {
				t.Errorf("%s: event %s has context %s, want the object sent, %s", path, ev.EventID, ev.Context, sent)
			}
		}
		if len(got) != 2 || got["new"] != got["old"] {
			t.Errorf("%s: contexts %v, want the same answer for both events", path, got)
		}
	}
}
