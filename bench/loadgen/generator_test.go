package loadgen

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func fixedClock() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }

func TestGeneratorIsDeterministic(t *testing.T) {
	for _, shape := range []Shape{ShapeTracardi, ShapeSegment} {
		cfg := GenConfig{Seed: 42, RunID: "r1", SourceID: "src_a", Shape: shape, EventsPerRequest: 3, Now: fixedClock}
		a, b := NewGenerator(cfg, 2), NewGenerator(cfg, 2)
		other := NewGenerator(GenConfig{Seed: 43, RunID: "r1", SourceID: "src_a", Shape: shape, EventsPerRequest: 3, Now: fixedClock}, 2)
		differs := false
		for i := range 200 {
			ba, ia := a.Next()
			ba = bytes.Clone(ba)
			ia = append([]string(nil), ia...)
			bb, ib := b.Next()
			if !bytes.Equal(ba, bb) || strings.Join(ia, ",") != strings.Join(ib, ",") {
				t.Fatalf("%s request %d differs between two generators of the same seed:\n%s\n%s", shape, i, ba, bb)
			}
			bo, _ := other.Next()
			differs = differs || !bytes.Equal(ba, bo)
		}
		if !differs {
			t.Errorf("%s: seeds 42 and 43 made identical traffic", shape)
		}
	}
}

func TestGeneratorIDsUniqueAcrossWorkers(t *testing.T) {
	cfg := GenConfig{Seed: 1, RunID: "r", SourceID: "s", EventsPerRequest: 5}
	seen := map[string]bool{}
	for w := range 4 {
		g := NewGenerator(cfg, w)
		for range 500 {
			_, ids := g.Next()
			if len(ids) != 5 {
				t.Fatalf("worker %d: %d ids for a batch of 5", w, len(ids))
			}
			for _, id := range ids {
				if seen[id] {
					t.Fatalf("id %s made twice", id)
				}
				seen[id] = true
			}
		}
	}
}

// tracardiBody is what ingest's /track decoder reads.
type tracardiBody struct {
	Source  struct{ ID string } `json:"source"`
	Session struct{ ID string } `json:"session"`
	Profile struct{ ID string } `json:"profile"`
	Context struct {
		Page struct {
			URL string `json:"url"`
		} `json:"page"`
	} `json:"context"`
	Events []struct {
		ID         string          `json:"id"`
		Type       string          `json:"type"`
		Time       time.Time       `json:"time"`
		Properties json.RawMessage `json:"properties"`
	} `json:"events"`
}

type segmentBody struct {
	Batch []struct {
		Type        string          `json:"type"`
		Event       string          `json:"event"`
		Name        string          `json:"name"`
		MessageID   string          `json:"messageId"`
		AnonymousID string          `json:"anonymousId"`
		Timestamp   time.Time       `json:"timestamp"`
		Properties  json.RawMessage `json:"properties"`
		Context     struct {
			UserAgent string `json:"userAgent"`
		} `json:"context"`
	} `json:"batch"`
	WriteKey string    `json:"writeKey"`
	SentAt   time.Time `json:"sentAt"`
}

func TestGeneratorWritesValidPayloads(t *testing.T) {
	tests := []struct {
		shape Shape
		batch int
	}{{ShapeTracardi, 1}, {ShapeTracardi, 50}, {ShapeSegment, 1}, {ShapeSegment, 20}}
	for _, tt := range tests {
		t.Run(string(tt.shape), func(t *testing.T) {
			g := NewGenerator(GenConfig{Seed: 9, SourceID: `src_"quoted"`, Shape: tt.shape, EventsPerRequest: tt.batch, Now: fixedClock}, 0)
			urls, types := map[string]int{}, map[string]int{}
			n := 2000
			if tt.batch > 1 {
				n = 200
			}
			for range n {
				body, ids := g.Next()
				switch tt.shape {
				case ShapeTracardi:
					var p tracardiBody
					if err := json.Unmarshal(body, &p); err != nil {
						t.Fatalf("invalid JSON: %v\n%s", err, body)
					}
					if p.Source.ID != `src_"quoted"` || p.Session.ID == "" || p.Profile.ID == "" || len(p.Events) != tt.batch {
						t.Fatalf("missing fields: %+v", p)
					}
					for i, e := range p.Events {
						if e.ID != ids[i] || e.Type == "" || e.Time.IsZero() || len(e.Properties) == 0 || e.Properties[0] != '{' {
							t.Fatalf("event %d incomplete or id %q != %q: %+v", i, e.ID, ids[i], e)
						}
						types[e.Type]++
					}
					urls[p.Context.Page.URL]++
				case ShapeSegment:
					var p segmentBody
					if err := json.Unmarshal(body, &p); err != nil {
						t.Fatalf("invalid JSON: %v\n%s", err, body)
					}
					if p.WriteKey != `src_"quoted"` || p.SentAt.IsZero() || len(p.Batch) != tt.batch {
						t.Fatalf("missing fields: %+v", p)
					}
					for i, e := range p.Batch {
						if e.MessageID != ids[i] || e.AnonymousID == "" || e.Context.UserAgent == "" || (e.Event == "" && e.Name == "") {
							t.Fatalf("call %d incomplete: %+v", i, e)
						}
						if e.Type != "track" && e.Type != "page" {
							t.Fatalf("call %d has type %q", i, e.Type)
						}
						types[e.Type]++
					}
				}
			}
			if len(types) < 2 {
				t.Errorf("only event types %v", types)
			}
			if tt.shape == ShapeTracardi && tt.batch == 1 && len(urls) < 100 {
				t.Errorf("only %d distinct URLs in 2000 requests; want a long tail", len(urls))
			}
		})
	}
}

func TestAppendJSONStringEscapes(t *testing.T) {
	for _, s := range []string{"plain", `a"b`, `back\slash`, "ctl\x01\n\t", "ünïcode €"} {
		var got string
		if err := json.Unmarshal(appendJSONString(nil, s), &got); err != nil || got != s {
			t.Errorf("appendJSONString(%q) decodes to %q, %v", s, got, err)
		}
	}
}

func BenchmarkGeneratorNext(b *testing.B) {
	for _, batch := range []int{1, 50} {
		b.Run(map[int]string{1: "single", 50: "batch50"}[batch], func(b *testing.B) {
			g := NewGenerator(GenConfig{Seed: 1, SourceID: "src_bench", EventsPerRequest: batch}, 0)
			body, _ := g.Next()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				g.Next()
			}
		})
	}
}
