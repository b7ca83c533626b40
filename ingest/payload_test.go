package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/trackstream/trackstream/internal/event"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from the current output")

// goldenReceivedAt is the receive time every golden case is decoded with.
var goldenReceivedAt = time.Date(2026, 11, 25, 10, 0, 0, 123_000_000, time.UTC)

// goldenLimits are the limits every golden case is decoded with.
var goldenLimits = Limits{MaxEvents: 3}

// generatedID stands in the golden files for a server-made UUIDv7, which
// differs on every run.
const generatedID = "<generated uuidv7>"

// goldenError is the golden form of a refused request.
type goldenError struct {
	Error struct {
		Status  int    `json:"status"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// goldenAccepted is the golden form of a decoded request: the normalised
// events and the rejections of the rest.
type goldenAccepted struct {
	Accepted int           `json:"accepted"`
	Events   []event.Event `json:"events"`
	Rejected []Rejection   `json:"rejected"`
}

// requiredCases are the golden cases the test suite must keep.
var requiredCases = []string{
	"valid_single", "valid_batch", "client_id_kept", "missing_id_gets_uuidv7",
	"time_past_kept", "time_future_clamped", "type_missing", "type_too_long",
	"type_bad_chars", "id_too_long", "properties_not_object", "context_not_object",
	"invalid_utf8", "trailing_data", "malformed_json", "empty_events",
	"too_many_events", "source_missing", "events_not_array",
}

func TestDecodeTrackGolden(t *testing.T) {
	bodies, err := filepath.Glob(filepath.Join("testdata", "track", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, b := range bodies {
		names[strings.TrimSuffix(filepath.Base(b), ".json")] = true
	}
	for _, n := range requiredCases {
		if !names[n] {
			t.Errorf("golden case testdata/track/%s.json is missing", n)
		}
	}
	goldens, err := filepath.Glob(filepath.Join("testdata", "track", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		if n := strings.TrimSuffix(filepath.Base(g), ".golden"); !names[n] {
			t.Errorf("%s has no request body %s.json", g, n)
		}
	}

	for _, path := range bodies {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := decodeOutcome(t, body, goldenReceivedAt, goldenLimits)
			checkGolden(t, strings.TrimSuffix(path, ".json")+".golden", got)
		})
	}
}

// decodeOutcome runs decodeTrack on body, checks the invariants every
// outcome must hold, and returns the outcome in its golden form.
func decodeOutcome(t *testing.T, body []byte, receivedAt time.Time, lim Limits) []byte {
	t.Helper()
	p, events, rejected, err := decodeTrack(body, receivedAt, lim)
	if err != nil {
		var re *requestError
		if !errors.As(err, &re) {
			t.Fatalf("decodeTrack returned %T %v; every refusal must be a *requestError", err, err)
		}
		if events != nil || rejected != nil {
			t.Fatalf("decodeTrack refused the request (%v) but also returned %d events and %d rejections", err, len(events), len(rejected))
		}
		var g goldenError
		g.Error.Status, g.Error.Code, g.Error.Message = re.Status, re.Code, re.Message
		return marshalGolden(t, g)
	}
	checkOutcome(t, p, events, rejected, receivedAt, lim)
	g := goldenAccepted{Accepted: len(events), Events: []event.Event{}, Rejected: []Rejection{}}
	sent := sentIndexes(len(p.Events), rejected)
	for i, e := range events {
		if p.Events[sent[i]].ID == "" {
			e.ID = generatedID
		}
		g.Events = append(g.Events, e)
	}
	g.Rejected = append(g.Rejected, rejected...)
	return marshalGolden(t, g)
}

// checkOutcome asserts what holds for every accepted request whatever its
// content.
func checkOutcome(t *testing.T, p trackPayload, events []event.Event, rejected []Rejection, receivedAt time.Time, lim Limits) {
	t.Helper()
	if n := len(events) + len(rejected); n != len(p.Events) {
		t.Errorf("%d events + %d rejections != %d events sent", len(events), len(rejected), len(p.Events))
	}
	if len(p.Events) == 0 || len(p.Events) > lim.MaxEvents {
		t.Errorf("accepted a request of %d events (limit %d)", len(p.Events), lim.MaxEvents)
	}
	for i, r := range rejected {
		if i > 0 && r.Index <= rejected[i-1].Index {
			t.Errorf("rejections out of order: %+v", rejected)
		}
		if !strings.HasPrefix(r.Path, fmt.Sprintf("events[%d].", r.Index)) || r.Reason == "" {
			t.Errorf("rejection %+v has a path not naming its event or no reason", r)
		}
	}
	sent := sentIndexes(len(p.Events), rejected)
	if len(sent) != len(events) {
		t.Fatalf("%d events accepted, want %d", len(events), len(sent))
	}
	for i, e := range events {
		if e.SourceID != p.Source.ID || e.SourceID == "" {
			t.Errorf("event %s has source %q, want %q", e.ID, e.SourceID, p.Source.ID)
		}
		if e.Type == "" || e.ID == "" {
			t.Errorf("event %+v has an empty type or id", e)
		}
		if !e.ReceivedAt.Equal(receivedAt) {
			t.Errorf("event %s received_at = %v, want %v", e.ID, e.ReceivedAt, receivedAt)
		}
		if e.Time.After(receivedAt.Add(futureSkew)) {
			t.Errorf("event %s time %v is more than %v after the receive time %v", e.ID, e.Time, futureSkew, receivedAt)
		}
		if e.Time.Location() != time.UTC {
			t.Errorf("event %s time %v is not in UTC", e.ID, e.Time)
		}
		te := p.Events[sent[i]]
		if e.Type != te.Type || (te.ID != "" && e.ID != te.ID) {
			t.Errorf("event %s/%s was made from sent event %d with id %q and type %q", e.ID, e.Type, sent[i], te.ID, te.Type)
		}
		if te.ID == "" {
			u, err := uuid.Parse(e.ID)
			if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 {
				t.Errorf("server-made id %q is not a UUIDv7 (%v)", e.ID, err)
			}
		}
	}
}

// sentIndexes returns, for each accepted event, the index of the sent event
// it was made from: accepted events keep the order of the sent ones, less
// the rejected.
func sentIndexes(n int, rejected []Rejection) []int {
	skip := map[int]bool{}
	for _, r := range rejected {
		skip[r.Index] = true
	}
	var out []int
	for i := range n {
		if !skip[i] {
			out = append(out, i)
		}
	}
	return out
}

func marshalGolden(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatalf("encode golden: %v", err)
	}
	return buf.Bytes()
}

// checkGolden compares got with the golden file at path, or rewrites the
// file under -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ingest -run TestDecodeTrackGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("outcome differs from %s (rerun with -update if the change is intended)\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestDecodeTrackGeneratesDistinctIDs(t *testing.T) {
	body := []byte(`{"source":{"id":"s"},"events":[{"type":"a"},{"type":"a"},{"type":"a"}]}`)
	_, events, _, err := decodeTrack(body, goldenReceivedAt, goldenLimits)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range events {
		if seen[e.ID] {
			t.Fatalf("server-made id %s given twice in %+v", e.ID, events)
		}
		seen[e.ID] = true
	}
	if len(seen) != 3 {
		t.Fatalf("got %d ids, want 3", len(seen))
	}
}

// TestDecodeTrackDoesNotAliasBody guards against the Fiber pitfall: the
// request body is reused once the handler returns, so nothing decodeTrack
// returns may point into it.
func TestDecodeTrackDoesNotAliasBody(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "track", "valid_batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, events, _, err := decodeTrack(body, goldenReceivedAt, goldenLimits)
	if err != nil {
		t.Fatal(err)
	}
	before, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'X'
	}
	after, err := json.Marshal(events)
	if err != nil {
		t.Fatalf("events no longer encode once the body is overwritten: %v", err)
	}
	if !bytes.Equal(before, after) {
		t.Fatalf("events changed when the request body was overwritten:\nbefore %s\nafter  %s", before, after)
	}
}

func FuzzDecodeTrack(f *testing.F) {
	bodies, err := filepath.Glob(filepath.Join("testdata", "track", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	sort.Strings(bodies)
	for _, path := range bodies {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"source":{"id":"s"},"events":[{"type":"t","time":"9999-12-31T23:59:59-23:59"}]}`))
	f.Add([]byte(`{"source":{"id":"s"},"events":[{"type":"t","properties":{"a":"\ud800","a":1}}]}`))
	lim := Limits{MaxEvents: 8}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, events, rejected, err := decodeTrack(body, goldenReceivedAt, lim)
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) {
				t.Fatalf("refusal %T %v is not a *requestError", err, err)
			}
			if (re.Status != 400 && re.Status != 413) || re.Code == "" || re.Message == "" {
				t.Fatalf("refusal %+v has an unexpected status or an empty code or message", re)
			}
			return
		}
		if n := len(events) + len(rejected); n != len(p.Events) || n == 0 || n > lim.MaxEvents {
			t.Fatalf("%d events + %d rejections for %d sent (limit %d)", len(events), len(rejected), len(p.Events), lim.MaxEvents)
		}
		for _, e := range events {
			checkRoundTrip(t, e)
		}
	})
}

