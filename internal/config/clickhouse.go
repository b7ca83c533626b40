package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// ClickHouse is how processor and admin-api reach ClickHouse.
type ClickHouse struct {
	// DSN of a ClickHouse server (clickhouse://user:pass@host:9000).
	// Empty means the embedded chDB engine under DataDir.
	DSN string
	// CHDBLib is the path to libchdb.so for the embedded engine.
	// Default DefaultCHDBLib().
	CHDBLib string
	// QueryTimeout bounds every admin query. Default 10s.
	QueryTimeout time.Duration
	// Cluster, when set, creates the schema for a ClickHouse cluster of
	// that name (ON CLUSTER, Replicated engines, Distributed tables); it
	// needs DSN. Every process of a deployment must agree on it.
	Cluster string
	// TTL drops events this long after their event time (whole hours);
	// 0 keeps them. Applied by the processes that migrate the schema; the
	// session finaliser stops recomputing a day an hour before its first
	// events reach it (its figures would miss the dropped events).
	TTL time.Duration
}

// CHDBVersion is the chDB release trackstream builds and tests against
// (Taskfile.yml's CHDB_VERSION); it names the directory of
// DefaultCHDBLib.
const CHDBVersion = "26.7.3-stable.1"

// DefaultCHDBLib is where `task chdb:fetch` puts libchdb.so:
// <user cache dir>/trackstream/chdb/<CHDBVersion>/libchdb.so (on Linux
// ~/.cache/...), or "" when the cache directory is unknown.
func DefaultCHDBLib() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "trackstream", "chdb", CHDBVersion, "libchdb.so")
}

func defaultClickHouse() ClickHouse {
	return ClickHouse{CHDBLib: DefaultCHDBLib(), QueryTimeout: 10 * time.Second}
}

func (c *ClickHouse) fields() []field {
	return []field{
		{"clickhouse-dsn", secClickHouse, true, "ClickHouse server DSN (clickhouse://user:pass@host:9000); empty uses embedded chDB", (*stringValue)(&c.DSN)},
		{"chdb-lib", secClickHouse, false, "path to libchdb.so for the embedded ClickHouse engine", (*stringValue)(&c.CHDBLib)},
		{"clickhouse-query-timeout", secClickHouse, false, "bound on every admin query", (*durationValue)(&c.QueryTimeout)},
		{"clickhouse-cluster", secClickHouse, false, "ClickHouse cluster name for an ON CLUSTER/Replicated/Distributed schema; empty: one server", (*stringValue)(&c.Cluster)},
		{"clickhouse-ttl", secClickHouse, false, "drop events this long after their event time (e.g. 8760h); 0 keeps them; the session finaliser then leaves days older than it less 1h as they are", (*durationValue)(&c.TTL)},
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
	if c.Cluster != "" && !clusterNamePattern.MatchString(c.Cluster) {
		errorf(errs, "TRACKSTREAM_CLICKHOUSE_CLUSTER: %q: want 1-128 of [A-Za-z0-9_.-]", c.Cluster)
	}
	if c.Cluster != "" && c.DSN == "" {
		errorf(errs, "TRACKSTREAM_CLICKHOUSE_CLUSTER: needs TRACKSTREAM_CLICKHOUSE_DSN (the embedded engine is a single node)")
	}
	if c.TTL != 0 && c.TTL < time.Hour {
		errorf(errs, "TRACKSTREAM_CLICKHOUSE_TTL: %s must be 0 (keep forever) or at least 1h", c.TTL)
	}
}

var clusterNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
