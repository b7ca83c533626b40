package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"hash/maphash"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/jsonread"
	"github.com/trackstream/trackstream/internal/sources"
	"github.com/trackstream/trackstream/schemas"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from the current output")

// goldenReceivedAt is the receive time every golden case is decoded with.
var goldenReceivedAt = time.Date(2026, 11, 25, 10, 0, 0, 123_000_000, time.UTC)

// goldenLimits are the limits every golden case is decoded with: the
// defaults, with small counts so the limits are easy to reach.
func goldenLimits() Limits {
	lim := limitsOf(config.Default().Ingest)
	lim.MaxEvents = 3
	lim.MaxProperties = 4
	lim.MaxEventBytes = 2048
	lim.MaxStringBytes = 256
	lim.MaxDepth = 8
	lim.MaxKeys = 16
	return lim
}

// goldenWriteKey is the write key of the golden server source.
const goldenWriteKey = "tswk_golden-server-key"

// goldenSources is the source table every golden case is judged against.
func goldenSources() tableSources {
	return tableSources{
		{ID: "src_test", Name: "browser", Enabled: true},
		{ID: "src_keep", Name: "keeps ips", Enabled: true, IPPolicy: sources.IPKeep},
		{ID: "src_drop", Name: "drops ips", Enabled: true, IPPolicy: sources.IPDrop},
		{ID: "src_strict", Name: "schemas only", Enabled: true, UnknownEventTypes: sources.UnknownReject},
		{ID: "src_shop", Name: "shop only", Enabled: true, AllowedOrigins: []string{"https://shop.example"}},
		{ID: "src_off", Name: "disabled", Enabled: false},
		{ID: "src_server", Name: "backend", Enabled: true, Kind: sources.KindServer, WriteKeyHash: sources.HashWriteKey(goldenWriteKey)},
	}
}

// goldenMeta is what every golden request says besides its body.
var goldenMeta = requestMeta{
	receivedAt: goldenReceivedAt,
	clientIP:   netip.MustParseAddr("203.0.113.77"),
	userAgent:  "golden-agent/1.0",
	origin:     "https://www.example.org",
}

// tableSources is a fixed source table standing in for the registry in
// pure tests (the registry itself is tested against Kafka).
type tableSources []sources.Source

func (ts tableSources) Get(id string) (sources.Source, bool) {
	for _, s := range ts {
		if s.ID == id {
			return s, true
		}
	}
	return sources.Source{}, false
}

func (ts tableSources) ByWriteKey(plain string) (sources.Source, bool) {
	for _, s := range ts {
		if s.WriteKeyHash != "" && s.WriteKeyHash == sources.HashWriteKey(plain) {
			return s, true
		}
	}
	return sources.Source{}, false
}

// generatedID stands in the golden files for a server-made UUIDv7, which
// differs on every run.
const generatedID = "<generated uuidv7>"

// goldenOutcome is the golden form of one request: the answer's status
// and body, and the records that would go to Kafka.
type goldenOutcome struct {
	Status   int            `json:"status"`
	Error    *requestError  `json:"error,omitempty"`
	Response *trackResponse `json:"response,omitempty"`
	Events   []event.Event  `json:"events,omitempty"`
}

