package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/trackstream/trackstream/internal/enrich"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/jsonread"
	"github.com/trackstream/trackstream/internal/sources"
)

// sourceLookup finds sources by public id or by write key;
// *sources.Registry is the one used in production.
type sourceLookup interface {
	Get(id string) (sources.Source, bool)
	ByWriteKey(plain string) (sources.Source, bool)
}

// requestMeta is what a request says besides its body.
type requestMeta struct {
	receivedAt time.Time
	// clientIP is the socket peer, or the address a trusted proxy named.
	clientIP  netip.Addr
	userAgent string
	// origin is the browser's Origin header.
	origin string
	// writeKey is the username of HTTP Basic authorization.
	writeKey string
	// hints are the browser's user-agent client hints.
	hints event.ClientHints
	// geo, when not nil, places the client address before the IP policy
	// applies.
	geo *enrich.GeoIP
}

// authenticate finds the request's source: by write key (HTTP Basic
// username, else the body's writeKey) or by public source id. missing is
// the refusal when the request names no source at all.
func authenticate(b *batch, meta requestMeta, lookup sourceLookup, missing *requestError) (sources.Source, *requestError) {
	key := meta.writeKey
	if key == "" {
		key = b.writeKey
	}
	var src sources.Source
	switch {
	case key != "":
		var ok bool
		if src, ok = lookup.ByWriteKey(key); !ok {
			// A browser source's write key is its public id.
			if src, ok = lookup.Get(key); !ok || src.EffectiveKind() != sources.KindBrowser {
				return src, &requestError{401, "unknown_source", "the write key does not belong to any source; create one with the admin API"}
			}
		}
		if b.sourceID != "" && b.sourceID != src.ID {
			return src, &requestError{401, "unknown_source", "source.id does not belong to the write key"}
		}
	case b.sourceID != "":
		var ok bool
		if src, ok = lookup.Get(b.sourceID); !ok {
			return src, &requestError{401, "unknown_source", "source.id is not a known source; create one with the admin API"}
		}
		if src.EffectiveKind() == sources.KindServer {
			return src, &requestError{401, "write_key_required", "the source is a server source: send its write key as the HTTP Basic username"}
		}
	default:
		return src, missing
	}
	if !src.Enabled {
		return src, &requestError{403, "source_disabled", "the source is disabled"}
	}
	if !src.OriginAllowed(meta.origin) {
		return src, &requestError{403, "origin_not_allowed", fmt.Sprintf("origin %q may not send to this source", meta.origin)}
	}
	return src, nil
}

// judge validates every event of b that decoded, for src, and normalises
// the accepted ones into the records to produce. Accepted events and
// rejections keep the order of the request.
// budget (nil for none) bounds the distinct paths of src's events.
func judge(b *batch, src *sources.Source, meta *requestMeta, lim *Limits, schemas *schemaSet, budget *pathBudget) ([]event.Event, []Rejection) {
	events := make([]event.Event, 0, len(b.items))
	var rejected []Rejection
	keys := newKeyScan(lim.MaxKeys, budget.hashSeed())
	defer keys.release()
	for i := range b.items {
		it := &b.items[i]
		if it.reject == nil {
			check(it, i, eventLimitsAtRisk(b.facts, *lim), src, lim, schemas, keys)
		}
		if it.reject == nil {
			checkTime(it, i, meta, lim)
		}
		if it.reject == nil {
			if k := budget.admit(src.ID, meta.receivedAt, keys.paths); k >= 0 {
				it.rejectf(i, rejectSourcePaths, keys.pathOf(it, k), "is a new property or context path, and the source has used its %d distinct paths this month "+
					"(TRACKSTREAM_INGEST_MAX_SOURCE_PATHS; each distinct key slows property queries once there are many): send values under known keys, not keys made of values", budget.max)
			}
		}
		if it.reject != nil {
			rejected = append(rejected, *it.reject)
			continue
		}
		events = events[:len(events)+1] // within the capacity made for every item
		normalise(&events[len(events)-1], it, b.facts.Spaces, src, meta, lim)
	}
	return events, rejected
}

