package ingest

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/jsonread"
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
	// rejectSourcePaths: the event brings a new property or context path
	// and its source has used its distinct paths for the month.
	rejectSourcePaths = "source_path_limit"
)

// rejectionCodes lists every Rejection code, for the metric.
var rejectionCodes = []string{rejectInvalid, rejectMissing, rejectTooLarge, rejectSchema, rejectUnknownType, rejectSourcePaths}

// Limits are the per-request validation limits.
type Limits struct {
	MaxEvents       int
	MaxDecodedBytes int
	MaxEventBytes   int
	MaxDepth        int
	MaxProperties   int
	// MaxKeys caps the keys of an event's properties and context at all
	// levels together; MaxSourcePaths the distinct paths a source's
	// events use a month (0: no cap). See keys.go.
	MaxKeys        int
	MaxSourcePaths int
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
		MaxEvents:       c.MaxEvents,
		MaxDecodedBytes: c.MaxDecodedBytes,
		MaxEventBytes:   c.MaxEventBytes,
		MaxDepth:        c.MaxDepth,
		MaxProperties:   c.MaxProperties,
		MaxKeys:         c.MaxKeys,
		MaxSourcePaths:  c.MaxSourcePaths,
		MaxStringBytes:  c.MaxStringBytes,
		MaxTypeBytes:    c.MaxTypeBytes,
		MaxIDBytes:      c.MaxIDBytes,
		FutureSkew:      c.FutureSkew,
		LateAfter:       c.LateAfter,
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
	// profileID is the /track profile every event is stored under, the
	// request's or one the collector made (answered as profile.id).
	profileID string
	items     []item
	// facts are what the hardening scan learnt about the body.
	facts jsonread.Facts
	// sharedProps and sharedCtx are what the key scans of the request's
	// shared properties and context found (no name: none shared); the
	// items that take them point here.
	sharedProps, sharedCtx sharedKeys
}

// item is one event of a batch as decoded: ev holds what the sender
// said (Type, ID if given, ids, client and sent times); props and ctx
// its JSON objects; the rest is filled once the source is known.
type item struct {
	api api
	// list names the array of the request the event is in ("events",
	// "batch"), or is "" for an event that is the whole request (a single
	// Segment call, a pixel): see prefix, built only for a rejection.
	list string
	raw  jsonread.Value
	// inherited is the JSON bytes of the request's shared objects
	// (top-level properties or context, a Segment batch's context) the
	// event takes because it has none of its own: they count against
	// the event's size limit as if the event had sent them.
	inherited int
	ev        event.Event
	// props (validated against the type's schema) and ctx are the
	// event's properties and context: its own, else the request's shared
	// ones; nothing for none.
	props, ctx jsonread.Value
	// sharedProps and sharedCtx, when the event takes the request's
	// shared properties or context, are what their key scans found (in
	// its batch).
	sharedProps, sharedCtx *sharedKeys
	// timeField names the field the client's event time came from
	// ("time", "timestamp", "ts"), for rejections of that time.
	timeField string
	reject    *Rejection
}

// rejectf marks it rejected at field (a path relative to the event).
func (it *item) rejectf(index int, code, field, format string, a ...any) {
	if it.reject != nil {
		return
	}
	prefix := it.prefix(index)
	path := prefix + field
	if field == "" {
		path = trimDot(prefix)
	}
	it.reject = &Rejection{Index: index, Path: path, Code: code, Reason: fmt.Sprintf(format, a...)}
}

// prefix is the JSON path of the item, the index-th event of its request,
// in the request: "events[2].", "batch[0]." or "".
func (it *item) prefix(index int) string {
	if it.list == "" {
		return ""
	}
	return it.list + "[" + strconv.Itoa(index) + "]."
}

func trimDot(s string) string {
	if n := len(s); n > 0 && s[n-1] == '.' {
		return s[:n-1]
	}
	return s
}

// trackPayload is a Tracardi-style /track request. Field names follow
// Tracardi so its trackers can send here unchanged; other members
// (Tracardi's options, tags, metadata) are accepted and not stored.
// user.id (a known user's id, as Segment's userId) is trackstream's own.
type trackPayload struct {
	sourceID, sessionID, profileID, userID string
	context, properties                    jsonread.Value
	events                                 jsonread.Value
}

