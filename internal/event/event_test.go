package event

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	in := Event{
		SourceID: "src_1", ID: "e1", Type: "page-view",
		Time:       time.Date(2026, 11, 25, 10, 0, 0, 123e6, time.UTC),
		ReceivedAt: time.Date(2026, 11, 25, 10, 0, 1, 0, time.UTC),
		SessionID:  "s1", ProfileID: "p1",
		Properties: json.RawMessage(`{"n":12345678901234567890}`),
	}
	b, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := Unmarshal(FormatVersion, b)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Time.Equal(in.Time) || out.ID != in.ID || string(out.Properties) != string(in.Properties) {
		t.Fatalf("round trip changed the event: %+v", out)
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	for name, tc := range map[string]struct{ version, value string }{
		"unknown version": {"9", `{"source_id":"s","id":"i","type":"t"}`},
		"not json":        {FormatVersion, `{`},
		"missing id":      {FormatVersion, `{"source_id":"s","type":"t"}`},
	} {
		if _, err := Unmarshal(tc.version, []byte(tc.value)); !errors.Is(err, ErrUndecodable) {
			t.Errorf("%s: got %v, want ErrUndecodable", name, err)
		}
	}
}

func TestKeyGroupsAVisitor(t *testing.T) {
	a := Event{SourceID: "s", ID: "1", ProfileID: "p"}
	b := Event{SourceID: "s", ID: "2", ProfileID: "p", SessionID: "x"}
	if string(a.Key()) != string(b.Key()) || string(a.Key()) != "s/p" {
		t.Fatalf("keys differ for one visitor: %q %q", a.Key(), b.Key())
	}
	c := Event{SourceID: "s", ID: "3", SessionID: "x"}
	if string(c.Key()) != "s/x" {
		t.Fatalf("session fallback key = %q", c.Key())
	}
}
