package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/trackstream/trackstream/internal/chdb"
)

// settingName is what a query setting's name may look like; settings are
// written into the SQL text for the embedded engine.
var settingName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// settingValue is what a setting's value may look like: a number or a
// plain word (e.g. throw, break).
var settingValue = regexp.MustCompile(`^[A-Za-z0-9_.]{1,32}$`)

func checkSettings(settings map[string]string) error {
	for k, v := range settings {
		if !settingName.MatchString(k) || !settingValue.MatchString(v) {
			return fmt.Errorf("query setting %q = %q: want a lower-case name and a number or plain word", k, v)
		}
	}
	return nil
}

// QueryJSON runs one read-only SELECT and returns its rows as JSON objects
// (column name -> value; integers and floats as numbers, strings as
// strings, NaN and infinities as null). params are the query's server-side
// parameters ({name:Type} in the SQL) in text form; String values arrive
// byte for byte. settings are ClickHouse settings for this query only
// (limits such as max_execution_time); the query also runs with
// readonly = 1, so it can neither write nor change other settings.
func (s *Embedded) QueryJSON(ctx context.Context, sql string, params, settings map[string]string) ([]json.RawMessage, error) {
	if err := checkSettings(settings); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString(sql)
	b.WriteString("\nSETTINGS readonly = 1, output_format_json_quote_64bit_integers = 0, output_format_json_quote_denormals = 0, output_format_json_named_tuples_as_objects = 1")
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		fmt.Fprintf(&b, ", %s = %s", k, quoteSetting(settings[k]))
	}
	esc := make(map[string]string, len(params))
	for k, v := range params {
		esc[k] = chdb.EscapeParam(v)
	}
	out, err := s.reads.QueryParams(ctx, b.String(), "JSONEachRow", esc)
	if err != nil {
		return nil, err
	}
	var rows []json.RawMessage
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), len(out)+1)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		rows = append(rows, json.RawMessage(bytes.Clone(line)))
	}
	return rows, sc.Err()
}

// quoteSetting writes a setting value: numbers bare, words quoted.
func quoteSetting(v string) string {
	if strings.Trim(v, "0123456789.") == "" {
		return v
	}
	return "'" + v + "'"
}

// QueryJSON runs one read-only SELECT with server-side parameters and
// per-query settings (plus readonly = 1) and returns its rows as JSON
// objects, like Embedded.QueryJSON. Columns are scanned generically by
// their types; times are written as RFC 3339 with milliseconds.
func (s *Server) QueryJSON(ctx context.Context, sql string, params, settings map[string]string) ([]json.RawMessage, error) {
	if err := checkSettings(settings); err != nil {
		return nil, err
	}
	set := clickhouse.Settings{"readonly": 1}
	for k, v := range settings {
		set[k] = v
	}
	p := make(clickhouse.Parameters, len(params))
	for k, v := range params {
		p[k] = v
	}
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(p), clickhouse.WithSettings(set))
	rows, err := s.conn.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols := rows.Columns()
	types := rows.ColumnTypes()
	var out []json.RawMessage
	for rows.Next() {
		ptrs := make([]any, len(types))
		for i, t := range types {
			ptrs[i] = reflect.New(t.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("scan row %d: %w", len(out)+1, err)
		}
		var buf bytes.Buffer
		buf.WriteByte('{')
		for i, c := range cols {
			if i > 0 {
				buf.WriteByte(',')
			}
			name, _ := json.Marshal(c)
			buf.Write(name)
			buf.WriteByte(':')
			v, err := json.Marshal(jsonValue(reflect.ValueOf(ptrs[i]).Elem().Interface()))
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", c, err)
			}
			buf.Write(v)
		}
		buf.WriteByte('}')
		out = append(out, buf.Bytes())
	}
	return out, rows.Err()
}

// jsonValue makes a scanned value JSON-friendly.
func jsonValue(v any) any {
	switch x := v.(type) {
	case *string:
		if x == nil {
			return nil
		}
		return *x
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.000Z")
	case *time.Time:
		if x == nil {
			return nil
		}
		return x.UTC().Format("2006-01-02T15:04:05.000Z")
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil
		}
	}
	return v
}
