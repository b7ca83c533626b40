package ingest

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trackstream/trackstream/internal/jsonread"
)

// transparentGIF is the 1x1 transparent GIF the pixel answers with.
var transparentGIF = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// pixelProps prefixes the query parameters that become properties.
const pixelProps = "p."

// pixelEvent is the JSON form of a pixel event, checked like a body.
type pixelEvent struct {
	Properties map[string]string `json:"properties,omitempty"`
	Context    *pixelContext     `json:"context,omitempty"`
}

type pixelContext struct {
	Page pixelPage `json:"page"`
}

type pixelPage struct {
	URL      string `json:"url,omitempty"`
	Referrer string `json:"referrer,omitempty"`
}

// decodePixel turns the query string of a pixel request into a batch of
// one event. Parameters: s (source id, required), e (event type, default
// page-view), id (event id), sid (session id), pid (profile id), aid
// (anonymous id), uid (user id), url and ref (page and referrer), ts
// (event time, RFC 3339 or Unix milliseconds) and p.<name> (a string
// property).
func decodePixel(rawQuery string, lim Limits) (*batch, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, badRequest("invalid_query", "the query string is malformed: %v", err)
	}
	for k, vs := range q {
		if len(vs) > 1 {
			return nil, badRequest("duplicate_key", "query parameter %q is given %d times", k, len(vs))
		}
		if !utf8.ValidString(k) || !utf8.ValidString(vs[0]) {
			return nil, badRequest("invalid_utf8", "query parameter %q is not valid UTF-8", k)
		}
	}
	b := &batch{sourceID: q.Get("s"), items: make([]item, 1)}
	it := &b.items[0]
	it.api = apiPixel
	ev := &it.ev
	ev.Type = q.Get("e")
	if ev.Type == "" {
		ev.Type = "page-view"
	}
	ev.ID, ev.SessionID, ev.ProfileID = q.Get("id"), q.Get("sid"), q.Get("pid")
	ev.AnonymousID, ev.UserID = q.Get("aid"), q.Get("uid")
	for _, f := range []struct{ name, v string }{{"sid", ev.SessionID}, {"pid", ev.ProfileID}, {"aid", ev.AnonymousID}, {"uid", ev.UserID}} {
		if reason := checkID(f.v, lim); reason != "" {
			it.rejectf(0, rejectInvalid, f.name, "%s", reason)
		}
	}
	it.timeField = "ts"
	if ts := q.Get("ts"); ts != "" {
		t, ok := parsePixelTime(ts)
		if !ok {
			it.rejectf(0, rejectInvalid, "ts", "must be an RFC 3339 time or Unix milliseconds")
		} else {
			ev.ClientTime = &t
		}
	}
	pe := pixelEvent{}
	if _, ok := q[pixelProps]; ok {
		it.rejectf(0, rejectInvalid, pixelProps, "is a property parameter without a name: name it p.<name>")
	}
	for k, vs := range q {
		if name, ok := strings.CutPrefix(k, pixelProps); ok && name != "" {
			if pe.Properties == nil {
				pe.Properties = map[string]string{}
			}
			pe.Properties[name] = vs[0]
		}
	}
	if u, r := q.Get("url"), q.Get("ref"); u != "" || r != "" {
		pe.Context = &pixelContext{Page: pixelPage{URL: u, Referrer: r}}
	}
	if it.raw, err = pixelJSON(pe, lim); err != nil {
		return nil, badRequest("invalid_query", "the query string cannot be encoded: %v", err)
	}
	if pe.Properties != nil {
		it.props, _ = pixelJSON(pe.Properties, lim) // part of it.raw: cannot fail
	}
	if pe.Context != nil {
		it.ctx, _ = pixelJSON(pe.Context, lim)
	}
	return b, nil
}

// pixelJSON encodes a part of a pixel event as JSON, checked as the
// JSON of the other APIs is.
func pixelJSON(v any, lim Limits) (jsonread.Value, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return jsonread.Value{}, err
	}
	val, _, jerr := jsonread.Validate(b, bodyLimits(lim))
	if jerr != nil {
		return jsonread.Value{}, jerr
	}
	return val, nil
}

// parsePixelTime reads an RFC 3339 time or Unix milliseconds.
func parsePixelTime(s string) (time.Time, bool) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		t := time.UnixMilli(ms).UTC()
		return t, timeEncodable(t)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !timeEncodable(t) {
		return time.Time{}, false
	}
	return t.UTC(), true
}
