package store

import (
	"encoding/json"
	"strings"
	"time"
	"unsafe"
)

// columns are the columns of the events table that both stores insert,
// in insert order: the one definition of an events row. Each entry names
// the column, its ClickHouse type exactly as system.columns reports it
// (TestColumnsMatchMigrations holds them to the migrations in
// schemas/clickhouse), and how to take its value from a Row; the Go type
// of that value chooses the encoding (see col). The insert column list,
// the embedded store's RowBinary encoder and the server store's Append
// are all driven by this table, so a new column is a migration plus one
// line here.
var columns = []column{
	col("source_id", "LowCardinality(String)", &template.Event.SourceID),
	col("event_id", "String", &template.Event.ID),
	col("event_type", "LowCardinality(String)", &template.Event.Type),
	col("event_time", "DateTime64(3, 'UTC')", &template.Event.Time),
	col("received_at", "DateTime64(3, 'UTC')", &template.Event.ReceivedAt),
	col("client_time", "Nullable(DateTime64(3, 'UTC'))", &template.Event.ClientTime),
	col("sent_at", "Nullable(DateTime64(3, 'UTC'))", &template.Event.SentAt),
	col("late", "Bool", &template.Event.Late),
	col("session_id", "String", &template.Event.SessionID),
	col("profile_id", "String", &template.Event.ProfileID),
	col("anonymous_id", "String", &template.Event.AnonymousID),
	col("user_id", "String", &template.Event.UserID),
	col("group_id", "String", &template.Event.GroupID),
	col("previous_id", "String", &template.Event.PreviousID),
	col("name", "LowCardinality(String)", &template.Event.Name),
	col("ip", "String", &template.Event.IP),
	col("user_agent", "String", &template.Event.UserAgent),
	col("url", "String", &template.Event.URL),
	col("url_host", "LowCardinality(String)", &template.Fields.URLHost),
	col("url_path", "String", &template.Fields.URLPath),
	col("url_query", "String", &template.Fields.URLQuery),
	col("referrer", "String", &template.Event.Referrer),
	col("referrer_host", "LowCardinality(String)", &template.Fields.ReferrerHost),
	col("referrer_medium", "LowCardinality(String)", &template.Fields.ReferrerMedium),
	col("utm_source", "LowCardinality(String)", &template.Fields.UTMSource),
	col("utm_medium", "LowCardinality(String)", &template.Fields.UTMMedium),
	col("utm_campaign", "LowCardinality(String)", &template.Fields.UTMCampaign),
	col("utm_term", "String", &template.Fields.UTMTerm),
	col("utm_content", "String", &template.Fields.UTMContent),
	col("click_id_type", "LowCardinality(String)", &template.Fields.ClickIDType),
	col("click_id", "String", &template.Fields.ClickID),
	col("country", "LowCardinality(String)", &template.Fields.Country),
	col("region", "LowCardinality(String)", &template.Fields.Region),
	col("city", "LowCardinality(String)", &template.Fields.City),
	col("geo_db", "LowCardinality(String)", &template.Fields.GeoDB),
	col("browser", "LowCardinality(String)", &template.Fields.Browser),
	col("browser_version", "LowCardinality(String)", &template.Fields.BrowserVersion),
	col("os", "LowCardinality(String)", &template.Fields.OS),
	col("os_version", "LowCardinality(String)", &template.Fields.OSVersion),
	col("device_type", "LowCardinality(String)", &template.Fields.DeviceType),
	col("is_bot", "Bool", &template.Fields.Bot),
	col("ua_rules", "LowCardinality(String)", &template.Fields.UARules),
	col("properties", "String", &template.Event.Properties),
	col("context", "String", &template.Event.Context).liftingContext(),
}

// template is the row the column table's field pointers point into: a
// column's value lies at the same offset in every Row.
var template Row

// column is one inserted column of the events table.
type column struct {
	name string
	// chType is the ClickHouse type, as system.columns spells it.
	chType string
	kind   kind
	// offset is where the column's value lies in a Row.
	offset uintptr
	// liftContext: the column is the context, stored without the values
	// the row's typed columns hold (liftContext).
	liftContext bool
}

// liftingContext marks c as the context column (see liftContext).
func (c column) liftingContext() column {
	c.liftContext = true
	return c
}

// kind is how a column's value is encoded; the Go type of the value
// chooses it (see col).
type kind uint8

const (
	// kindString: a string, to String or LowCardinality(String), byte
	// for byte.
	kindString kind = iota
	// kindTime: a time.Time, to DateTime64(3, 'UTC').
	kindTime
	// kindNullTime: a *time.Time, to Nullable(DateTime64(3, 'UTC')),
	// NULL when nil.
	kindNullTime
	// kindBool: a bool, to Bool.
	kindBool
	// kindJSON: a json.RawMessage holding a JSON object, to a String
	// column as the object's text (see appendObject; checkObjects refuses
	// any other value).
	kindJSON
)

// columnValue are the Go types a column's value may have.
type columnValue interface {
	string | time.Time | *time.Time | bool | json.RawMessage
}

// col declares a column named name of ClickHouse type chType whose value
// is field, a field of template. The encoders read the value at the same
// place in each row without a call per column (the RowBinary encoder
// runs for every stored event).
func col[V columnValue](name, chType string, field *V) column {
	off := uintptr(unsafe.Pointer(field)) - uintptr(unsafe.Pointer(&template))
	if off+unsafe.Sizeof(*field) > unsafe.Sizeof(template) {
		panic("store: column " + name + " is not a field of the template row")
	}
	c := column{name: name, chType: chType, offset: off}
	switch any(field).(type) {
	case *string:
		c.kind = kindString
	case *time.Time:
		c.kind = kindTime
	case **time.Time:
		c.kind = kindNullTime
	case *bool:
		c.kind = kindBool
	case *json.RawMessage:
		c.kind = kindJSON
	}
	return c
}

// value returns a pointer to the column's value in r, of the Go type of
// its kind.
func (c *column) value(r *Row) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(r), c.offset) }

// insertColumns is the column list of every insert into the events table,
// "(source_id, event_id, ...)", in the order of columns.
var insertColumns = func() string {
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = c.name
	}
	return "(" + strings.Join(names, ", ") + ")"
}()

// appendValues appends r's column values, in the order of columns, as the
// server store's batch.Append takes them: times in UTC, JSON objects as
// their text.
func appendValues(dst []any, r *Row) []any {
	for i := range columns {
		c := &columns[i]
		switch c.kind {
		case kindString:
			dst = append(dst, *(*string)(c.value(r)))
		case kindTime:
			dst = append(dst, (*time.Time)(c.value(r)).UTC())
		case kindNullTime:
			var v *time.Time
			if t := *(**time.Time)(c.value(r)); t != nil {
				u := t.UTC()
				v = &u
			}
			dst = append(dst, v)
		case kindBool:
			dst = append(dst, *(*bool)(c.value(r)))
		case kindJSON:
			b := appendObject(nil, *(*json.RawMessage)(c.value(r)))
			if c.liftContext {
				b = liftContext(b, 0, &r.Event)
			}
			dst = append(dst, string(b))
		}
	}
	return dst
}
