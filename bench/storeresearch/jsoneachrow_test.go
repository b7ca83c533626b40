package storeresearch

import (
	"bytes"
	"strconv"
	"time"

	"github.com/trackstream/trackstream/internal/store"
)

// The JSONEachRow encoding the embedded store used before RowBinary, kept
// as the comparison in BenchmarkInsertVariants and BenchmarkEncodeFormats.

// chTimeLayout is how ClickHouse reads a DateTime64(3) from text.
const chTimeLayout = "2006-01-02 15:04:05.000"

// appendRow appends r as one JSONEachRow line. Strings are written byte
// for byte with only JSON's mandatory escapes, so any bytes round-trip;
// properties and context are embedded as JSON objects (appendRawObject).
func appendRow(b []byte, r *store.Row) []byte {
	e, f := &r.Event, &r.Fields
	b = append(b, `{"source_id":`...)
	b = appendString(b, e.SourceID)
	b = appendKV(b, "event_id", e.ID)
	b = appendKV(b, "event_type", e.Type)
	b = append(b, `,"event_time":`...)
	b = appendTime(b, e.Time)
	b = append(b, `,"received_at":`...)
	b = appendTime(b, e.ReceivedAt)
	b = append(b, `,"client_time":`...)
	b = appendTimePtr(b, e.ClientTime)
	b = append(b, `,"sent_at":`...)
	b = appendTimePtr(b, e.SentAt)
	b = append(b, `,"late":`...)
	b = strconv.AppendBool(b, e.Late)
	b = appendKV(b, "session_id", e.SessionID)
	b = appendKV(b, "profile_id", e.ProfileID)
	b = appendKV(b, "anonymous_id", e.AnonymousID)
	b = appendKV(b, "user_id", e.UserID)
	b = appendKV(b, "group_id", e.GroupID)
	b = appendKV(b, "previous_id", e.PreviousID)
	b = appendKV(b, "name", e.Name)
	b = appendKV(b, "ip", e.IP)
	b = appendKV(b, "user_agent", e.UserAgent)
	b = appendKV(b, "url", e.URL)
	b = appendKV(b, "url_host", f.URLHost)
	b = appendKV(b, "url_path", f.URLPath)
	b = appendKV(b, "url_query", f.URLQuery)
	b = appendKV(b, "referrer", e.Referrer)
	b = appendKV(b, "referrer_host", f.ReferrerHost)
	b = appendKV(b, "referrer_medium", f.ReferrerMedium)
	b = appendKV(b, "utm_source", f.UTMSource)
	b = appendKV(b, "utm_medium", f.UTMMedium)
	b = appendKV(b, "utm_campaign", f.UTMCampaign)
	b = appendKV(b, "utm_term", f.UTMTerm)
	b = appendKV(b, "utm_content", f.UTMContent)
	b = appendKV(b, "click_id_type", f.ClickIDType)
	b = appendKV(b, "click_id", f.ClickID)
	b = appendKV(b, "country", f.Country)
	b = appendKV(b, "region", f.Region)
	b = appendKV(b, "city", f.City)
	b = appendKV(b, "browser", f.Browser)
	b = appendKV(b, "browser_version", f.BrowserVersion)
	b = appendKV(b, "os", f.OS)
	b = appendKV(b, "os_version", f.OSVersion)
	b = appendKV(b, "device_type", f.DeviceType)
	b = append(b, `,"is_bot":`...)
	b = strconv.AppendBool(b, f.Bot)
	b = append(b, `,"properties":`...)
	b = appendRawObject(b, e.Properties)
	b = append(b, `,"context":`...)
	b = appendRawObject(b, e.Context)
	return append(b, "}\n"...)
}

func appendKV(b []byte, key, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, chTimeLayout)
	return append(b, '"')
}

func appendTimePtr(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	return appendTime(b, *t)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string: quote, backslash and control
// bytes escaped, every other byte verbatim.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendRawObject embeds a JSON column's value as it is, {} when empty:
// the rows here are generated, so their JSON is well-formed.
func appendRawObject(b []byte, raw []byte) []byte {
	if len(bytes.TrimSpace(raw)) == 0 {
		return append(b, "{}"...)
	}
	return append(b, raw...)
}
