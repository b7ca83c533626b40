// Package jsonbench compares JSON libraries on trackstream's ingest work
// (issue 7): the two-level decode ingest does (the request body with its
// events kept raw, then each event), the validity check of a whole body,
// and the Marshal of one normalised event record. It is a separate module
// so the product's go.mod gains none of the candidates; run it with
// `go tool -modfile=tools/go.mod task bench:decoders`.
package jsonbench

import (
	stdjson "encoding/json"
	"fmt"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/bytedance/sonic"
	gojson "github.com/goccy/go-json"
	segjson "github.com/segmentio/encoding/json"
)

// Codec is one JSON library, set up to do ingest's work with its own raw
// JSON type.
type Codec struct {
	// Name is the short name used in benchmark names and tables.
	Name string
	// DecodeTrack decodes a Tracardi /track body and then each of its
	// events, appending what was decoded to r.
	DecodeTrack func(body []byte, r *Result) error
	// DecodeSegment decodes a Segment /v1/batch body and then each of its
	// calls, appending what was decoded to r.
	DecodeSegment func(body []byte, r *Result) error
	// Valid reports whether b is one well-formed JSON value.
	Valid func(b []byte) bool
	// MarshalRecord encodes a normalised event record.
	MarshalRecord func(rec RecordInput) ([]byte, error)
}

// Result is what a decode found; the tests compare it across codecs so
// every codec is known to do the same work.
type Result struct {
	Source, Session, Profile, WriteKey string
	// IDs and Types are the event ids and types, in request order.
	IDs, Types []string
	// RawBytes is the total length of the raw values kept (shared
	// context, each event's time, properties and context).
	RawBytes int
}

// Reset empties r, keeping its slices' capacity.
func (r *Result) Reset() {
	*r = Result{IDs: r.IDs[:0], Types: r.Types[:0]}
}

// trackPayload mirrors ingest's trackPayload with the raw type R.
type trackPayload[R ~[]byte] struct {
	Source     idRef `json:"source"`
	Session    idRef `json:"session"`
	Profile    idRef `json:"profile"`
	Context    R     `json:"context"`
	Properties R     `json:"properties"`
	Events     []R   `json:"events"`
}

type idRef struct {
	ID string `json:"id"`
}

// trackEvent mirrors ingest's trackEvent.
type trackEvent[R ~[]byte] struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Time       R      `json:"time"`
	Properties R      `json:"properties"`
	Context    R      `json:"context"`
	Options    R      `json:"options"`
	Tags       R      `json:"tags"`
}

// segmentBatch mirrors ingest's segmentBatch.
type segmentBatch[R ~[]byte] struct {
	Batch        []R    `json:"batch"`
	Context      R      `json:"context"`
	Integrations R      `json:"integrations"`
	SentAt       R      `json:"sentAt"`
	WriteKey     string `json:"writeKey"`
}

// segmentCall mirrors ingest's segmentCall, with plain strings where
// ingest has its flexString (string or number): a custom unmarshaler
// would measure each library's interface dispatch, not its decoder.
type segmentCall[R ~[]byte] struct {
	Type              string `json:"type"`
	MessageID         string `json:"messageId"`
	AnonymousID       string `json:"anonymousId"`
	UserID            string `json:"userId"`
	Event             string `json:"event"`
	Name              string `json:"name"`
	GroupID           string `json:"groupId"`
	PreviousID        string `json:"previousId"`
	Properties        R      `json:"properties"`
	Traits            R      `json:"traits"`
	Context           R      `json:"context"`
	Integrations      R      `json:"integrations"`
	Timestamp         R      `json:"timestamp"`
	OriginalTimestamp R      `json:"originalTimestamp"`
	SentAt            R      `json:"sentAt"`
	WriteKey          string `json:"writeKey"`
}

// record mirrors internal/event.Event, the record ingest produces to
// Kafka, with the raw type R for properties and context.
type record[R ~[]byte] struct {
	SourceID    string     `json:"source_id"`
	ID          string     `json:"id"`
	Type        string     `json:"type"`
	Time        time.Time  `json:"time"`
	ReceivedAt  time.Time  `json:"received_at"`
	ClientTime  *time.Time `json:"client_time,omitempty"`
	SentAt      *time.Time `json:"sent_at,omitempty"`
	Late        bool       `json:"late,omitempty,omitzero"` // omitzero: v2's omitempty keeps false
	SessionID   string     `json:"session_id,omitempty"`
	ProfileID   string     `json:"profile_id,omitempty"`
	AnonymousID string     `json:"anonymous_id,omitempty"`
	UserID      string     `json:"user_id,omitempty"`
	IP          string     `json:"ip,omitempty"`
	UserAgent   string     `json:"user_agent,omitempty"`
	URL         string     `json:"url,omitempty"`
	Referrer    string     `json:"referrer,omitempty"`
	Properties  R          `json:"properties,omitempty"`
	Context     R          `json:"context,omitempty"`
	Name        string     `json:"name,omitempty"`
	GroupID     string     `json:"group_id,omitempty"`
	PreviousID  string     `json:"previous_id,omitempty"`
}

