package config

import (
	"strings"
	"time"

	"github.com/trackstream/trackstream/internal/chdb"
)

// ClickHouse is how processor and admin-api reach ClickHouse.
type ClickHouse struct {
	// DSN of a ClickHouse server (clickhouse://user:pass@host:9000).
	// Empty means the embedded chDB engine under DataDir.
	DSN string
	// CHDBLib is the path to libchdb.so for the embedded engine.
	CHDBLib string
	// QueryTimeout bounds every admin query. Default 10s.
	QueryTimeout time.Duration
}

func defaultClickHouse() ClickHouse {
	return ClickHouse{CHDBLib: chdb.DefaultLibPath(), QueryTimeout: 10 * time.Second}
}

func (c *ClickHouse) fields() []field {
	return []field{
		{"clickhouse-dsn", secClickHouse, true, "ClickHouse server DSN (clickhouse://user:pass@host:9000); empty uses embedded chDB", (*stringValue)(&c.DSN)},
		{"chdb-lib", secClickHouse, false, "path to libchdb.so for the embedded ClickHouse engine", (*stringValue)(&c.CHDBLib)},
		{"clickhouse-query-timeout", secClickHouse, false, "bound on every admin query", (*durationValue)(&c.QueryTimeout)},
	}
}

func (c ClickHouse) validate(errs *[]error) {
	if c.DSN == "" && c.CHDBLib == "" {
		errorf(errs, "TRACKSTREAM_CHDB_LIB: required when TRACKSTREAM_CLICKHOUSE_DSN is empty")
	}
	if c.DSN != "" && !strings.HasPrefix(c.DSN, "clickhouse://") {
		errorf(errs, "TRACKSTREAM_CLICKHOUSE_DSN: must start with clickhouse:// (native protocol)")
	}
	checkPositive(errs, "TRACKSTREAM_CLICKHOUSE_QUERY_TIMEOUT", c.QueryTimeout)
}
