// Package event is trackstream's normalised event: what ingest produces to
// Kafka and the processor stores in ClickHouse. The Kafka record format is
// versioned (FormatVersion, carried in the record header named
// FormatHeader) so both sides can evolve separately.
package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// FormatHeader is the Kafka record header carrying the record format version.
const FormatHeader = "trackstream-format"

// FormatVersion is the version of the JSON record value written by this build.
const FormatVersion = "1"

// MinTime and MaxTime bound the event times trackstream can answer
// queries about: the range of the rollups' DateTime columns (1970-2106),
// less a margin so that a range and the period before it (which the
// summary compares with) stay inside it. Ingest refuses events whose
// corrected time is before MinTime; the admin API takes ranges between
// them.
var (
	MinTime = time.Date(1971, 3, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2105, 12, 31, 0, 0, 0, 0, time.UTC)
)

// Event is one normalised event. Dedup downstream is by (SourceID, ID).
type Event struct {
	// SourceID is the source that sent the event.
	SourceID string `json:"source_id"`
	// ID is the client's event id, or a server-made UUIDv7.
	ID string `json:"id"`
	// Type is the event type, e.g. page-view.
	Type string `json:"type"`
	// Time is when the event happened, corrected for client clock skew.
	Time time.Time `json:"time"`
	// ReceivedAt is when ingest received the request.
	ReceivedAt time.Time `json:"received_at"`
	// ClientTime is the event time the client stated, unadjusted.
	ClientTime *time.Time `json:"client_time,omitempty"`
	// SentAt is when the client sent the request, by its own clock.
	SentAt *time.Time `json:"sent_at,omitempty"`
	// Late marks an event whose time is far in the past of ReceivedAt.
	Late bool `json:"late,omitempty"`
	// SessionID and ProfileID identify the visit and the visitor
	// (Tracardi's session.id and profile.id).
	SessionID string `json:"session_id,omitempty"`
	ProfileID string `json:"profile_id,omitempty"`
	// AnonymousID and UserID are Segment's visitor and user ids.
	AnonymousID string `json:"anonymous_id,omitempty"`
	UserID      string `json:"user_id,omitempty"`
	// IP is the client address after the source's IP policy (kept,
	// truncated or empty); a raw IP the policy forbids is never here.
	IP string `json:"ip,omitempty"`
	// UserAgent is the client's User-Agent.
	UserAgent string `json:"user_agent,omitempty"`
	// URL and Referrer are the page the event happened on and its referrer.
	URL      string `json:"url,omitempty"`
	Referrer string `json:"referrer,omitempty"`
	// Properties and Context are the event's JSON objects, kept verbatim.
	Properties json.RawMessage `json:"properties,omitempty"`
	Context    json.RawMessage `json:"context,omitempty"`
	// Name is the name of a Segment page or screen call.
	Name string `json:"name,omitempty"`
	// GroupID is the group of a Segment group call.
	GroupID string `json:"group_id,omitempty"`
	// PreviousID is the former id a Segment alias call merges into UserID.
	PreviousID string `json:"previous_id,omitempty"`
	// Country, Region and City are where ingest's GeoIP database placed
	// the client address before the source's IP policy truncated or
	// dropped it. GeoDB names that database build; it is empty when
	// ingest looked nothing up (no database), and then the processor may.
	Country string `json:"country,omitempty"`
	Region  string `json:"region,omitempty"`
	City    string `json:"city,omitempty"`
	GeoDB   string `json:"geo_db,omitempty"`
	// ClientHints are the browser's user-agent client hints, if it sent
	// them.
	ClientHints
}

// ClientHints are the low-entropy user-agent client hints a Chromium
// browser sends on secure requests, as the raw header values.
type ClientHints struct {
	// UA is Sec-CH-UA, the brand list, e.g.
	// `"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"`.
	UA string `json:"ch_ua,omitempty"`
	// Mobile is Sec-CH-UA-Mobile: "?1" on a phone, "?0" otherwise.
	Mobile string `json:"ch_ua_mobile,omitempty"`
	// Platform is Sec-CH-UA-Platform, e.g. `"Windows"`.
	Platform string `json:"ch_ua_platform,omitempty"`
}

// Key is the Kafka record key: one visitor's events share a key, and so a
// partition, and so stay in order.
func (e *Event) Key() []byte {
	return e.AppendKey(make([]byte, 0, len(e.SourceID)+1+len(e.visitor())))
}

// AppendKey appends the Kafka record key (see Key) to dst.
func (e *Event) AppendKey(dst []byte) []byte {
	dst = append(dst, e.SourceID...)
	dst = append(dst, '/')
	return append(dst, e.visitor()...)
}

// visitor is the most stable id of who sent the event.
func (e *Event) visitor() string {
	for _, id := range []string{e.ProfileID, e.AnonymousID, e.UserID, e.SessionID} {
		// AnonymousID before UserID: stable across a Segment identify.
		if id != "" {
			return id
		}
	}
	return e.ID
}

// Marshal encodes e as a record value of FormatVersion (see AppendJSON).
func (e *Event) Marshal() ([]byte, error) {
	return e.AppendJSON(make([]byte, 0, 384+len(e.Properties)+len(e.Context)+len(e.UserAgent)+len(e.URL)+len(e.Referrer)))
}

// ErrUndecodable marks a record that can never be stored as an event.
var ErrUndecodable = errors.New("undecodable event record")

// Unmarshal decodes a record value written with format version. Errors wrap
// ErrUndecodable.
func Unmarshal(version string, value []byte) (Event, error) {
	var e Event
	if version != FormatVersion {
		return e, fmt.Errorf("%w: unknown format version %q", ErrUndecodable, version)
	}
	if err := decodeRecord(value, &e); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrUndecodable, err)
	}
	if e.SourceID == "" || e.ID == "" || e.Type == "" {
		return e, fmt.Errorf("%w: source_id, id and type are required", ErrUndecodable)
	}
	return e, nil
}
