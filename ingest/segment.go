package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// Segment call types (the "type" of a batch item, and the last path
// element of /v1/<type>).
const (
	segTrack    = "track"
	segPage     = "page"
	segScreen   = "screen"
	segIdentify = "identify"
	segGroup    = "group"
	segAlias    = "alias"
)

// segmentTypes are the call types of the Segment HTTP Tracking API.
var segmentTypes = []string{segTrack, segPage, segScreen, segIdentify, segGroup, segAlias}

// segmentCall is one call of the Segment HTTP Tracking API
// (https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/).
type segmentCall struct {
	Type              string          `json:"type"`
	MessageID         flexString      `json:"messageId"`
	AnonymousID       flexString      `json:"anonymousId"`
	UserID            flexString      `json:"userId"`
	Event             string          `json:"event"`
	Name              string          `json:"name"`
	GroupID           flexString      `json:"groupId"`
	PreviousID        flexString      `json:"previousId"`
	Properties        json.RawMessage `json:"properties"`
	Traits            json.RawMessage `json:"traits"`
	Context           json.RawMessage `json:"context"`
	Integrations      json.RawMessage `json:"integrations"`
	Timestamp         json.RawMessage `json:"timestamp"`
	OriginalTimestamp json.RawMessage `json:"originalTimestamp"`
	SentAt            json.RawMessage `json:"sentAt"`
	WriteKey          string          `json:"writeKey"`
}

// segmentBatch is a /v1/batch body. Its context and integrations apply to
// calls that have none.
type segmentBatch struct {
	Batch        []json.RawMessage `json:"batch"`
	Context      json.RawMessage   `json:"context"`
	Integrations json.RawMessage   `json:"integrations"`
	SentAt       json.RawMessage   `json:"sentAt"`
	WriteKey     string            `json:"writeKey"`
}

// flexString is an id Segment libraries send as a string or, from some
// languages, a number; a number is kept as its exact text.
type flexString string

// UnmarshalJSON accepts a string, a number or null.
func (f *flexString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')):
		*f = flexString(b)
	default:
		kind := map[byte]string{'t': "boolean", 'f': "boolean", '{': "object", '[': "array"}[b[0]]
		return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeFor[string]()}
	}
	return nil
}

// decodeSegment parses a body sent to /v1/<callType> (or /v1/batch when
// callType is "batch") into a batch.
func decodeSegment(body []byte, callType string, lim Limits) (*batch, error) {
	if err := scan(body, lim); err != nil {
		return nil, err
	}
	if callType != "batch" {
		b := &batch{items: make([]item, 1)}
		var c segmentCall
		if err := json.Unmarshal(body, &c); err != nil {
			field, reason := describeFieldError(err)
			if field == "writeKey" || field == "" {
				return nil, badRequest("invalid_json", "%s", describeJSONError(err, ""))
			}
			b.items[0].api = apiSegment
			b.items[0].rejectf(0, rejectInvalid, field, "%s", reason)
			b.items[0].raw = body
			return b, nil
		}
		b.writeKey = c.WriteKey
		if c.Type != "" && c.Type != callType {
			b.items[0].rejectf(0, rejectInvalid, "type", "is %q but the call was sent to /v1/%s", c.Type, callType)
		}
		c.Type = callType
		fillSegment(&b.items[0], 0, body, &c, nil, nil, lim)
		return b, nil
	}
	var sb segmentBatch
	if err := json.Unmarshal(body, &sb); err != nil {
		return nil, badRequest("invalid_json", "%s", describeJSONError(err, ""))
	}
	if len(sb.Batch) == 0 {
		return nil, badRequest("missing_field", "batch must hold at least one call")
	}
	if len(sb.Batch) > lim.MaxEvents {
		return nil, &requestError{413, "too_many_events", fmt.Sprintf("batch holds %d calls; the limit is %d", len(sb.Batch), lim.MaxEvents)}
	}
	if err := checkShared("context", sb.Context, lim); err != nil {
		return nil, err
	}
	var probe item
	batchSentAt := parseTime(&probe, 0, "sentAt", sb.SentAt)
	if probe.reject != nil {
		return nil, badRequest("invalid_field", "%s %s", probe.reject.Path, probe.reject.Reason)
	}
	b := &batch{writeKey: sb.WriteKey, items: make([]item, len(sb.Batch))}
	for i, raw := range sb.Batch {
		it := &b.items[i]
		it.prefix = fmt.Sprintf("batch[%d].", i)
		it.api = apiSegment
		it.raw = raw
		if !isObject(raw) {
			it.rejectf(i, rejectInvalid, "", "must be a JSON object")
			continue
		}
		var c segmentCall
		if err := json.Unmarshal(raw, &c); err != nil {
			field, reason := describeFieldError(err)
			it.rejectf(i, rejectInvalid, field, "%s", reason)
			continue
		}
		if b.writeKey == "" {
			b.writeKey = c.WriteKey
		}
		fillSegment(it, i, raw, &c, sb.Context, batchSentAt, lim)
	}
	return b, nil
}

