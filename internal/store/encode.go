package store

import (
	"bytes"
	"encoding/binary"
	"time"
	"unicode/utf8"
)

// insertColumns are the columns both stores insert, in the order
// appendRowBinary writes them and Server appends them.
const insertColumns = "(source_id, event_id, event_type, event_time, received_at, client_time, sent_at, late, " +
	"session_id, profile_id, anonymous_id, user_id, group_id, previous_id, name, ip, user_agent, " +
	"url, url_host, url_path, url_query, referrer, referrer_host, referrer_medium, " +
	"utm_source, utm_medium, utm_campaign, utm_term, utm_content, click_id_type, click_id, " +
	"country, region, city, browser, browser_version, os, os_version, device_type, is_bot, properties, context)"

const chTimeLayout = "2006-01-02 15:04:05.000"

// appendRowBinary appends r in ClickHouse's RowBinary format, columns in
// the order of insertColumns. Strings are length-prefixed and go byte for
// byte; times are Int64 milliseconds (DateTime64(3)); Nullable values
// carry a null flag byte; Bool is one byte. properties and context go as
// their JSON text, normalised by appendObject, which the engine parses
// into the JSON columns because the insert sets
// input_format_binary_read_json_as_string (see insertSQL).
func appendRowBinary(b []byte, r *Row) []byte {
	e, f := &r.Event, &r.Fields
	b = appendBinString(b, e.SourceID)
	b = appendBinString(b, e.ID)
	b = appendBinString(b, e.Type)
	b = appendBinTime(b, e.Time)
	b = appendBinTime(b, e.ReceivedAt)
	b = appendBinTimePtr(b, e.ClientTime)
	b = appendBinTimePtr(b, e.SentAt)
	b = appendBinBool(b, e.Late)
	for _, s := range [...]string{
		e.SessionID, e.ProfileID, e.AnonymousID, e.UserID, e.GroupID, e.PreviousID, e.Name, e.IP, e.UserAgent,
		e.URL, f.URLHost, f.URLPath, f.URLQuery, e.Referrer, f.ReferrerHost, f.ReferrerMedium,
		f.UTMSource, f.UTMMedium, f.UTMCampaign, f.UTMTerm, f.UTMContent, f.ClickIDType, f.ClickID,
		f.Country, f.Region, f.City, f.Browser, f.BrowserVersion, f.OS, f.OSVersion, f.DeviceType,
	} {
		b = appendBinString(b, s)
	}
	b = appendBinBool(b, f.Bot)
	b = appendBinJSON(b, e.Properties)
	return appendBinJSON(b, e.Context)
}

// appendBinString writes s as a RowBinary String: LEB128 length, bytes.
func appendBinString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendBinJSON writes a JSON column's value as a String holding the
// object's text ({} for an empty or null value).
func appendBinJSON(b []byte, raw []byte) []byte {
	// The object is written after a length prefix that is only known once
	// appendObject has normalised it: reserve the longest prefix a length
	// below 2^35 can need, then move the bytes left when the prefix is
	// shorter. Objects are bounded far below that by ingest's body limit.
	const maxPrefix = 5
	start := len(b)
	b = append(b, make([]byte, maxPrefix)...)
	b = appendObject(b, raw)
	n := len(b) - start - maxPrefix
	var prefix [binary.MaxVarintLen64]byte
	p := binary.PutUvarint(prefix[:], uint64(n))
	copy(b[start:], prefix[:p])
	copy(b[start+p:], b[start+maxPrefix:])
	return b[:start+p+n]
}

func appendBinTime(b []byte, t time.Time) []byte {
	return binary.LittleEndian.AppendUint64(b, uint64(t.UnixMilli()))
}

func appendBinTimePtr(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, 1)
	}
	return appendBinTime(append(b, 0), *t)
}

func appendBinBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendObject appends the text of a JSON column's value; records were
// decoded by encoding/json, so raw is well-formed. Whether it is an object is left to ClickHouse (a
// non-object is rejected and dead-lettered).
func appendObject(b []byte, raw []byte) []byte {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return append(b, "{}"...)
	}
	if !utf8.Valid(trimmed) {
		trimmed = bytes.ToValidUTF8(trimmed, []byte("\uFFFD"))
	}
	return append(b, trimmed...)
}