// checkRoundTrip asserts e survives the Kafka record encoding: Marshal,
// then event.Unmarshal, gives back the same event.
func checkRoundTrip(t *testing.T, e event.Event) {
	t.Helper()
	if e.SourceID == "" || e.ID == "" || e.Type == "" {
		t.Fatalf("accepted event %+v has an empty source, id or type", e)
	}
	v, err := e.Marshal()
	if err != nil {
		t.Fatalf("accepted event %+v does not encode: %v", e, err)
	}
	got, err := event.Unmarshal(event.FormatVersion, v)
	if err != nil {
		t.Fatalf("record %s does not decode: %v", v, err)
	}
	if got.SourceID != e.SourceID || got.ID != e.ID || got.Type != e.Type ||
		got.SessionID != e.SessionID || got.ProfileID != e.ProfileID ||
		!got.Time.Equal(e.Time) || !got.ReceivedAt.Equal(e.ReceivedAt) {
		t.Fatalf("round trip changed the event:\n in  %+v\n out %+v", e, got)
	}
	for name, pair := range map[string][2]json.RawMessage{
		"properties": {e.Properties, got.Properties},
		"context":    {e.Context, got.Context},
	} {
		if !sameJSON(t, pair[0], pair[1]) {
			t.Fatalf("round trip changed %s: %s -> %s", name, pair[0], pair[1])
		}
	}
	again, err := got.Marshal()
	if err != nil || !bytes.Equal(again, v) {
		t.Fatalf("re-encoding the decoded event differs (%v):\n first  %s\n second %s", err, v, again)
	}
}