// check validates one decoded event, leaving the first problem in
// it.reject. atRisk: the body may hold events over eventLimits, so this
// one is checked against them again.
func check(it *item, i int, atRisk bool, src *sources.Source, lim *Limits, schemas *schemaSet, keys *keyScan) {
	ev := &it.ev
	if n := len(it.raw.Raw()) + it.inherited; n > lim.MaxEventBytes {
		if it.inherited > 0 {
			it.rejectf(i, rejectTooLarge, "", "is %d bytes of JSON with the shared properties and context it takes from the request; the limit is %d", n, lim.MaxEventBytes)
		} else {
			it.rejectf(i, rejectTooLarge, "", "is %d bytes of JSON; the limit is %d", n, lim.MaxEventBytes)
		}
		return
	}
	if atRisk {
		if _, _, err := jsonread.Validate(it.raw.Raw(), eventLimits(*lim)); err != nil {
			code := rejectTooLarge
			if err.Code == jsonread.CodeNumberOverflow {
				code = rejectInvalid
			}
			it.rejectf(i, code, err.Path, "is %s", err.Msg)
			return
		}
	}
	switch {
	case ev.Type == "":
		it.rejectf(i, rejectMissing, typeField(it), "is required")
	case len(ev.Type) > lim.MaxTypeBytes:
		it.rejectf(i, rejectTooLarge, typeField(it), "is %d bytes; the limit is %d", len(ev.Type), lim.MaxTypeBytes)
	case !validType(ev.Type):
		it.rejectf(i, rejectInvalid, typeField(it), "may hold only letters, digits, single spaces and _ . : - and must start with a letter or digit and not end with a space")
	}
	if it.reject != nil {
		return
	}
	if reason := checkID(ev.ID, *lim); reason != "" {
		it.rejectf(i, rejectInvalid, idField(it), "%s", reason)
		return
	}
	if n := objectKeys(it.props); n > lim.MaxProperties {
		it.rejectf(i, rejectTooLarge, propsField(it), "has %d keys; the limit is %d", n, lim.MaxProperties)
		return
	}
	if p := keys.scanEvent(it); p != nil {
		it.rejectf(i, p.code, p.path, "%s", p.reason)
		return
	}
	if schemas.has(ev.Type) {
		if path, reason, ok := schemas.validate(ev.Type, it.props); !ok {
			field := propsField(it)
			if path != "" {
				field += "." + path
				if path[0] == '[' {
					field = propsField(it) + path
				}
			}
			it.rejectf(i, rejectSchema, field, "%s", reason)
		}
		return
	}
	if src.RejectsUnknownTypes() {
		it.rejectf(i, rejectUnknownType, typeField(it), "%q has no schema and the source refuses unknown event types", ev.Type)
	}
}

// typeField, idField and propsField name the type, id and properties
// fields of the API the event came through.
func typeField(it *item) string {
	if it.api == apiSegment {
		return "event" // only a track call's type can be wrong: its event name
	}
	return "type"
}

func idField(it *item) string {
	if it.api == apiSegment {
		return "messageId"
	}
	return "id"
}

func propsField(it *item) string {
	if it.api == apiSegment && (it.ev.Type == segIdentify || it.ev.Type == segGroup) {
		return "traits"
	}
	return "properties"
}

// validType reports whether t is letters, digits and _ . : - with single
// spaces between, starting with a letter or digit: what Tracardi types
// ("page-view") and Segment event names ("Order Completed") look like.
func validType(t string) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i == 0:
			return false
		case c == '_', c == '.', c == ':', c == '-':
		case c == ' ':
			if i == len(t)-1 || t[i-1] == ' ' {
				return false
			}
		default:
			return false
		}
	}
	return len(t) > 0
}

// checkID returns why id is not acceptable as an event, session, profile
// or user id, or "" if it is.
func checkID(id string, lim Limits) string {
	if len(id) > lim.MaxIDBytes {
		return fmt.Sprintf("is %d bytes; the limit is %d", len(id), lim.MaxIDBytes)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return "must not hold control characters"
		}
	}
	return ""
}

// objectKeys counts the keys of a JSON object (0 for anything else).
func objectKeys(obj jsonread.Value) int {
	n := 0
	for it := obj.Members(); ; n++ {
		if _, _, ok := it.Next(); !ok {
			return n
		}
	}
}