// requiredCases are the golden cases the test suite must keep.
var requiredCases = []string{
	"track/valid_single", "track/valid_batch", "track/client_id_kept", "track/missing_id_gets_uuidv7",
	"track/time_past_kept", "track/time_future_clamped", "track/type_missing", "track/type_too_long",
	"track/type_bad_chars", "track/id_too_long", "track/properties_not_object", "track/context_not_object",
	"track/invalid_utf8", "track/trailing_data", "track/malformed_json", "track/empty_events",
	"track/too_many_events", "track/source_missing", "track/events_not_array",
	"track/duplicate_key", "track/duplicate_key_escaped", "track/too_deep", "track/number_overflow",
	"track/lone_surrogate", "track/schema_violation", "track/unknown_type_rejected", "track/source_unknown",
	"track/source_disabled", "track/origin_not_allowed", "track/server_source_without_key",
	"track/string_too_long", "track/too_many_properties", "track/event_too_large", "track/ip_kept", "track/ip_dropped",
	"segment/track__valid", "segment/track__event_missing", "segment/track__no_user", "segment/track__skew_corrected",
	"segment/page__valid", "segment/screen__valid", "segment/identify__valid", "segment/identify__traits_schema_violation",
	"segment/group__valid", "segment/group__group_id_missing", "segment/alias__valid", "segment/alias__previous_id_missing",
	"segment/batch__mixed", "segment/batch__all_rejected", "segment/batch__server_context_ip_truncated",
	"segment/batch__unknown_write_key", "segment/track__write_key_missing", "segment/track__type_mismatch",
	"segment/batch__numeric_user_id", "segment/batch__sent_at_invalid",
	"pixel/valid", "pixel/source_missing", "pixel/ts_invalid", "pixel/duplicate_param",
	// Keys ClickHouse would merge or lose, too many keys, times no query finds.
	"track/keys_dotted_and_empty", "track/keys_context_dotted", "track/shared_properties_dotted_key", "track/too_many_keys",
	"track/time_before_1971", "segment/track__time_before_1971", "segment/identify__traits_dotted_key",
	"pixel/ts_before_1971", "pixel/property_dotted_key", "pixel/property_without_name",
}

// decodeFor returns the decoder and missing-source refusal of a golden
// case named api/[call__]name; it hashes shared paths with seed.
func decodeFor(t testing.TB, name string, seed maphash.Seed) (func([]byte) (*batch, error), *requestError) {
	lim := goldenLimits()
	dir, file, _ := strings.Cut(name, "/")
	switch dir {
	case "track":
		return func(b []byte) (*batch, error) { return decodeTrack(b, lim, seed) }, badRequest("missing_field", "source.id is required")
	case "segment":
		call, _, ok := strings.Cut(file, "__")
		if !ok {
			t.Fatalf("segment case %s is not named <call>__<name>", name)
		}
		return func(b []byte) (*batch, error) { return decodeSegment(b, call, lim, seed) }, &requestError{401, "missing_write_key", "send the write key as the HTTP Basic username or as writeKey in the body"}
	case "pixel":
		return func(b []byte) (*batch, error) { return decodePixel(strings.TrimSpace(string(b)), lim) }, badRequest("missing_field", "the s parameter (source id) is required")
	}
	t.Fatalf("no decoder for %s", name)
	return nil, nil
}

// outcome runs a body through the same steps as the HTTP handler, short
// of producing: decode, authenticate, judge (with a path budget of its
// own, so events take their shared objects' key scans as in production).
func outcome(t testing.TB, name string, body []byte, set *schemaSet) (goldenOutcome, *batch) {
	t.Helper()
	budget := newPathBudget(goldenLimits().MaxSourcePaths)
	decode, missing := decodeFor(t, name, budget.hashSeed())
	lookup, meta := goldenSources(), goldenMeta
	b, err := decode(body)
	if err == nil {
		var src sources.Source
		var rerr *requestError
		if src, rerr = authenticate(b, meta, lookup, missing); rerr == nil {
			lim := goldenLimits()
			events, rejected := judge(b, &src, &meta, &lim, set, budget)
			if rejected == nil {
				rejected = []Rejection{}
			}
			g := goldenOutcome{Status: 200, Events: events, Response: &trackResponse{Accepted: len(events), IDs: []string{}, Rejected: rejected}}
			if len(events) == 0 {
				g.Status = 400
				g.Events = nil
			}
			for _, e := range events {
				g.Response.IDs = append(g.Response.IDs, e.ID)
			}
			return g, b
		}
		err = rerr
	}
	var re *requestError
	if !errors.As(err, &re) {
		t.Fatalf("refusal %T %v is not a *requestError", err, err)
	}
	return goldenOutcome{Status: re.Status, Error: re}, b
}

