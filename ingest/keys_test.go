package ingest

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/jsonread"
)

// The probe's key explosion (F11): events with 40 random property keys
// each, request after request. Once the source has used its distinct
// paths, each event bringing new ones is refused with 400 naming the
// limit and a new path; events of the same requests with known keys
// still pass, and so do other sources.
func TestKeyExplosionIsRefusedBeyondTheSourceBudget(t *testing.T) {
	t.Parallel()
	const budget = 300
	env := newEnv(t, func(c *config.Ingest) { c.MaxSourcePaths = budget })
	send := func(src string, events []any) trackResponse {
		t.Helper()
		r := env.post(t, bytes.NewReader(trackJSON(t, map[string]any{"source": map[string]any{"id": src}, "events": events})))
		if r.status != http.StatusOK && r.status != http.StatusBadRequest {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		return decodeTrackResponse(t, r)
	}
	random := func(req, ev int) map[string]any {
		props := map[string]any{"plan": "pro"}
		for k := range 40 {
			props[fmt.Sprintf("z%03d_%03d_%02d", req, ev, k)] = k
		}
		return props
	}

	accepted, refused := 0, 0
	for req := range 4 {
		events := []any{}
		for ev := range 10 {
			events = append(events, map[string]any{"id": fmt.Sprintf("boom-%d-%d", req, ev), "type": "t", "properties": random(req, ev)})
		}
		// A well-behaved event in the same request: known keys only.
		events = append(events, map[string]any{"id": fmt.Sprintf("plain-%d", req), "type": "t", "properties": map[string]any{"plan": "free"}})
		tr := send(enabledSource, events)
		if !strings.Contains(strings.Join(tr.IDs, " "), fmt.Sprintf("plain-%d", req)) {
			t.Fatalf("request %d: the event with known keys was not accepted: %+v", req, tr)
		}
		accepted += tr.Accepted - 1
		for _, rj := range tr.Rejected {
			refused++
			if rj.Code != rejectSourcePaths || !strings.HasPrefix(rj.Path, fmt.Sprintf("events[%d].properties.z", rj.Index)) ||
				!strings.Contains(rj.Reason, fmt.Sprint(budget)) || !strings.Contains(rj.Reason, "TRACKSTREAM_INGEST_MAX_SOURCE_PATHS") {
				t.Fatalf("rejection %+v does not name the limit and the new path", rj)
			}
		}
	}
	// Each event brings 40 new paths: 7 fit in 300 (with plan), the rest
	// of the 40 are refused.
	if accepted != 7 || refused != 33 {
		t.Errorf("accepted %d and refused %d of 40 events with 40 new keys each, want 7 and 33", accepted, refused)
	}
	// Another source has its own budget.
	if tr := send(keepSource, []any{map[string]any{"id": "other", "type": "t", "properties": random(99, 0)}}); tr.Accepted != 1 {
		t.Errorf("another source's event was refused: %+v", tr)
	}
	if got := counterValue(t, env.metrics, "trackstream_ingest_events_rejected_total", map[string]string{"reason": rejectSourcePaths}); got != float64(refused) {
		t.Errorf("rejected events metric for %s = %v, want %d", rejectSourcePaths, got, refused)
	}
}

func TestPathBudget(t *testing.T) {
	b := newPathBudget(3)
	nov := time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)
	if k := b.admit("s", nov, []uint64{1, 2, 2}); k != -1 {
		t.Fatalf("two new paths (one twice) within 3: refused at %d", k)
	}
	// Refused at the second new path; the first is not kept either.
	if k := b.admit("s", nov, []uint64{1, 4, 5}); k != 2 {
		t.Fatalf("paths 4 and 5 beyond 3: refused at %d, want 2", k)
	}
	if k := b.admit("s", nov, []uint64{4}); k != -1 {
		t.Fatalf("path 4 alone fits (the refused event noted nothing): refused at %d", k)
	}
	if k := b.admit("s", nov, []uint64{5}); k != 0 {
		t.Fatalf("path 5 beyond 3: refused at %d, want 0", k)
	}
	if k := b.admit("other", nov, []uint64{5, 6, 7}); k != -1 {
		t.Fatalf("another source: refused at %d", k)
	}
	if k := b.admit("s", nov.Add(2*time.Hour), []uint64{5, 6, 7}); k != -1 {
		t.Fatalf("a new month starts a new budget: refused at %d", k)
	}
	if k := newPathBudget(0).admit("s", nov, []uint64{1, 2, 3, 4}); k != -1 {
		t.Fatalf("no budget: refused at %d", k)
	}
}

