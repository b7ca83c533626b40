package store

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/enrich"
	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/schemas"
)

// TestColumnsMatchMigrations applies the migrations of schemas/clickhouse
// in chDB and holds the column table to the events table they create:
// every entry names a column of that type, and every column an insert
// must fill (one without a DEFAULT, MATERIALIZED, ALIAS or EPHEMERAL
// expression) has an entry.
func TestColumnsMatchMigrations(t *testing.T) {
	s, err := OpenEmbedded(context.Background(), testkit.CHDBLib(t), t.TempDir(), quiet, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	out := query(t, s, "SELECT name, type, default_kind FROM system.columns WHERE database = '"+schemas.Database+"' AND table = 'events' ORDER BY position")
	type stored struct{ chType, defaultKind string }
	migrated := map[string]stored{}
	var order []string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			t.Fatalf("system.columns row %q: want name, type, default_kind", line)
		}
		migrated[f[0]] = stored{f[1], f[2]}
		order = append(order, f[0])
	}
	if len(migrated) == 0 {
		t.Fatal("the migrations created no events columns")
	}
	inTable := map[string]bool{}
	for _, c := range columns {
		if inTable[c.name] {
			t.Errorf("column %s is in the column table twice", c.name)
		}
		inTable[c.name] = true
		m, ok := migrated[c.name]
		switch {
		case !ok:
			t.Errorf("column table entry %s: no such column in %s.events after the migrations", c.name, schemas.Database)
		case m.chType != c.chType:
			t.Errorf("column %s: the column table says %s, the migrations made %s", c.name, c.chType, m.chType)
		case m.defaultKind != "":
			t.Errorf("column %s is %s in the migrations; inserts must not write it", c.name, m.defaultKind)
		}
	}
	for _, name := range order {
		if !inTable[name] && migrated[name].defaultKind == "" {
			t.Errorf("column %s (%s) of the migrations has no entry in the column table (internal/store/columns.go); inserts would leave it at its type's default", name, migrated[name].chType)
		}
	}
}

// TestColumnKindsFitTypes: the Go type of each column's value (its kind)
// is one the column's ClickHouse type takes in RowBinary and from
// clickhouse-go.
func TestColumnKindsFitTypes(t *testing.T) {
	fits := map[kind]func(string) bool{
		kindString:   func(ty string) bool { return ty == "String" || ty == "LowCardinality(String)" },
		kindTime:     func(ty string) bool { return ty == "DateTime64(3, 'UTC')" },
		kindNullTime: func(ty string) bool { return ty == "Nullable(DateTime64(3, 'UTC'))" },
		kindBool:     func(ty string) bool { return ty == "Bool" },
		kindJSON:     func(ty string) bool { return ty == "String" },
	}
	for _, c := range columns {
		fit, ok := fits[c.kind]
		if !ok {
			t.Errorf("column %s: unknown kind %d", c.name, c.kind)
			continue
		}
		if !fit(c.chType) {
			t.Errorf("column %s: a %s column cannot take a value of kind %d", c.name, c.chType, c.kind)
		}
	}
}

// TestAppendValues: the server store appends one value per column, of the
// Go type clickhouse-go takes for the column's kind, times in UTC and
// JSON columns normalised like the embedded store's.
func TestAppendValues(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 8e6, time.FixedZone("x", 3600))
	r := Row{
		Event:  event.Event{SourceID: "s", ID: "i", Time: at, ReceivedAt: at, SentAt: &at, Properties: json.RawMessage(` {"a":1} `)},
		Fields: enrich.Fields{Bot: true, URLHost: "h"},
	}
	vals := appendValues(nil, &r)
	if len(vals) != len(columns) {
		t.Fatalf("%d values for %d columns", len(vals), len(columns))
	}
	got := map[string]any{}
	for i, c := range columns {
		got[c.name] = vals[i]
		var ok bool
		switch c.kind {
		case kindString, kindJSON:
			_, ok = vals[i].(string)
		case kindTime:
			var tm time.Time
			tm, ok = vals[i].(time.Time)
			ok = ok && tm.Location() == time.UTC
		case kindNullTime:
			var tm *time.Time
			tm, ok = vals[i].(*time.Time)
			ok = ok && (tm == nil || tm.Location() == time.UTC)
		case kindBool:
			_, ok = vals[i].(bool)
		}
		if !ok {
			t.Errorf("column %s: value %#v does not fit its kind %d", c.name, vals[i], c.kind)
		}
	}
	for name, want := range map[string]any{
		"source_id": "s", "event_id": "i", "url_host": "h", "is_bot": true,
		"properties": `{"a":1}`, "context": "{}", "event_time": at.UTC(),
	} {
		if got[name] != want {
			t.Errorf("%s = %#v, want %#v", name, got[name], want)
		}
	}
	if sent, _ := got["sent_at"].(*time.Time); sent == nil || !sent.Equal(at) {
		t.Errorf("sent_at = %v, want %v", got["sent_at"], at)
	}
	if ct, _ := got["client_time"].(*time.Time); ct != nil {
		t.Errorf("client_time = %v, want NULL", ct)
	}
}