func goldenSchemas(t testing.TB) *schemaSet {
	t.Helper()
	all, err := schemas.EventSchemas()
	if err != nil {
		t.Fatal(err)
	}
	set, err := compileSchemas(all)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// goldenCases lists the golden request bodies, by case name.
func goldenCases(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, pattern := range []string{"track/*.json", "segment/*.json", "pixel/*.query"} {
		paths, err := filepath.Glob(filepath.Join("testdata", pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			rel, _ := filepath.Rel("testdata", p)
			out[strings.TrimSuffix(rel, filepath.Ext(rel))] = p
		}
	}
	return out
}

func TestGolden(t *testing.T) {
	cases := goldenCases(t)
	for _, n := range requiredCases {
		if _, ok := cases[n]; !ok {
			t.Errorf("golden case testdata/%s is missing", n)
		}
	}
	goldens, err := filepath.Glob(filepath.Join("testdata", "*", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		rel, _ := filepath.Rel("testdata", g)
		if _, ok := cases[strings.TrimSuffix(rel, ".golden")]; !ok {
			t.Errorf("%s has no request", g)
		}
	}
	set := goldenSchemas(t)
	for _, name := range sortedKeys(cases) {
		path := cases[name]
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			g, b := outcome(t, name, body, set)
			if g.Status == 200 || (g.Status == 400 && g.Error == nil) {
				checkOutcome(t, b, g)
			}
			for i := range g.Events {
				if b.items[sentIndexes(len(b.items), g.Response.Rejected)[i]].ev.ID == "" {
					g.Events[i].ID = generatedID
					g.Response.IDs[i] = generatedID
				}
			}
			checkGolden(t, filepath.Join("testdata", name+".golden"), marshalGolden(t, g))
		})
	}
}

// checkOutcome asserts what holds for every judged request whatever its
// content.
func checkOutcome(t *testing.T, b *batch, g goldenOutcome) {
	t.Helper()
	lim := goldenLimits()
	rejected := g.Response.Rejected
	if n := len(g.Events) + len(rejected); n != len(b.items) {
		t.Errorf("%d events + %d rejections != %d events sent", len(g.Events), len(rejected), len(b.items))
	}
	if len(b.items) == 0 || len(b.items) > lim.MaxEvents {
		t.Errorf("judged a request of %d events (limit %d)", len(b.items), lim.MaxEvents)
	}
	for i, r := range rejected {
		if i > 0 && r.Index <= rejected[i-1].Index {
			t.Errorf("rejections out of order: %+v", rejected)
		}
		if r.Reason == "" || r.Code == "" || !strings.HasPrefix(r.Path, b.items[r.Index].prefix(r.Index)) && r.Path != trimDot(b.items[r.Index].prefix(r.Index)) {
			t.Errorf("rejection %+v has a path not naming its event, or no code or reason", r)
		}
	}
	sent := sentIndexes(len(b.items), rejected)
	if len(sent) != len(g.Events) {
		t.Fatalf("%d events accepted, want %d", len(g.Events), len(sent))
	}
	for i, e := range g.Events {
		if e.SourceID == "" || e.Type == "" || e.ID == "" {
			t.Errorf("event %+v has an empty source, type or id", e)
		}
		if !e.ReceivedAt.Equal(goldenReceivedAt) {
			t.Errorf("event %s received_at = %v, want %v", e.ID, e.ReceivedAt, goldenReceivedAt)
		}
		if e.Time.After(goldenReceivedAt.Add(lim.FutureSkew)) || e.Time.Location() != time.UTC {
			t.Errorf("event %s time %v is more than %v after the receive time or not UTC", e.ID, e.Time, lim.FutureSkew)
		}
		if e.IP == goldenMeta.clientIP.String() && e.SourceID != "src_keep" {
			t.Errorf("event %s carries the raw client IP though its source does not keep IPs", e.ID)
		}
		it := b.items[sent[i]]
		if it.ev.ID != "" && e.ID != it.ev.ID {
			t.Errorf("event %s was sent with id %q", e.ID, it.ev.ID)
		}
		if it.ev.ID == "" {
			u, err := uuid.Parse(e.ID)
			if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 {
				t.Errorf("server-made id %q is not a UUIDv7 (%v)", e.ID, err)
			}
		}
		checkRoundTrip(t, e)
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
		t.Fatalf("%v (run go test ./ingest -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("outcome differs from %s (rerun with -update if the change is intended)\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestJudgeGeneratesDistinctIDs(t *testing.T) {
	body := []byte(`{"source":{"id":"src_test"},"events":[{"type":"a"},{"type":"a"},{"type":"a"}]}`)
	g, _ := outcome(t, "track/x", body, goldenSchemas(t))
	seen := map[string]bool{}
	for _, e := range g.Events {
		if seen[e.ID] {
			t.Fatalf("server-made id %s given twice in %+v", e.ID, g.Events)
		}
		seen[e.ID] = true
	}
	if len(seen) != 3 {
		t.Fatalf("got %d ids, want 3", len(seen))
	}
}

// TestRecordsDoNotAliasBody guards against the Fiber pitfall: the
// request body is reused once the handler returns, and a record can stay
// in the producer's buffer after that (a produce timeout), so no record
// key or value may point into it. Decoded events may: they live only
// until their records are encoded.
func TestRecordsDoNotAliasBody(t *testing.T) {
	set := goldenSchemas(t)
	for _, name := range []string{"track/valid_batch", "segment/batch__mixed", "segment/track__valid"} {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(goldenCases(t)[name])
			if err != nil {
				t.Fatal(err)
			}
			g, _ := outcome(t, name, body, set)
			if len(g.Events) == 0 {
				t.Fatalf("%s accepted nothing", name)
			}
			rs := new(recordSet)
			if err := rs.encode(g.Events); err != nil {
				t.Fatal(err)
			}
			recs := rs.recs
			var before [][]byte
			for _, r := range recs {
				before = append(before, bytes.Clone(r.Key), bytes.Clone(r.Value))
			}
			for i := range body {
				body[i] = 'X'
			}
			for i, r := range recs {
				if !bytes.Equal(r.Key, before[2*i]) || !bytes.Equal(r.Value, before[2*i+1]) {
					t.Fatalf("record %d changed when the request body was overwritten:\nbefore %s\nafter  %s", i, before[2*i+1], r.Value)
				}
			}
		})
	}
}

func TestEventTime(t *testing.T) {
	lim := goldenLimits()
	at := func(s string) *time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return &tm
	}
	recv := *at("2026-11-25T10:00:00Z")
	for _, tc := range []struct {
		name         string
		client, sent *time.Time
		want         time.Time
		late         bool
	}{
		{"no client time", nil, nil, recv, false},
		{"client time kept", at("2026-11-25T09:00:00Z"), nil, *at("2026-11-25T09:00:00Z"), false},
		{"sent alone ignored", nil, at("2026-11-25T11:00:00Z"), recv, false},
		{"clock 1h fast corrected", at("2026-11-25T10:59:50Z"), at("2026-11-25T11:00:00Z"), *at("2026-11-25T09:59:50Z"), false},
		{"clock 1h slow corrected", at("2026-11-25T08:59:50Z"), at("2026-11-25T09:00:00Z"), *at("2026-11-25T09:59:50Z"), false},
		{"future within skew kept", at("2026-11-25T10:00:30Z"), nil, *at("2026-11-25T10:00:30Z"), false},
		{"future clamped", at("2026-11-25T10:05:00Z"), nil, recv, false},
		{"future after correction clamped", at("2026-11-25T12:00:00Z"), at("2026-11-25T10:00:00Z"), recv, false},
		{"old flagged late", at("2026-11-20T10:00:00Z"), nil, *at("2026-11-20T10:00:00Z"), true},
		{"just under late", at("2026-11-24T10:00:01Z"), nil, *at("2026-11-24T10:00:01Z"), false},
		{"huge skew saturates", at("0001-01-01T00:00:00Z"), at("9999-12-31T00:00:00Z"), recv.Add(-time.Duration(1<<63 - 1)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, late := eventTime(tc.client, tc.sent, recv, &lim)
			if !got.Equal(tc.want) || late != tc.late || got.Location() != time.UTC {
				t.Fatalf("eventTime = %v late=%v, want %v late=%v", got, late, tc.want, tc.late)
			}
			if !timeEncodable(got) {
				t.Fatalf("eventTime %v cannot be encoded", got)
			}
		})
	}
}

func TestValidType(t *testing.T) {
	for typ, want := range map[string]bool{
		"page-view": true, "Order Completed": true, "a": true, "x.y:z_w-1": true,
		"": false, " a": false, "a ": false, "a  b": false, "-a": false, "a/b": false, "é": false, "a\tb": false,
	} {
		if got := validType(typ); got != want {
			t.Errorf("validType(%q) = %v, want %v", typ, got, want)
		}
	}
}

func FuzzDecodeTrack(f *testing.F) {
	addCorpus(f, "track/*.json")
	f.Add([]byte(`{"source":{"id":"src_test"},"events":[{"type":"t","time":"9999-12-31T23:59:59-23:59"}]}`))
	f.Add([]byte(`{"source":{"id":"src_test"},"events":[{"type":"t","properties":{"a":"\ud800","a":1}}]}`))
	fuzzOutcome(f, "track/fuzz")
}

func FuzzDecodeSegment(f *testing.F) {
	addCorpus(f, "segment/batch__*.json")
	f.Add([]byte(`{"writeKey":"src_test","batch":[{"type":"track","event":"E","userId":1e999}]}`))
	fuzzOutcome(f, "segment/batch__fuzz")
}

func FuzzDecodePixel(f *testing.F) {
	addCorpus(f, "pixel/*.query")
	f.Add([]byte("s=src_test&e=a%20b&p.x=%ff"))
	fuzzOutcome(f, "pixel/fuzz")
}

func addCorpus(f *testing.F, pattern string) {
	paths, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil {
		f.Fatal(err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// fuzzOutcome checks, for any input, that a refusal is a 4xx with a code
// and message, and that a judged request accounts for every event and
// yields records that survive the Kafka encoding.
func fuzzOutcome(f *testing.F, name string) {
	set := goldenSchemas(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		g, b := outcome(t, name, body, set)
		if g.Error != nil {
			if g.Status < 400 || g.Status > 499 || g.Error.Code == "" || g.Error.Message == "" {
				t.Fatalf("refusal %+v has an unexpected status or an empty code or message", g.Error)
			}
			return
		}
		if n := len(g.Events) + len(g.Response.Rejected); n != len(b.items) || n == 0 || n > goldenLimits().MaxEvents {
			t.Fatalf("%d events + %d rejections for %d sent", len(g.Events), len(g.Response.Rejected), len(b.items))
		}
		for _, e := range g.Events {
			checkRoundTrip(t, e)
			if _, _, err := jsonread.Validate(e.Properties, eventLimits(goldenLimits())); len(e.Properties) > 0 && err != nil {
				t.Fatalf("accepted properties %s are not clean JSON", e.Properties)
			}
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
		got.SessionID != e.SessionID || got.ProfileID != e.ProfileID || got.IP != e.IP ||
		got.AnonymousID != e.AnonymousID || got.UserID != e.UserID || got.Late != e.Late ||
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
