package event

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// AppendJSON appends e, encoded as a record value of FormatVersion, to
// dst. It writes what encoding/json writes for Event (same member order,
// same omitted empty members, same string escaping) without reflection,
// so ingest can encode each accepted event into one pooled buffer.
// Properties and Context must hold valid JSON without whitespace between
// tokens, as ingest makes them (encoding/json's Marshal output is such);
// they are copied as they are.
// Times must lie in years 0000-9999 once in UTC.
func (e *Event) AppendJSON(dst []byte) ([]byte, error) {
	for _, t := range []*time.Time{&e.Time, &e.ReceivedAt, e.ClientTime, e.SentAt} {
		if t != nil && (t.Year() < 0 || t.Year() > 9999) {
			return dst, fmt.Errorf("event %s: time %v is outside the years 0000-9999", e.ID, *t)
		}
	}
	dst = append(dst, `{"source_id":`...)
	dst = appendString(dst, e.SourceID)
	dst = append(dst, `,"id":`...)
	dst = appendString(dst, e.ID)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, e.Type)
	dst = append(dst, `,"time":`...)
	dst = appendTime(dst, e.Time)
	dst = append(dst, `,"received_at":`...)
	dst = appendTime(dst, e.ReceivedAt)
	if e.ClientTime != nil {
		dst = append(dst, `,"client_time":`...)
		dst = appendTime(dst, *e.ClientTime)
	}
	if e.SentAt != nil {
		dst = append(dst, `,"sent_at":`...)
		dst = appendTime(dst, *e.SentAt)
	}
	if e.Late {
		dst = append(dst, `,"late":true`...)
	}
	dst = appendMember(dst, `,"session_id":`, e.SessionID)
	dst = appendMember(dst, `,"profile_id":`, e.ProfileID)
	dst = appendMember(dst, `,"anonymous_id":`, e.AnonymousID)
	dst = appendMember(dst, `,"user_id":`, e.UserID)
	dst = appendMember(dst, `,"ip":`, e.IP)
	dst = appendMember(dst, `,"user_agent":`, e.UserAgent)
	dst = appendMember(dst, `,"url":`, e.URL)
	dst = appendMember(dst, `,"referrer":`, e.Referrer)
	if len(e.Properties) > 0 {
		dst = append(dst, `,"properties":`...)
		dst = append(dst, e.Properties...)
	}
	if len(e.Context) > 0 {
		dst = append(dst, `,"context":`...)
		dst = append(dst, e.Context...)
	}
	dst = appendMember(dst, `,"name":`, e.Name)
	dst = appendMember(dst, `,"group_id":`, e.GroupID)
	dst = appendMember(dst, `,"previous_id":`, e.PreviousID)
	dst = appendMember(dst, `,"country":`, e.Country)
	dst = appendMember(dst, `,"region":`, e.Region)
	dst = appendMember(dst, `,"city":`, e.City)
	dst = appendMember(dst, `,"geo_db":`, e.GeoDB)
	dst = appendMember(dst, `,"ch_ua":`, e.ClientHints.UA)
	dst = appendMember(dst, `,"ch_ua_mobile":`, e.ClientHints.Mobile)
	dst = appendMember(dst, `,"ch_ua_platform":`, e.ClientHints.Platform)
	return append(dst, '}'), nil
}

// appendMember appends a string member unless the value is empty
// (omitempty).
func appendMember(dst []byte, key, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, key...)
	return appendString(dst, v)
}

// appendTime appends t as time.Time's MarshalJSON does: RFC 3339 with the
// fraction it needs.
func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// safe marks the ASCII bytes encoding/json writes as they are in a string
// (it escapes quotes, backslashes, control characters and, for HTML
// safety, < > &).
var safe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString appends s as a JSON string, escaped exactly as
// encoding/json escapes it (invalid UTF-8 becomes U+FFFD; U+2028 and
// U+2029 are escaped).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
