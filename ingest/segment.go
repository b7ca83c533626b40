package ingest

import (
	"fmt"
	"hash/maphash"
	"time"

	"github.com/trackstream/trackstream/internal/jsonread"
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
// Ids may be sent as strings or, from some languages, numbers (kept as
// their exact text). JSON members are sub-slices of the body.
type segmentCall struct {
	typ, event, name, writeKey                          string
	messageID, anonymousID, userID, groupID, previousID string
	properties, traits, context, integrations           jsonread.Value
	timestamp, originalTimestamp, sentAt                jsonread.Value
}

// decodeSegmentCall reads the members of one checked call object.
func decodeSegmentCall(raw jsonread.Value) (c segmentCall, err *fieldError) {
	for it := raw.Members(); ; {
		key, v, ok := it.Next()
		if !ok {
			return c, nil
		}
		if err := c.member(key, v); err != nil {
			return c, err
		}
	}
}

// decodeSegmentCallMembers reads the members of a checked call body, as
// scan collects them.
func decodeSegmentCallMembers(members []jsonread.Member) (c segmentCall, err *fieldError) {
	for _, m := range members {
		if err := c.member(m.Key, m.Value); err != nil {
			return c, err
		}
	}
	return c, nil
}

// member reads one member of a call.
func (c *segmentCall) member(key []byte, v jsonread.Value) (err *fieldError) {
	// Each case names its field with a constant: a string(key) kept for
	// the name would be an allocation per member.
	switch string(key) {
	case "type":
		c.typ, err = stringField("type", v)
	case "event":
		c.event, err = stringField("event", v)
	case "name":
		c.name, err = stringField("name", v)
	case "writeKey":
		c.writeKey, err = stringField("writeKey", v)
	case "messageId":
		c.messageID, err = flexIDField("messageId", v)
	case "anonymousId":
		c.anonymousID, err = flexIDField("anonymousId", v)
	case "userId":
		c.userID, err = flexIDField("userId", v)
	case "groupId":
		c.groupID, err = flexIDField("groupId", v)
	case "previousId":
		c.previousID, err = flexIDField("previousId", v)
	case "properties":
		c.properties = v
	case "traits":
		c.traits = v
	case "context":
		c.context = v
	case "integrations":
		c.integrations = v
	case "timestamp":
		c.timestamp = v
	case "originalTimestamp":
		c.originalTimestamp = v
	case "sentAt":
		c.sentAt = v
	}
	return err
}

// segmentBatch is a /v1/batch body. Its context and integrations apply to
// calls that have none.
type segmentBatch struct {
	batch, context, sentAt jsonread.Value
	writeKey               string
}

// decodeSegmentBatch reads the members of a checked /v1/batch body, as
// scan collects them.
func decodeSegmentBatch(members []jsonread.Member) (sb segmentBatch, err *fieldError) {
	for _, m := range members {
		switch string(m.Key) {
		case "batch":
			sb.batch, err = arrayField("batch", m.Value)
		case "context":
			sb.context = m.Value
		case "sentAt":
			sb.sentAt = m.Value
		case "writeKey":
			sb.writeKey, err = stringField("writeKey", m.Value)
		}
		if err != nil {
			return sb, err
		}
	}
	return sb, nil
}

// decodeSegment parses a body sent to /v1/<callType> (or /v1/batch when
// callType is "batch") into a batch. The paths of a batch's shared
// context are hashed with seed, as in decodeTrack.
func decodeSegment(body []byte, callType string, lim Limits, seed maphash.Seed) (*batch, error) {
	top := getTopMembers()
	defer top.release()
	v, facts, members, rerr := scan(body, lim, top[:0])
	if rerr != nil {
		return nil, rerr
	}
	return decodeSegmentMembers(v, facts, members, callType, lim, seed)
}

// decodeSegmentMembers is decodeSegment once the body is checked, a
// function of its own for the reason decodeTrackMembers is.
func decodeSegmentMembers(v jsonread.Value, facts jsonread.Facts, members []jsonread.Member, callType string, lim Limits, seed maphash.Seed) (*batch, error) {
	if callType != "batch" {
		b := &batch{items: make([]item, 1), facts: facts}
		c, err := decodeSegmentCallMembers(members)
		if err != nil {
			if err.field == "writeKey" {
				return nil, badRequest("invalid_json", "%s", err.Error())
			}
			b.items[0].api = apiSegment
			b.items[0].rejectf(0, rejectInvalid, err.field, "%s", err.reason)
			b.items[0].raw = v
			return b, nil
		}
		b.writeKey = c.writeKey
		if c.typ != "" && c.typ != callType {
			b.items[0].rejectf(0, rejectInvalid, "type", "is %q but the call was sent to /v1/%s", c.typ, callType)
		}
		c.typ = callType
		fillSegment(&b.items[0], 0, v, &c, jsonread.Value{}, nil, lim)
		return b, nil
	}
	sb, err := decodeSegmentBatch(members)
	if err != nil {
		return nil, badRequest("invalid_json", "%s", err.Error())
	}
	var firstCalls [4]jsonread.Value // most requests hold few calls: no allocation for them
	calls, n := elements(firstCalls[:0], sb.batch, lim.MaxEvents)
	if n == 0 {
		return nil, badRequest("missing_field", "batch must hold at least one call")
	}
	if n > lim.MaxEvents {
		return nil, &requestError{413, "too_many_events", fmt.Sprintf("batch holds %d calls; the limit is %d", n, lim.MaxEvents)}
	}
	sharedCtx, rerr := checkShared("context", sb.context, lim, facts, seed)
	if rerr != nil {
		return nil, rerr
	}
	var probe item
	batchSentAt := parseTime(&probe, 0, "sentAt", sb.sentAt)
	if probe.reject != nil {
		return nil, badRequest("invalid_field", "%s %s", probe.reject.Path, probe.reject.Reason)
	}
	b := &batch{writeKey: sb.writeKey, items: make([]item, n), facts: facts, sharedCtx: sharedCtx}
	for i, raw := range calls {
		it := &b.items[i]
		it.list = "batch"
		it.api = apiSegment
		it.raw = raw
		if raw.Kind() != jsonread.Object {
			it.rejectf(i, rejectInvalid, "", "must be a JSON object")
			continue
		}
		c, err := decodeSegmentCall(raw)
		if err != nil {
			it.rejectf(i, rejectInvalid, err.field, "%s", err.reason)
			continue
		}
		if b.writeKey == "" {
			b.writeKey = c.writeKey
		}
		fillSegment(it, i, raw, &c, sb.context, batchSentAt, lim)
		if c.context.IsNullOrNothing() && b.sharedCtx.name != "" {
			it.sharedCtx = &b.sharedCtx
		}
	}
	if err := checkProduced(b, lim); err != nil {
		return nil, err
	}
	return b, nil
}

// fillSegment maps one Segment call onto an item. batchContext and
// batchSentAt are the batch's, used when the call has none.
func fillSegment(it *item, i int, raw jsonread.Value, c *segmentCall, batchContext jsonread.Value, batchSentAt *time.Time, lim Limits) {
	it.api = apiSegment
	it.raw = raw
	ev := &it.ev
	ev.ID = c.messageID
	ev.AnonymousID, ev.UserID = c.anonymousID, c.userID
	it.ctx = firstPresent(c.context, batchContext)
	it.inherited = inheritedBytes(c.context, batchContext)
	switch c.typ {
	case segTrack:
		ev.Type = c.event
		it.props = c.properties
		if c.event == "" {
			it.rejectf(i, rejectMissing, "event", "is required in a track call")
		}
	case segPage, segScreen:
		ev.Type, ev.Name = c.typ, c.name
		it.props = c.properties
	case segIdentify:
		ev.Type = c.typ
		it.props = c.traits
	case segGroup:
		ev.Type, ev.GroupID = c.typ, c.groupID
		it.props = c.traits
		if ev.GroupID == "" {
			it.rejectf(i, rejectMissing, "groupId", "is required in a group call")
		}
	case segAlias:
		ev.Type, ev.PreviousID = c.typ, c.previousID
		if ev.PreviousID == "" {
			it.rejectf(i, rejectMissing, "previousId", "is required in an alias call")
		}
		if ev.UserID == "" {
			it.rejectf(i, rejectMissing, "userId", "is required in an alias call")
		}
	case "":
		it.rejectf(i, rejectMissing, "type", "is required: one of track, page, screen, identify, group, alias")
	default:
		it.rejectf(i, rejectInvalid, "type", "%q is not one of track, page, screen, identify, group, alias", c.typ)
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
		raw  jsonread.Value
	}{{"properties", c.properties}, {"traits", c.traits}, {"context", c.context}, {"integrations", c.integrations}} {
		if !isObjectOrAbsent(f.raw) {
			it.rejectf(i, rejectInvalid, f.name, "must be a JSON object")
		}
	}
	ts, tsField := c.timestamp, "timestamp"
	if ts.IsNullOrNothing() {
		ts, tsField = c.originalTimestamp, "originalTimestamp"
	}
	ev.ClientTime, it.timeField = parseTime(it, i, tsField, ts), tsField
	ev.SentAt = parseTime(it, i, "sentAt", c.sentAt)
	if ev.SentAt == nil {
		ev.SentAt = batchSentAt
	}
}