// normalise turns an accepted item into the record to produce: the source,
// an id, the corrected time, the client's country (looked up before the IP
// policy), the client IP after the source's policy, a browser's client
// hints, the page the event happened on, and its JSON objects compacted (when the
// body had whitespace between tokens). It writes the record into ev and
// takes the request's large values by pointer: copies of them and of the
// record, in its frame and judge's, made the deepest call of a request
// need more than the 8 KiB a goroutine's stack starts with
// (TestRequestStack).
func normalise(ev *event.Event, it *item, spaces bool, src *sources.Source, meta *requestMeta, lim *Limits) {
	*ev = it.ev
	ev.SourceID = src.ID
	if ev.ID == "" {
		ev.ID = uuid.Must(uuid.NewV7()).String()
	}
	ev.ReceivedAt = meta.receivedAt
	ev.Time, ev.Late = eventTime(ev.ClientTime, ev.SentAt, meta.receivedAt, lim)
	props, ctx := firstPresent(it.props), firstPresent(it.ctx)
	if spaces {
		props, ctx = props.Compact(), ctx.Compact()
	}
	ev.Properties, ev.Context = props.Raw(), ctx.Raw()

	cf := contextFieldsOf(ctx)
	ip := meta.clientIP
	ev.UserAgent = meta.userAgent
	if src.EffectiveKind() == sources.KindServer {
		// A server sends on behalf of its users: the user's address and
		// browser are in the context, not on the socket.
		if a, err := netip.ParseAddr(cf.ip); err == nil {
			ip = a
		}
		if cf.userAgent != "" {
			ev.UserAgent = cf.userAgent
		}
	}
	if src.EffectiveKind() != sources.KindServer {
		ev.ClientHints = meta.hints
	}
	if meta.geo != nil {
		// Before the IP policy, so truncating or dropping the address
		// does not cost the country.
		g := meta.geo.Lookup(ip)
		ev.Country, ev.Region, ev.City, ev.GeoDB = g.Country, g.Region, g.City, meta.geo.Version()
	}
	policy := src.EffectiveIPPolicy()
	ev.IP = applyIPPolicy(ip, policy)
	if cf.hasIP && policy != sources.IPKeep {
		ev.Context = rewriteContextIP(ev.Context, policy)
	}
	ev.UserAgent = clip(ev.UserAgent, lim.MaxStringBytes)
	ev.URL, ev.Referrer = cf.url, cf.referrer
}

// checkTime refuses an event whose time, corrected for the client's
// clock, falls before event.MinTime: no statistics query could ever find
// it (ClickHouse's rollups count from 1970 and the admin API takes
// ranges from event.MinTime). The rejection names the client's time
// field and the accepted range. (Times after event.MaxTime are in the
// future, clamped to the receive time.)
func checkTime(it *item, i int, meta *requestMeta, lim *Limits) {
	t, _ := eventTime(it.ev.ClientTime, it.ev.SentAt, meta.receivedAt, lim)
	if !t.Before(event.MinTime) {
		return
	}
	corrected := ""
	if it.ev.SentAt != nil {
		corrected = " once corrected for the client's clock with sentAt"
	}
	it.rejectf(i, rejectInvalid, it.timeField, "is %s%s; event times must be between %s and %s",
		t.Format(time.RFC3339), corrected, event.MinTime.Format(time.DateOnly), event.MaxTime.Format(time.DateOnly))
}

// eventTime is when the event happened by the server's clock: the
// client's time corrected for its clock skew the Segment way,
// receivedAt - (sentAt - timestamp), clamped to receivedAt when further
// than FutureSkew in the future, flagged late when older than LateAfter.
// Without a client time it is receivedAt.
func eventTime(client, sent *time.Time, receivedAt time.Time, lim *Limits) (t time.Time, late bool) {
	t = receivedAt
	if client != nil {
		t = *client
		if sent != nil {
			t = receivedAt.Add(-sent.Sub(*client))
		}
	}
	if t.After(receivedAt.Add(lim.FutureSkew)) {
		t = receivedAt
	}
	return t.UTC(), receivedAt.Sub(t) > lim.LateAfter
}

// contextFields are the strings ingest takes from an event's context.
type contextFields struct {
	hasIP                        bool
	ip, userAgent, url, referrer string
}

// contextFieldsOf reads context.ip, context.userAgent, context.page.url
// and context.page.referrer where they are strings.
func contextFieldsOf(ctx jsonread.Value) contextFields {
	var out contextFields
	for it := ctx.Members(); ; {
		key, value, ok := it.Next()
		if !ok {
			return out
		}
		switch string(key) {
		case "ip":
			out.hasIP = true
			out.ip = value.Text()
		case "userAgent":
			out.userAgent = value.Text()
		case "page":
			for page := value.Members(); ; {
				key, value, ok := page.Next()
				if !ok {
					break
				}
				switch string(key) {
				case "url":
					out.url = value.Text()
				case "referrer":
					out.referrer = value.Text()
				}
			}
		}
	}
}

// rewriteContextIP applies policy to context.ip: truncated or removed.
func rewriteContextIP(ctx json.RawMessage, policy sources.IPPolicy) json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(ctx, &m); err != nil {
		return ctx
	}
	var ipText string
	_ = json.Unmarshal(m["ip"], &ipText)
	delete(m, "ip")
	if policy == sources.IPTruncate {
		if a, err := netip.ParseAddr(ipText); err == nil {
			m["ip"] = json.RawMessage(`"` + applyIPPolicy(a, policy) + `"`)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil // cannot happen for values that decoded; never leak the raw IP
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// clip cuts s to at most n bytes on a rune boundary and makes it valid
// UTF-8.
func clip(s string, n int) string {
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