// sameJSON reports whether a and b hold the same JSON value (absent and
// null alike), numbers compared by their text.
func sameJSON(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	decode := func(raw json.RawMessage) any {
		if len(raw) == 0 {
			return nil
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s is not JSON: %v", raw, err)
		}
		return v
	}
	return reflect.DeepEqual(decode(a), decode(b))
}

// benchBody builds a request of n events of about 800 bytes each.
func benchBody(b *testing.B, n int) []byte {
	b.Helper()
	type ev struct {
		ID         string         `json:"id"`
		Type       string         `json:"type"`
		Time       time.Time      `json:"time"`
		Properties map[string]any `json:"properties"`
		Context    map[string]any `json:"context"`
	}
	req := struct {
		Source  idRef `json:"source"`
		Session idRef `json:"session"`
		Profile idRef `json:"profile"`
		Events  []ev  `json:"events"`
	}{
		Source:  idRef{"src_0123456789abcdef0123456789abcdef"},
		Session: idRef{"0193a5f2-7c1e-7a3b-9f00-5d2c8e4b1a77"},
		Profile: idRef{"0193a5f2-7c1e-7a3b-9f00-5d2c8e4b1a78"},
	}
	for i := range n {
		req.Events = append(req.Events, ev{
			ID:   fmt.Sprintf("0193a5f2-7c1e-7a3b-9f00-%012d", i),
			Type: "page-view",
			Time: goldenReceivedAt.Add(-time.Duration(i) * time.Second),
			Properties: map[string]any{
				"url":      "https://shop.example.com/products/running-shoes/trail-runner-3000?utm_source=newsletter&utm_medium=email",
				"title":    "Trail Runner 3000 - Running shoes - Example Shop",
				"referrer": "https://www.example.org/search?q=trail+running+shoes",
				"price":    129.95,
				"currency": "EUR",
				"tags":     []string{"running", "trail", "outdoor"},
			},
			Context: map[string]any{
				"browser": map[string]any{
					"userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
					"language":  "de-DE",
				},
				"screen": map[string]any{"width": 1920, "height": 1080},
			},
		})
	}
	body, err := json.Marshal(req)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func BenchmarkDecodeTrack(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			body := benchBody(b, n)
			lim := Limits{MaxEvents: 500}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				_, events, _, err := decodeTrack(body, goldenReceivedAt, lim)
				if err != nil || len(events) != n {
					b.Fatalf("decodeTrack: %d events, %v", len(events), err)
				}
			}
		})
	}
}
