package ingest

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Shared objects (top-level properties and context of /track, a Segment
// batch's context) are copied into every event that has none of its own:
// the per-event size limit applies to the event as produced, and a
// request cannot make ingest produce more than maxAmplification times the
// decoded body limit.
func TestSharedObjectsCountAgainstTheLimits(t *testing.T) {
	t.Parallel()
	env := newEnv(t, nil)
	// object is a JSON object of about n bytes in strings within the
	// string limit.
	object := func(prefix string, n int) map[string]any {
		o := map[string]any{}
		for i := 0; n > 0; i++ {
			o[fmt.Sprintf("%s%d", prefix, i)] = strings.Repeat("v", min(n, 4000))
			n -= 4000
		}
		return o
	}

	t.Run("a small request fanning large shared properties out is refused whole", func(t *testing.T) {
		// The probe's request: about 100 KB of shared properties and 200
		// events without their own, about 19 MB once copied.
		props := object("k", 12*8000)
		events := make([]any, 200)
		for i := range events {
			events[i] = map[string]any{"id": fmt.Sprintf("amp-%d", i), "type": "amp"}
		}
		body := trackJSON(t, map[string]any{"source": map[string]any{"id": enabledSource}, "properties": props, "events": events})
		r := env.post(t, bytes.NewReader(body))
		wantError(t, r, http.StatusRequestEntityTooLarge, "too_large")
		if !strings.Contains(string(r.body), "shared properties and context") {
			t.Fatalf("answer %s does not name the shared objects", r.body)
		}
	})

	t.Run("an event over the per-event limit with what it inherits is rejected", func(t *testing.T) {
		limit := env.cfg.MaxEventBytes
		body := trackJSON(t, map[string]any{
			"source":     map[string]any{"id": enabledSource},
			"properties": object("p", limit/2),
			"context":    object("c", limit/2),
			"events": []any{
				map[string]any{"id": "own-props", "type": "t", "properties": map[string]any{"k": "v"}},
				map[string]any{"id": "inherits-both", "type": "t"},
			},
		})
		r := env.post(t, bytes.NewReader(body))
		wantStatus(t, r, http.StatusOK)
		tr := decodeTrackResponse(t, r)
		if !slices.Equal(tr.IDs, []string{"own-props"}) || len(tr.Rejected) != 1 {
			t.Fatalf("answer %s, want own-props accepted and inherits-both rejected", r.body)
		}
		rej := tr.Rejected[0]
		if rej.Path != "events[1]" || rej.Code != rejectTooLarge || !strings.Contains(rej.Reason, fmt.Sprintf("the limit is %d", limit)) {
			t.Fatalf("rejection %+v, want events[1] too_large naming the limit %d", rej, limit)
		}
	})

	t.Run("a Segment batch context counts against each call that takes it", func(t *testing.T) {
		limit := env.cfg.MaxEventBytes
		body := trackJSON(t, map[string]any{
			"writeKey": enabledSource,
			"context":  object("c", limit),
			"batch": []any{
				map[string]any{"type": "track", "messageId": "seg-own", "anonymousId": "a", "event": "E", "context": map[string]any{"ip": "198.51.100.1"}},
				map[string]any{"type": "track", "messageId": "seg-inherits", "anonymousId": "a", "event": "E"},
			},
		})
		r := env.send(t, http.MethodPost, "/v1/batch", body)
		wantStatus(t, r, http.StatusOK)
		tr := decodeTrackResponse(t, r)
		if !slices.Equal(tr.IDs, []string{"seg-own"}) || len(tr.Rejected) != 1 || tr.Rejected[0].Path != "batch[1]" || tr.Rejected[0].Code != rejectTooLarge {
			t.Fatalf("answer %s, want seg-own accepted and batch[1] too_large", r.body)
		}
	})

	recs := env.consumeEvents(t, 2)
	for _, rec := range recs {
		if n := len(rec.Value); n > 2*env.cfg.MaxEventBytes {
			t.Errorf("record %s is %d bytes, more than twice the per-event limit", decodeRecord(t, rec).ID, n)
		}
	}
}