// fillSegment maps one Segment call onto an item. batchContext and
// batchSentAt are the batch's, used when the call has none.
func fillSegment(it *item, i int, raw []byte, c *segmentCall, batchContext json.RawMessage, batchSentAt *time.Time, lim Limits) {
	it.api = apiSegment
	it.raw = raw
	ev := &it.ev
	ev.ID = string(c.MessageID)
	ev.AnonymousID, ev.UserID = string(c.AnonymousID), string(c.UserID)
	ev.Context = firstPresent(c.Context, batchContext)
	switch c.Type {
	case segTrack:
		ev.Type = c.Event
		ev.Properties = c.Properties
		if c.Event == "" {
			it.rejectf(i, rejectMissing, "event", "is required in a track call")
		}
	case segPage, segScreen:
		ev.Type, ev.Name = c.Type, c.Name
		ev.Properties = c.Properties
	case segIdentify:
		ev.Type = c.Type
		ev.Properties = c.Traits
	case segGroup:
		ev.Type, ev.GroupID = c.Type, string(c.GroupID)
		ev.Properties = c.Traits
		if ev.GroupID == "" {
			it.rejectf(i, rejectMissing, "groupId", "is required in a group call")
		}
	case segAlias:
		ev.Type, ev.PreviousID = c.Type, string(c.PreviousID)
		if ev.PreviousID == "" {
			it.rejectf(i, rejectMissing, "previousId", "is required in an alias call")
		}
		if ev.UserID == "" {
			it.rejectf(i, rejectMissing, "userId", "is required in an alias call")
		}
	case "":
		it.rejectf(i, rejectMissing, "type", "is required: one of track, page, screen, identify, group, alias")
	default:
		it.rejectf(i, rejectInvalid, "type", "%q is not one of track, page, screen, identify, group, alias", c.Type)
	}
	if ev.UserID == "" && ev.AnonymousID == "" {
		it.rejectf(i, rejectMissing, "userId", "or anonymousId is required")
	}
	for _, f := range []struct{ name, v string }{
		{"messageId", ev.ID}, {"anonymousId", ev.AnonymousID}, {"userId", ev.UserID},
		{"groupId", ev.GroupID}, {"previousId", ev.PreviousID},
	} {
		if reason := checkID(f.v, lim); reason != "" {
			it.rejectf(i, rejectInvalid, f.name, "%s", reason)
		}
	}
	if len(ev.Name) > lim.MaxStringBytes {
		it.rejectf(i, rejectTooLarge, "name", "is %d bytes; the limit is %d", len(ev.Name), lim.MaxStringBytes)
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"properties", c.Properties}, {"traits", c.Traits}, {"context", c.Context}, {"integrations", c.Integrations}} {
		if !isObjectOrAbsent(f.raw) {
			it.rejectf(i, rejectInvalid, f.name, "must be a JSON object")
		}
	}
	ts, tsField := c.Timestamp, "timestamp"
	if isNullOrAbsent(ts) {
		ts, tsField = c.OriginalTimestamp, "originalTimestamp"
	}
	ev.ClientTime = parseTime(it, i, tsField, ts)
	ev.SentAt = parseTime(it, i, "sentAt", c.SentAt)
	if ev.SentAt == nil {
		ev.SentAt = batchSentAt
	}
	it.props = ev.Properties
}
