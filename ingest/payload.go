package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/event"
)

// requestError is a refusal of the whole request: an HTTP status, a
// machine-readable code and a message for the sender.
type requestError struct {
	Status  int    `json:"-"`
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *requestError) Error() string { return e.Code + ": " + e.Message }

func badRequest(code, format string, a ...any) *requestError {
	return &requestError{400, code, fmt.Sprintf(format, a...)}
}

// Rejection says why one event of a request was not accepted: its index
// in the request, the JSON path of the offending value, a machine-readable
// code and the reason.
type Rejection struct {
	Index  int    `json:"index"`
	Path   string `json:"path"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// The codes of Rejection (and the reason label of the rejected-events
// metric): a fixed set.
const (
	rejectInvalid     = "invalid_field"
	rejectMissing     = "missing_field"
	rejectTooLarge    = "too_large"
	rejectSchema      = "schema"
	rejectUnknownType = "unknown_type"
)

// rejectionCodes lists every Rejection code, for the metric.
var rejectionCodes = []string{rejectInvalid, rejectMissing, rejectTooLarge, rejectSchema, rejectUnknownType}

// Limits are the per-request validation limits.
type Limits struct {
	MaxEvents      int
	MaxEventBytes  int
	MaxDepth       int
	MaxProperties  int
	MaxStringBytes int
	MaxTypeBytes   int
	MaxIDBytes     int
	// FutureSkew: corrected event times further ahead of the receive
	// time are clamped to it. LateAfter: events further behind are
	// flagged late.
	FutureSkew time.Duration
	LateAfter  time.Duration
}

// limitsOf takes the validation limits from the ingest configuration.
func limitsOf(c config.Ingest) Limits {
	return Limits{
		MaxEvents:      c.MaxEvents,
		MaxEventBytes:  c.MaxEventBytes,
		MaxDepth:       c.MaxDepth,
		MaxProperties:  c.MaxProperties,
		MaxStringBytes: c.MaxStringBytes,
		MaxTypeBytes:   c.MaxTypeBytes,
		MaxIDBytes:     c.MaxIDBytes,
		FutureSkew:     c.FutureSkew,
		LateAfter:      c.LateAfter,
	}
}

// api is the API an event came through; it decides the names of fields
// in rejections.
type api int

const (
	apiTrack api = iota
	apiSegment
	apiPixel
)

// batch is one decoded tracking request, whatever API it came through,
// before its source is known.
type batch struct {
	// sourceID is the public source id named in the body or query
	// (Tracardi source.id, pixel s); writeKey a Segment writeKey from the
	// body. Either may be empty.
	sourceID string
	writeKey string
	items    []item
}

// item is one event of a batch as decoded: ev holds what the sender
// said (Type, ID if given, ids, client and sent times, properties,
// context); the rest is filled once the source is known.
type item struct {
	api api
	// prefix is the JSON path of the event in the request ("events[2].",
	// "batch[0]." or "" for a single Segment call).
	prefix string
	raw    []byte
	ev     event.Event
	// props is the object validated against the type's schema.
	props  json.RawMessage
	reject *Rejection
}

// rejectf marks it rejected at field (a path relative to the event).
func (it *item) rejectf(index int, code, field, format string, a ...any) {
	if it.reject != nil {
		return
	}
	path := it.prefix + field
	if field == "" {
		path = trimDot(it.prefix)
	}
	it.reject = &Rejection{Index: index, Path: path, Code: code, Reason: fmt.Sprintf(format, a...)}
}

func trimDot(s string) string {
	if n := len(s); n > 0 && s[n-1] == '.' {
		return s[:n-1]
	}
	return s
}

// trackPayload is a Tracardi-style /track request. Field names follow
// Tracardi so its trackers can send here unchanged.
type trackPayload struct {
	Source     idRef             `json:"source"`
	Session    idRef             `json:"session"`
	Profile    idRef             `json:"profile"`
	Context    json.RawMessage   `json:"context"`
	Properties json.RawMessage   `json:"properties"`
	Events     []json.RawMessage `json:"events"`
}

type idRef struct {
	ID string `json:"id"`
}

// trackEvent is one Tracardi event. Tracardi's options and tags are
// accepted and not stored.
type trackEvent struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Time       json.RawMessage `json:"time"`
	Properties json.RawMessage `json:"properties"`
	Context    json.RawMessage `json:"context"`
	Options    json.RawMessage `json:"options"`
	Tags       json.RawMessage `json:"tags"`
}

// decodeTrack parses a /track body into a batch. Refusals of the whole
// request are *requestError; problems of one event are left in its
// item.reject.
func decodeTrack(body []byte, lim Limits) (*batch, error) {
	if err := scan(body, lim); err != nil {
		return nil, err
	}
	var p trackPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, badRequest("invalid_json", "%s", describeJSONError(err, ""))
	}
	if p.Events == nil {
		return nil, badRequest("missing_field", "events must hold at least one event")
	}
	if len(p.Events) == 0 {
		return nil, badRequest("missing_field", "events must hold at least one event")
	}
	if len(p.Events) > lim.MaxEvents {
		return nil, &requestError{413, "too_many_events", fmt.Sprintf("events holds %d events; the limit is %d", len(p.Events), lim.MaxEvents)}
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"context", p.Context}, {"properties", p.Properties}} {
		if err := checkShared(f.name, f.raw, lim); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct{ name, v string }{{"session.id", p.Session.ID}, {"profile.id", p.Profile.ID}} {
		if reason := checkID(f.v, lim); reason != "" {
			return nil, badRequest("invalid_field", "%s %s", f.name, reason)
		}
	}
	b := &batch{sourceID: p.Source.ID, items: make([]item, len(p.Events))}
	for i, raw := range p.Events {
		it := &b.items[i]
		it.prefix = fmt.Sprintf("events[%d].", i)
		it.raw = raw
		it.ev.SessionID, it.ev.ProfileID = p.Session.ID, p.Profile.ID
		if !isObject(raw) {
			it.rejectf(i, rejectInvalid, "", "must be a JSON object")
			continue
		}
		var te trackEvent
		if err := json.Unmarshal(raw, &te); err != nil {
			field, reason := describeFieldError(err)
			it.rejectf(i, rejectInvalid, field, "%s", reason)
			continue
		}
		it.ev.ID, it.ev.Type = te.ID, te.Type
		it.ev.ClientTime = parseTime(it, i, "time", te.Time)
		for _, f := range []struct {
			name string
			raw  json.RawMessage
		}{{"properties", te.Properties}, {"context", te.Context}} {
			if !isObjectOrAbsent(f.raw) {
				it.rejectf(i, rejectInvalid, f.name, "must be a JSON object")
			}
		}
		it.ev.Properties = firstPresent(te.Properties, p.Properties)
		it.ev.Context = firstPresent(te.Context, p.Context)
		it.props = it.ev.Properties
	}
	return b, nil
}

// scan runs the JSON hardening checks on a whole body.
func scan(body []byte, lim Limits) *requestError {
	if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
		return badRequest("invalid_json", "the body is empty; it must be a JSON object")
	}
	if err := scanJSON(body, scanLimits{MaxDepth: lim.MaxDepth}); err != nil {
		return badRequest(err.Code, "%s", err.Error())
	}
	if !isObject(body) {
		return badRequest("invalid_json", "the body must be a JSON object")
	}
	return nil
}

// checkShared checks an object the request shares among its events
// (Tracardi's top-level context and properties, a Segment batch's
// context): an object within the string limit.
func checkShared(name string, raw json.RawMessage, lim Limits) *requestError {
	if !isObjectOrAbsent(raw) {
		return badRequest("invalid_field", "%s must be a JSON object", name)
	}
	if isNullOrAbsent(raw) {
		return nil
	}
	if err := scanJSON(raw, scanLimits{MaxDepth: lim.MaxDepth, MaxString: lim.MaxStringBytes}); err != nil {
		path := name
		if err.Path != "" {
			path += "." + err.Path
		}
		return &requestError{413, "too_large", path + " is " + err.Msg}
	}
	return nil
}

// parseTime decodes an optional RFC 3339 time at field of item i.
func parseTime(it *item, i int, field string, raw json.RawMessage) *time.Time {
	if isNullOrAbsent(raw) {
		return nil
	}
	var t time.Time
	if err := json.Unmarshal(raw, &t); err != nil {
		it.rejectf(i, rejectInvalid, field, "must be an RFC 3339 time such as 2026-11-25T10:00:00.000Z")
		return nil
	}
	if !timeEncodable(t) {
		it.rejectf(i, rejectInvalid, field, "must be between years 0000 and 9999 once converted to UTC")
		return nil
	}
	t = t.UTC()
	return &t
}

// timeEncodable reports whether t, converted to UTC, can be encoded in a
// record (RFC 3339 allows years 0000-9999 only).
func timeEncodable(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 0 && y <= 9999
}

func isObject(raw []byte) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && raw[0] == '{'
}

func isObjectOrAbsent(raw json.RawMessage) bool {
	return isNullOrAbsent(raw) || isObject(raw)
}

func isNullOrAbsent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// firstPresent returns the first of raws that is not absent or null.
func firstPresent(raws ...json.RawMessage) json.RawMessage {
	for _, r := range raws {
		if !isNullOrAbsent(r) {
			return r
		}
	}
	return nil
}

// describeJSONError names what did not decode; prefix is the JSON path of
// the value decoded.
func describeJSONError(err error, prefix string) string {
	field, reason := describeFieldError(err)
	if field == "" {
		field = "the body"
	} else {
		field = prefix + field
	}
	return field + " " + reason
}

// describeFieldError returns the field a decoding error is about (empty
// for the value itself) and what is wrong with it, in JSON terms.
func describeFieldError(err error) (field, reason string) {
	var typ *json.UnmarshalTypeError
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &typ):
		return typ.Field, fmt.Sprintf("must be %s, got %s", jsonKind(typ.Type), typ.Value)
	case errors.As(err, &syn):
		return "", fmt.Sprintf("is malformed JSON at byte %d: %v", syn.Offset, syn)
	default:
		return "", "is malformed: " + err.Error()
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
		if t.Elem().Kind() == reflect.Uint8 { // json.RawMessage
			return "a JSON value"
		}
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
