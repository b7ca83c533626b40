package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/trackstream/trackstream/internal/jsonread"
)

// recordLimits are what a record may hold: what encoding/json accepts,
// within its nesting limit.
func recordLimits() jsonread.Limits { return jsonread.Limits{MaxDepth: 10000, Lenient: true} }

// decodeRecord reads a record value into e without reflection: one pass
// of jsonread's checking decoder (encoding/json would scan it twice).
// Properties and Context are sub-slices of value. It accepts only what
// encoding/json would accept for Event, decoding it the same way, except
// that member names must match exactly (encoding/json also takes other
// letter cases).
func decodeRecord(value []byte, e *Event) error {
	var d jsonread.Decoder
	d.Reset(value, recordLimits())
	var notObject *jsonread.Error
	if err := d.BeginObject(); errors.As(err, &notObject) {
		return fmt.Errorf("invalid record at byte %d: a record must be a JSON object", notObject.Offset)
	}
	for {
		key, ok, err := d.NextMember()
		if err != nil {
			return fmt.Errorf("invalid record: %w", err)
		}
		if !ok {
			break
		}
		if err := member(&d, key, e); err != nil {
			return fmt.Errorf("invalid record: %w", err)
		}
	}
	if err := d.End(); err != nil {
		return fmt.Errorf("invalid record: %w", err)
	}
	return nil
}

// member decodes the value of the member named key into e.
func member(d *jsonread.Decoder, key []byte, e *Event) error {
	var s *string
	var t **time.Time
	switch string(key) {
	case "source_id":
		s = &e.SourceID
	case "id":
		s = &e.ID
	case "type":
		s = &e.Type
	case "session_id":
		s = &e.SessionID
	case "profile_id":
		s = &e.ProfileID
	case "anonymous_id":
		s = &e.AnonymousID
	case "user_id":
		s = &e.UserID
	case "ip":
		s = &e.IP
	case "user_agent":
		s = &e.UserAgent
	case "url":
		s = &e.URL
	case "referrer":
		s = &e.Referrer
	case "name":
		s = &e.Name
	case "group_id":
		s = &e.GroupID
	case "previous_id":
		s = &e.PreviousID
	case "country":
		s = &e.Country
	case "region":
		s = &e.Region
	case "city":
		s = &e.City
	case "geo_db":
		s = &e.GeoDB
	case "ch_ua":
		s = &e.ClientHints.UA
	case "ch_ua_mobile":
		s = &e.ClientHints.Mobile
	case "ch_ua_platform":
		s = &e.ClientHints.Platform
	case "time":
		return timeValue(d, "time", &e.Time)
	case "received_at":
		return timeValue(d, "received_at", &e.ReceivedAt)
	case "client_time":
		t = &e.ClientTime
	case "sent_at":
		t = &e.SentAt
	case "late":
		return boolValue(d, "late", &e.Late)
	case "properties":
		return rawValue(d, &e.Properties)
	case "context":
		return rawValue(d, &e.Context)
	default:
		return d.Skip()
	}
	if s != nil {
		if d.Null() {
			return nil
		}
		v, err := d.String()
		if err != nil {
			return err
		}
		*s = v
		return nil
	}
	if d.Null() {
		*t = nil
		return nil
	}
	var tv time.Time
	if err := timeValue(d, string(key), &tv); err != nil {
		return err
	}
	*t = &tv
	return nil
}

// timeValue decodes an RFC 3339 time as time.Time's UnmarshalJSON does
// (null leaves t as it is).
func timeValue(d *jsonread.Decoder, key string, t *time.Time) error {
	v, err := d.Value()
	if err != nil {
		return err
	}
	switch v.Kind() {
	case jsonread.Null:
		return nil
	case jsonread.String:
		if err := t.UnmarshalJSON(v.Raw()); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	}
	return fmt.Errorf("%s must be a time, got %s", key, v.Kind())
}

// boolValue decodes a boolean (null leaves b as it is).
func boolValue(d *jsonread.Decoder, key string, b *bool) error {
	v, err := d.Value()
	if err != nil {
		return err
	}
	switch v.Kind() {
	case jsonread.Null:
	case jsonread.Bool:
		*b = v.Raw()[0] == 't'
	default:
		return fmt.Errorf("%s must be a boolean, got %s", key, v.Kind())
	}
	return nil
}

// rawValue keeps any JSON value's bytes, as json.RawMessage does (null
// included).
func rawValue(d *jsonread.Decoder, raw *json.RawMessage) error {
	v, err := d.Value()
	if err != nil {
		return err
	}
	b := v.Raw()
	*raw = b[:len(b):len(b)]
	return nil
}