// trackEvent is one Tracardi event.
type trackEvent struct {
	id, typ                   string
	time, properties, context jsonread.Value
}

// decodeTrackPayload reads the members of a checked /track body, as scan
// collects them. Values stay sub-slices of body.
func decodeTrackPayload(members []jsonread.Member) (p trackPayload, err *fieldError) {
	for _, m := range members {
		key, v := m.Key, m.Value
		switch string(key) {
		case "source":
			p.sourceID, err = idObjectField("source", v)
		case "session":
			p.sessionID, err = idObjectField("session", v)
		case "profile":
			p.profileID, err = idObjectField("profile", v)
		case "user":
			p.userID, err = idObjectField("user", v)
		case "context":
			p.context = v
		case "properties":
			p.properties = v
		case "events":
			p.events, err = arrayField("events", v)
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

// decodeTrackEvent reads the members of one checked event object.
func decodeTrackEvent(raw jsonread.Value) (te trackEvent, err *fieldError) {
	for it := raw.Members(); ; {
		key, v, ok := it.Next()
		if !ok {
			return te, nil
		}
		switch string(key) {
		case "id":
			te.id, err = stringField("id", v)
		case "type":
			te.typ, err = stringField("type", v)
		case "time":
			te.time = v
		case "properties":
			te.properties = v
		case "context":
			te.context = v
		}
		if err != nil {
			return te, err
		}
	}
}

// decodeTrack parses a /track body into a batch. Refusals of the whole
// request are *requestError; problems of one event are left in its
// item.reject. The paths of the request's shared objects are hashed with
// seed, the one judge's key scans use (pathBudget.hashSeed).
func decodeTrack(body []byte, lim Limits, seed maphash.Seed) (*batch, error) {
	top := getTopMembers()
	defer top.release()
	_, facts, members, err := scan(body, lim, top[:0])
	if err != nil {
		return nil, err
	}
	return decodeTrackMembers(members, facts, lim, seed)
}

// decodeTrackMembers is decodeTrack once the body is checked: a function
// of its own so that its locals are not on the stack while scan runs
// (see getTopMembers).
func decodeTrackMembers(members []jsonread.Member, facts jsonread.Facts, lim Limits, seed maphash.Seed) (*batch, error) {
	p, ferr := decodeTrackPayload(members)
	if ferr != nil {
		return nil, badRequest("invalid_json", "%s", ferr.Error())
	}
	if p.events.Kind() == jsonread.Nothing {
		return nil, badRequest("missing_field", "events must hold at least one event")
	}
	var firstEvents [4]jsonread.Value // most requests hold few events: no allocation for them
	events, n := elements(firstEvents[:0], p.events, lim.MaxEvents)
	if n == 0 {
		return nil, badRequest("missing_field", "events must hold at least one event")
	}
	if n > lim.MaxEvents {
		return nil, &requestError{413, "too_many_events", fmt.Sprintf("events holds %d events; the limit is %d", n, lim.MaxEvents)}
	}
	sharedCtx, err := checkShared("context", p.context, lim, facts, seed)
	if err != nil {
		return nil, err
	}
	sharedProps, err := checkShared("properties", p.properties, lim, facts, seed)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct{ name, v string }{{"session.id", p.sessionID}, {"profile.id", p.profileID}, {"user.id", p.userID}} {
		if reason := checkID(f.v, lim); reason != "" {
			return nil, badRequest("invalid_field", "%s %s", f.name, reason)
		}
	}
	b := &batch{sourceID: p.sourceID, profileID: p.profileID, items: make([]item, n), facts: facts, sharedProps: sharedProps, sharedCtx: sharedCtx}
	for i, raw := range events {
		it := &b.items[i]
		it.list = "events"
		it.raw = raw
		it.ev.SessionID, it.ev.ProfileID, it.ev.UserID = p.sessionID, p.profileID, p.userID
		if raw.Kind() != jsonread.Object {
			it.rejectf(i, rejectInvalid, "", "must be a JSON object")
			continue
		}
		te, ferr := decodeTrackEvent(raw)
		if ferr != nil {
			it.rejectf(i, rejectInvalid, ferr.field, "%s", ferr.reason)
			continue
		}
		it.ev.ID, it.ev.Type = te.id, te.typ
		it.ev.ClientTime, it.timeField = parseTime(it, i, "time", te.time), "time"
		for _, f := range []struct {
			name string
			raw  jsonread.Value
		}{{"properties", te.properties}, {"context", te.context}} {
			if !isObjectOrAbsent(f.raw) {
				it.rejectf(i, rejectInvalid, f.name, "must be a JSON object")
			}
		}
		it.props = firstPresent(te.properties, p.properties)
		it.ctx = firstPresent(te.context, p.context)
		it.inherited = inheritedBytes(te.properties, p.properties) + inheritedBytes(te.context, p.context)
		if te.properties.IsNullOrNothing() && b.sharedProps.name != "" {
			it.sharedProps = &b.sharedProps
		}
		if te.context.IsNullOrNothing() && b.sharedCtx.name != "" {
			it.sharedCtx = &b.sharedCtx
		}
	}
	if err := checkProduced(b, lim); err != nil {
		return nil, err
	}
	return b, nil
}

// maxAmplification bounds what one request can make ingest produce: the
// JSON of its events, with the shared objects copied into every event
// that inherits them, is at most maxAmplification times the decoded body
// limit.
const maxAmplification = 4

// inheritedBytes is the size of shared when an event whose own object is
// own takes it instead.
func inheritedBytes(own, shared jsonread.Value) int {
	if !own.IsNullOrNothing() || shared.IsNullOrNothing() {
		return 0
	}
	return len(shared.Raw())
}

// checkProduced refuses a request whose events, with the shared objects
// they inherit, hold more than maxAmplification times the decoded body
// limit of JSON.
func checkProduced(b *batch, lim Limits) *requestError {
	total, limit := 0, maxAmplification*lim.MaxDecodedBytes
	for i := range b.items {
		total += len(b.items[i].raw.Raw()) + b.items[i].inherited
	}
	if limit > 0 && total > limit {
		return &requestError{413, "too_large", fmt.Sprintf("the events hold %d bytes of JSON once the shared properties and context are copied into each event; "+
			"the limit for one request is %d (%d times the decoded body limit): send fewer events per request, or the shared objects in the events that need them", total, limit, maxAmplification)}
	}
	return nil
}

// giveProfile stores a /track request that names no profile under one
// the collector makes, as Tracardi does for a first visit; the answer
// hands it back so the tracker sends it from then on. Tracardi reuses the
// profile of a known session: here the profile of a session is derived
// from the source and session ids (a name-based UUID), so every replica
// gives a session the same profile without sharing state, and a visitor
// is counted once per session, as before. A request with no session gets
// one derived from its first event's id, so a resend of the request gets
// the same profile, and so the same Kafka key and partition as the first
// attempt (the processor's dedup window relies on copies sharing a
// partition); without an event id it gets a random one (its events get
// new ids, so a resend makes no copies).
func giveProfile(b *batch) {
	if b.profileID != "" {
		return
	}
	switch first := b.items[0].ev; {
	case first.SessionID != "":
		b.profileID = uuid.NewSHA1(profileNamespace, []byte(b.sourceID+"\x00"+first.SessionID)).String()
	case first.ID != "":
		b.profileID = uuid.NewSHA1(profileNamespace, []byte(b.sourceID+"\x01"+first.ID)).String()
	default:
		b.profileID = uuid.NewString()
	}
	for i := range b.items {
		b.items[i].ev.ProfileID = b.profileID
	}
}

// profileNamespace is the namespace of profile ids derived from sessions.
var profileNamespace = uuid.MustParse("6d1f4a53-8c0e-4b7a-9e2d-3f5b7c9a1e04")

// bodyLimits are what the hardening scan of a whole body refuses. The
// limits that apply to each event (string sizes, integer range) are only
// noted in its facts, and then enforced on each event and shared object
// with eventLimits, so that one event over them is rejected alone.
func bodyLimits(lim Limits) jsonread.Limits { return jsonread.Limits{MaxDepth: lim.MaxDepth} }

// eventLimits are what each event and shared object must keep.
func eventLimits(lim Limits) jsonread.Limits {
	return jsonread.Limits{MaxDepth: lim.MaxDepth, MaxString: lim.MaxStringBytes, Only64BitIntegers: true}
}

// eventLimitsAtRisk reports whether a body with facts may hold an event
// or shared object over eventLimits, which must then be checked again.
func eventLimitsAtRisk(facts jsonread.Facts, lim Limits) bool {
	return facts.LongestString > lim.MaxStringBytes || facts.WideInteger
}

// scan runs the JSON hardening checks on a whole body, appending the
// members of its object to members: the decoders read the top level from
// them rather than walk the body again.
func scan(body []byte, lim Limits, members []jsonread.Member) (jsonread.Value, jsonread.Facts, []jsonread.Member, *requestError) {
	if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
		return jsonread.Value{}, jsonread.Facts{}, nil, badRequest("invalid_json", "the body is empty; it must be a JSON object")
	}
	v, facts, members, err := jsonread.ValidateObject(body, bodyLimits(lim), members)
	if err != nil {
		return jsonread.Value{}, jsonread.Facts{}, nil, badRequest(err.Code, "%s", err.Error())
	}
	if v.Kind() != jsonread.Object {
		return jsonread.Value{}, jsonread.Facts{}, nil, badRequest("invalid_json", "the body must be a JSON object")
	}
	return v, facts, members, nil
}

// topMembers is room for the top-level members of a body: real requests
// have a handful.
type topMembers [16]jsonread.Member

// topMemberSets keeps topMembers for decodeTrack and decodeSegment.
// They were locals of the decoders, 768 bytes on the stack under the
// deepest call of a request (scan); with the decoders' other locals they
// made a /track request need more than the 8 KiB a goroutine's stack
// starts with, so each of ingest's connection goroutines kept 16 KiB
// (S5 in docs/benchmarks.md; TestRequestStack).
var topMemberSets = sync.Pool{New: func() any { return new(topMembers) }}

// getTopMembers takes a topMembers from the pool; release gives it back.
func getTopMembers() *topMembers { return topMemberSets.Get().(*topMembers) }

// release gives t back to the pool holding nothing of the request's
// body.
func (t *topMembers) release() {
	clear(t[:])
	topMemberSets.Put(t)
}

// checkShared checks an object the request shares among its events
// (Tracardi's top-level context and properties, a Segment batch's
// context): an object whose keys keep the key rules (keys.go) and within
// eventLimits (looked at again only when the body's facts say it may not
// be). It returns what the key scan found, paths hashed with seed, for
// the events that take the object (nothing, no name, for no object).
func checkShared(name string, raw jsonread.Value, lim Limits, facts jsonread.Facts, seed maphash.Seed) (sharedKeys, *requestError) {
	if !isObjectOrAbsent(raw) {
		return sharedKeys{}, badRequest("invalid_field", "%s must be a JSON object", name)
	}
	if raw.IsNullOrNothing() {
		return sharedKeys{}, nil
	}
	keys := newKeyScan(lim.MaxKeys, seed)
	p := keys.scanKeys(name, raw)
	if p != nil {
		keys.release()
		if p.code == rejectTooLarge {
			return sharedKeys{}, &requestError{413, "too_large", p.path + " " + p.reason}
		}
		return sharedKeys{}, badRequest("invalid_field", "%s %s", p.path, p.reason)
	}
	shared := sharedKeys{name: name, seed: seed, keys: keys.keys, paths: slices.Clone(keys.paths)}
	keys.release()
	if !eventLimitsAtRisk(facts, lim) {
		return shared, nil
	}
	if _, _, err := jsonread.Validate(raw.Raw(), eventLimits(lim)); err != nil {
		path := name
		if err.Path != "" {
			path += "." + err.Path
		}
		if err.Code == jsonread.CodeNumberOverflow {
			return sharedKeys{}, badRequest(err.Code, "%s is %s", path, err.Msg)
		}
		return sharedKeys{}, &requestError{413, "too_large", path + " is " + err.Msg}
	}
	return shared, nil
}

// parseTime decodes an optional RFC 3339 time at field of item i.
func parseTime(it *item, i int, field string, raw jsonread.Value) *time.Time {
	if raw.IsNullOrNothing() {
		return nil
	}
	var t time.Time
	if err := t.UnmarshalJSON(raw.Raw()); err != nil {
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

func isObjectOrAbsent(raw jsonread.Value) bool {
	return raw.IsNullOrNothing() || raw.Kind() == jsonread.Object
}

// firstPresent returns the first of raws that is not absent or null
// (nothing if none is).
func firstPresent(raws ...jsonread.Value) jsonread.Value {
	for _, r := range raws {
		if !r.IsNullOrNothing() {
			return r
		}
	}
	return jsonread.Value{}
}
