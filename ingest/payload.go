package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/trackstream/trackstream/internal/event"
)

// trackPayload is a Tracardi-style /track request. Field names follow
// Tracardi so its trackers can send here unchanged.
type trackPayload struct {
	Source     idRef           `json:"source"`
	Session    idRef           `json:"session"`
	Profile    idRef           `json:"profile"`
	Context    json.RawMessage `json:"context"`
	Properties json.RawMessage `json:"properties"`
	Events     []trackEvent    `json:"events"`
}

type idRef struct {
	ID string `json:"id"`
}

type trackEvent struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Time       *time.Time      `json:"time"`
	Properties json.RawMessage `json:"properties"`
	Context    json.RawMessage `json:"context"`
}

// requestError is a refusal of the whole request: an HTTP status, a
// machine-readable code and a message for the sender.
type requestError struct {
	Status  int    `json:"-"`
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *requestError) Error() string { return e.Code + ": " + e.Message }

// Rejection says why one event of a batch was not accepted.
type Rejection struct {
	Index  int    `json:"index"`
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Limits are the per-request validation limits.
type Limits struct {
	MaxEvents int
}

const (
	maxTypeLen = 64
	maxIDLen   = 128
	// futureSkew is how far ahead of the receive time a client clock may be
	// before the event time is clamped to the receive time.
	futureSkew = time.Minute
)

var typePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)

// decodeTrack parses and validates a /track body, returning the normalised
// events to produce and the rejections of the rest.
func decodeTrack(body []byte, receivedAt time.Time, lim Limits) (trackPayload, []event.Event, []Rejection, error) {
	var p trackPayload
	if !utf8.Valid(body) {
		return p, nil, nil, &requestError{400, "invalid_utf8", "the body is not valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&p); err != nil {
		return p, nil, nil, &requestError{400, "invalid_json", describeJSONError(err)}
	}
	// dec.More would miss a trailing '}' or ']': anything but JSON
	// whitespace after the object is refused.
	if len(bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n")) > 0 {
		return p, nil, nil, &requestError{400, "invalid_json", "unexpected data after the JSON object"}
	}
	if p.Source.ID == "" {
		return p, nil, nil, &requestError{400, "missing_field", "source.id is required"}
	}
	if len(p.Events) == 0 {
		return p, nil, nil, &requestError{400, "missing_field", "events must hold at least one event"}
	}
	if len(p.Events) > lim.MaxEvents {
		return p, nil, nil, &requestError{413, "too_many_events", fmt.Sprintf("events holds %d events; the limit is %d", len(p.Events), lim.MaxEvents)}
	}
	// A slice, not a map, so the error named is always the same one.
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"context", p.Context}, {"properties", p.Properties}} {
		if !isObjectOrAbsent(f.raw) {
			return p, nil, nil, &requestError{400, "invalid_field", f.name + " must be a JSON object"}
		}
	}
	var events []event.Event
	var rejected []Rejection
	for i, te := range p.Events {
		if r := validateEvent(i, &te); r != nil {
			rejected = append(rejected, *r)
			continue
		}
		events = append(events, normalise(&p, &te, receivedAt))
	}
	return p, events, rejected, nil
}

func validateEvent(i int, te *trackEvent) *Rejection {
	path := func(f string) string { return fmt.Sprintf("events[%d].%s", i, f) }
	switch {
	case te.Type == "":
		return &Rejection{i, path("type"), "is required"}
	case len(te.Type) > maxTypeLen:
		return &Rejection{i, path("type"), fmt.Sprintf("is %d bytes; the limit is %d", len(te.Type), maxTypeLen)}
	case !typePattern.MatchString(te.Type):
		return &Rejection{i, path("type"), "may hold only letters, digits and _ . : - and must start with a letter or digit"}
	case te.Time != nil && !timeEncodable(*te.Time):
		return &Rejection{i, path("time"), "must be between years 0000 and 9999 once converted to UTC"}
	case len(te.ID) > maxIDLen:
		return &Rejection{i, path("id"), fmt.Sprintf("is %d bytes; the limit is %d", len(te.ID), maxIDLen)}
	case !isObjectOrAbsent(te.Properties):
		return &Rejection{i, path("properties"), "must be a JSON object"}
	case !isObjectOrAbsent(te.Context):
		return &Rejection{i, path("context"), "must be a JSON object"}
	}
	return nil
}

func normalise(p *trackPayload, te *trackEvent, receivedAt time.Time) event.Event {
	id := te.ID
	if id == "" {
		id = uuid.Must(uuid.NewV7()).String()
	}
	t := receivedAt
	if te.Time != nil && !te.Time.After(receivedAt.Add(futureSkew)) {
		t = te.Time.UTC()
	}
	ctx := te.Context
	if len(ctx) == 0 {
		ctx = p.Context
	}
	props := te.Properties
	if len(props) == 0 {
		props = p.Properties
	}
	return event.Event{
		SourceID:   p.Source.ID,
		ID:         id,
		Type:       te.Type,
		Time:       t,
		ReceivedAt: receivedAt,
		SessionID:  p.Session.ID,
		ProfileID:  p.Profile.ID,
		Properties: nullToEmpty(props),
		Context:    nullToEmpty(ctx),
	}
}

// timeEncodable reports whether t, converted to UTC, can be encoded in a
// record (RFC 3339 allows years 0000-9999 only).
func timeEncodable(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 0 && y <= 9999
}

func isObjectOrAbsent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null")) || raw[0] == '{'
}

func nullToEmpty(raw json.RawMessage) json.RawMessage {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil
	}
	return raw
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the body"
		}
		return fmt.Sprintf("%s must be %s, got %s", field, jsonKind(typ.Type), typ.Value)
	default:
		return "malformed JSON: " + err.Error()
	}
}

// jsonKind names the JSON value a Go type decodes from, so messages name
// JSON kinds rather than internal Go types.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "another type"
}
