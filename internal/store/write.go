package store

import (
	"context"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/trackstream/trackstream/internal/chdb"
)

// Write runs one writing statement (an INSERT ... SELECT of a background
// job such as the session finaliser) with server-side parameters
// ({name:Type} in the SQL, values in text form) on the insert
// connections, synchronously (async_insert = 0).
func (s *Embedded) Write(ctx context.Context, sql string, params map[string]string) error {
	esc := make(map[string]string, len(params))
	for k, v := range params {
		esc[k] = chdb.EscapeParam(v)
	}
	_, err := s.db.QueryParams(ctx, sql+"\nSETTINGS async_insert = 0", "TabSeparated", esc)
	return err
}

// Write runs one writing statement with server-side parameters, like
// Embedded.Write. In cluster mode an insert into a Distributed table is
// synchronous (distributed_foreground_insert), so an error is reported
// here.
func (s *Server) Write(ctx context.Context, sql string, params map[string]string) error {
	p := make(clickhouse.Parameters, len(params))
	for k, v := range params {
		p[k] = v
	}
	set := clickhouse.Settings{"async_insert": 0}
	if s.cluster {
		set["distributed_foreground_insert"] = 1
	}
	return s.conn.Exec(clickhouse.Context(ctx, clickhouse.WithParameters(p), clickhouse.WithSettings(set)), sql)
}