// The paths noted are the leaves, the same for the same path in any
// event, with arrays one path and the objects in them below it.
func TestKeyScanPaths(t *testing.T) {
	seed := maphash.MakeSeed()
	scan := func(props, ctx string) (*keyScan, *keyProblem) {
		s := newKeyScan(100, seed)
		it := &item{props: mustJSON(t, props), ctx: mustJSON(t, ctx)}
		return s, s.scanEvent(it)
	}
	s, p := scan(`{"a":{"b":1,"c":[1,{"d":2},{"d":3}]},"e":{}}`, `{"page":{"url":"u"}}`)
	if p != nil {
		t.Fatal(p)
	}
	var shown []string
	for k := range s.paths {
		shown = append(shown, s.pathOf(&item{props: mustJSON(t, `{"a":{"b":1,"c":[1,{"d":2},{"d":3}]},"e":{}}`), ctx: mustJSON(t, `{"page":{"url":"u"}}`)}, k))
	}
	if got, want := strings.Join(shown, " "), "properties.a.b properties.a.c properties.a.c[].d properties.a.c[].d properties.e context.page.url"; got != want {
		t.Errorf("paths %q, want %q", got, want)
	}
	if s.paths[2] != s.paths[3] {
		t.Error("the same path in two array elements hashed differently")
	}
	other, _ := scan(`{"x":1}`, `{"page":{"url":"v"}}`)
	if other.paths[1] != s.paths[5] {
		t.Error("context.page.url hashed differently in two events")
	}
	for _, tc := range []struct{ props, path string }{
		{`{"a.b":1}`, `properties["a.b"]`},
		{`{"a":{"":1}}`, `properties.a[""]`},
		{`{"a":[{"x":{".":1}}]}`, `properties.a[].x["."]`},
		{`{"a b":{"c":{"d.":1}}}`, `properties["a b"].c["d."]`},
	} {
		if _, p := scan(tc.props, `{}`); p == nil || p.path != tc.path || p.code != rejectInvalid {
			t.Errorf("%s: problem %+v, want one at %s", tc.props, p, tc.path)
		}
	}
}

func mustJSON(t *testing.T, s string) jsonread.Value {
	t.Helper()
	v, _, err := jsonread.Validate([]byte(s), jsonread.Limits{MaxDepth: 32})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A scan given back and taken again starts like a new one: no paths or
// key count of the event before, the new key limit.
func TestKeyScanReused(t *testing.T) {
	seed := maphash.MakeSeed()
	s := newKeyScan(100, seed)
	if p := s.scanEvent(&item{props: mustJSON(t, `{"a":1,"b":2,"c":3}`)}); p != nil {
		t.Fatal(p)
	}
	s.release()
	s = newKeyScan(2, seed)
	defer s.release()
	if p := s.scanEvent(&item{props: mustJSON(t, `{"x":1}`)}); p != nil {
		t.Fatalf("one key refused by a reused scan allowing 2: %v", p)
	}
	if len(s.paths) != 1 || s.keys != 1 {
		t.Fatalf("reused scan noted %d paths and %d keys, want 1 and 1", len(s.paths), s.keys)
	}
	if p := s.scanEvent(&item{props: mustJSON(t, `{"x":1,"y":2,"z":3}`)}); p == nil || p.code != rejectTooLarge {
		t.Fatalf("three keys with a limit of 2: %v, want too large", p)
	}
}

// An event that takes a request's shared object takes the key scan the
// request's check made of it: the same keys and paths, in the same
// order, as walking the object again, and the same problem (found by
// walking) when the event's own keys and the shared ones pass its limit
// together; a scan with another seed, or one looking for a path, walks.
func TestSharedKeysTakenAsScanned(t *testing.T) {
	seed := maphash.MakeSeed()
	lim := goldenLimits()                                                                                           // 16 keys an event
	ctx := mustJSON(t, `{"page":{"url":"u","referrer":"r"},"screen":{"w":1,"h":2},"tags":[{"a":1}],"locale":"de"}`) // 9 keys
	shared, rerr := checkShared("context", ctx, lim, jsonread.Facts{}, seed)
	if rerr != nil || shared.name != "context" || shared.keys != 9 {
		t.Fatalf("checkShared: %+v, %v", shared, rerr)
	}
	for _, props := range []string{`{"a":1,"b":{"c":2}}`, `{"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7}`, `{"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8}`} {
		it := &item{props: mustJSON(t, props), ctx: ctx}
		walked := newKeyScan(lim.MaxKeys, seed)
		wantProblem := walked.scanEvent(it)
		it.sharedCtx = &shared
		taken := newKeyScan(lim.MaxKeys, seed)
		if p := taken.scanEvent(it); !reflect.DeepEqual(p, wantProblem) {
			t.Errorf("props %s: with the shared scan %+v, walking %+v", props, p, wantProblem)
		}
		if taken.keys != walked.keys || !slices.Equal(taken.paths, walked.paths) {
			t.Errorf("props %s: with the shared scan %d keys %x, walking %d keys %x", props, taken.keys, taken.paths, walked.keys, walked.paths)
		}
		if wantProblem == nil && taken.pathOf(it, len(taken.paths)-1) != "context.locale" {
			t.Errorf("props %s: pathOf the last path is %q, want context.locale", props, taken.pathOf(it, len(taken.paths)-1))
		}
		walked.release()
		taken.release()
	}
	// The shared scan is taken, not walked again: a marked one shows.
	marked := &sharedKeys{name: "context", seed: seed, keys: 1, paths: []uint64{42}}
	s := newKeyScan(lim.MaxKeys, seed)
	defer s.release()
	if s.scanEvent(&item{ctx: ctx, sharedCtx: marked}); !slices.Equal(s.paths, []uint64{42}) {
		t.Errorf("the shared scan was not taken: paths %x", s.paths)
	}
	other := newKeyScan(lim.MaxKeys, maphash.MakeSeed())
	defer other.release()
	if other.scanEvent(&item{ctx: ctx, sharedCtx: marked}); len(other.paths) != 7 {
		t.Errorf("a scan with another seed took the shared one: %d paths, want 7 walked", len(other.paths))
	}
}