// RecordInput is the content of a record to marshal, independent of any
// library's raw type.
type RecordInput struct {
	SourceID, ID, Type, SessionID, ProfileID, IP, UserAgent, URL, Referrer string
	Time, ReceivedAt, ClientTime                                           time.Time
	Properties, Context                                                    []byte
}

func toRecord[R ~[]byte](in RecordInput) record[R] {
	ct := in.ClientTime
	return record[R]{
		SourceID: in.SourceID, ID: in.ID, Type: in.Type, Time: in.Time, ReceivedAt: in.ReceivedAt,
		ClientTime: &ct, SessionID: in.SessionID, ProfileID: in.ProfileID, IP: in.IP,
		UserAgent: in.UserAgent, URL: in.URL, Referrer: in.Referrer,
		Properties: R(in.Properties), Context: R(in.Context),
	}
}

// newCodec builds a Codec from a library's Unmarshal, Valid and Marshal,
// using R, the library's own raw JSON type.
func newCodec[R ~[]byte](name string, unmarshal func([]byte, any) error, valid func([]byte) bool, marshal func(any) ([]byte, error)) Codec {
	return Codec{
		Name: name,
		DecodeTrack: func(body []byte, r *Result) error {
			return decodeTrack[R](unmarshal, body, r)
		},
		DecodeSegment: func(body []byte, r *Result) error {
			return decodeSegment[R](unmarshal, body, r)
		},
		Valid: valid,
		MarshalRecord: func(in RecordInput) ([]byte, error) {
			rec := toRecord[R](in)
			return marshal(&rec)
		},
	}
}

// decodeTrack does ingest's two-level decode of a /track body.
func decodeTrack[R ~[]byte](unmarshal func([]byte, any) error, body []byte, r *Result) error {
	var p trackPayload[R]
	if err := unmarshal(body, &p); err != nil {
		return fmt.Errorf("decode track body: %w", err)
	}
	r.Source, r.Session, r.Profile = p.Source.ID, p.Session.ID, p.Profile.ID
	r.RawBytes += len(p.Context) + len(p.Properties)
	for i, raw := range p.Events {
		var e trackEvent[R]
		if err := unmarshal(raw, &e); err != nil {
			return fmt.Errorf("decode events[%d]: %w", i, err)
		}
		r.IDs = append(r.IDs, e.ID)
		r.Types = append(r.Types, e.Type)
		r.RawBytes += len(e.Time) + len(e.Properties) + len(e.Context)
	}
	return nil
}

// decodeSegment does ingest's two-level decode of a /v1/batch body.
func decodeSegment[R ~[]byte](unmarshal func([]byte, any) error, body []byte, r *Result) error {
	var p segmentBatch[R]
	if err := unmarshal(body, &p); err != nil {
		return fmt.Errorf("decode batch body: %w", err)
	}
	r.WriteKey = p.WriteKey
	r.RawBytes += len(p.Context) + len(p.SentAt)
	for i, raw := range p.Batch {
		var c segmentCall[R]
		if err := unmarshal(raw, &c); err != nil {
			return fmt.Errorf("decode batch[%d]: %w", i, err)
		}
		r.IDs = append(r.IDs, c.MessageID)
		r.Types = append(r.Types, c.Type)
		r.RawBytes += len(c.Timestamp) + len(c.Properties) + len(c.Context)
	}
	return nil
}

// Codecs returns the compared libraries, encoding/json (v1) first as the
// baseline. v2 is github.com/go-json-experiment/json with its defaults
// (strict: it refuses invalid UTF-8 and duplicate names); v2-lax turns
// those two checks off, as ingest could once its own pre-scan has made
// them. sonic is sonic's default config (fastest; strings alias the
// input), sonic-std its encoding/json-compatible config.
func Codecs() []Codec {
	return []Codec{
		newCodec[stdjson.RawMessage]("v1", stdjson.Unmarshal, stdjson.Valid, stdjson.Marshal),
		newCodec[jsontext.Value]("v2",
			func(b []byte, v any) error { return jsonv2.Unmarshal(b, v) },
			func(b []byte) bool { return jsontext.Value(b).IsValid() },
			func(v any) ([]byte, error) { return jsonv2.Marshal(v) }),
		newCodec[jsontext.Value]("v2-lax",
			func(b []byte, v any) error {
				return jsonv2.Unmarshal(b, v, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
			},
			func(b []byte) bool {
				return jsontext.Value(b).IsValid(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
			},
			func(v any) ([]byte, error) { return jsonv2.Marshal(v, jsontext.AllowInvalidUTF8(true)) }),
		newCodec[gojson.RawMessage]("goccy", gojson.Unmarshal, gojson.Valid, gojson.Marshal),
		newCodec[stdjson.RawMessage]("sonic", sonic.Unmarshal, sonic.Valid, sonic.Marshal),
		newCodec[stdjson.RawMessage]("sonic-std", sonic.ConfigStd.Unmarshal, sonic.ConfigStd.Valid, sonic.ConfigStd.Marshal),
		newCodec[segjson.RawMessage]("segmentio", segjson.Unmarshal, segjson.Valid, segjson.Marshal),
	}
}
