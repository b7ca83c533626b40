// Package config is the typed configuration of every trackstream role: the
// defaults in one place, loading from TRACKSTREAM_* environment variables and
// command-line flags, and validation that reports every problem at once.
package config

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/trackstream/trackstream/internal/chdb"
)

// Role names a way to run the trackstream binary.
type Role string

// The roles. RoleAll runs ingest, processor and admin-api in one process
// with an embedded Kafka-protocol broker and embedded ClickHouse.
const (
	RoleAll       Role = "all"
	RoleIngest    Role = "ingest"
	RoleProcessor Role = "processor"
	RoleAdmin     Role = "admin-api"
)

// Roles lists every role in the order the help text shows them.
var Roles = []Role{RoleAll, RoleIngest, RoleProcessor, RoleAdmin}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q (want one of all, ingest, processor, admin-api)", s)
}

// Config is the whole configuration. Each role reads only the sections it
// needs (see sectionsFor); the others keep their defaults and are not
// validated.
type Config struct {
	// DataDir holds the embedded broker's log, the embedded ClickHouse data
	// and the admin password hash. Default ./data.
	DataDir string
	// LogFormat is json (default) or text.
	LogFormat string
	// LogLevel is debug, info (default), warn or error.
	LogLevel string
	// OpsAddr is the listener for /metrics, /healthz and /readyz.
	// Default 127.0.0.1:9090.
	OpsAddr string
	// ShutdownTimeout bounds the whole graceful stop. Default 30s.
	ShutdownTimeout time.Duration

	Kafka      Kafka
	ClickHouse ClickHouse
	Ingest     Ingest
	Processor  Processor
	Admin      Admin
}

// Kafka is how every role reaches Kafka.
type Kafka struct {
	// Brokers are the seed brokers (host:port). Required for the ingest,
	// processor and admin-api roles; the all role ignores it and uses its
	// embedded broker.
	Brokers []string
	// EmbeddedPort is the loopback port of the all role's embedded broker,
	// so ordinary Kafka tools can look at it. Default 19092.
	EmbeddedPort int
	// Partitions of trackstream.events when trackstream creates it. Default 6.
	Partitions int
	// ReplicationFactor of the topics trackstream creates. Default 1 (use 3
	// on a real cluster).
	ReplicationFactor int
}

// ClickHouse is how processor and admin-api reach ClickHouse.
type ClickHouse struct {
	// DSN of a ClickHouse server (clickhouse://user:pass@host:9000/db).
	// Empty means the embedded chDB engine under DataDir.
	DSN string
	// CHDBLib is the path to libchdb.so for the embedded engine.
	CHDBLib string
	// QueryTimeout bounds every admin query. Default 10s.
	QueryTimeout time.Duration
}

// Ingest configures the public collector.
type Ingest struct {
	// Addr is the public listener. Default :8080.
	Addr string
	// ProduceTimeout is how long a request waits for Kafka's
	// acknowledgement before answering 503. Default 5s.
	ProduceTimeout time.Duration
	// MaxBodyBytes caps a request body. Default 1 MiB.
	MaxBodyBytes int
	// MaxEvents caps the events of one request. Default 500.
	MaxEvents int
	// MaxBufferedBytes caps the producer's buffer; beyond it requests get
	// 503 at once. Default 64 MiB.
	MaxBufferedBytes int
}

// Processor configures the Kafka to ClickHouse workers.
type Processor struct {
	// Group is the Kafka consumer group. Default trackstream-processor.
	Group string
	// BatchRows flushes a batch at this many rows. Default 50000.
	BatchRows int
	// BatchAge flushes a batch this long after its first row. Default 1s.
	BatchAge time.Duration
}

// Admin configures the internal admin API.
type Admin struct {
	// Addr is the admin listener. Default 127.0.0.1:8081 (loopback).
	Addr string
	// Password of the admin user. Checked against the password policy at
	// start. When empty, the stored hash is used, or on first start a strong
	// password is generated and printed once.
	Password string
	// SessionTTL is the lifetime of a login token. Default 12h.
	SessionTTL time.Duration
}

// Default returns the configuration every field starts from.
func Default() Config {
	return Config{
		DataDir:         "./data",
		LogFormat:       "json",
		LogLevel:        "info",
		OpsAddr:         "127.0.0.1:9090",
		ShutdownTimeout: 30 * time.Second,
		Kafka: Kafka{
			EmbeddedPort:      19092,
			Partitions:        6,
			ReplicationFactor: 1,
		},
		ClickHouse: ClickHouse{
			CHDBLib:      chdb.DefaultLibPath(),
			QueryTimeout: 10 * time.Second,
		},
		Ingest: Ingest{
			Addr:             ":8080",
			ProduceTimeout:   5 * time.Second,
			MaxBodyBytes:     1 << 20,
			MaxEvents:        500,
			MaxBufferedBytes: 64 << 20,
		},
		Processor: Processor{
			Group:     "trackstream-processor",
			BatchRows: 50_000,
			BatchAge:  time.Second,
		},
		Admin: Admin{
			Addr:       "127.0.0.1:8081",
			SessionTTL: 12 * time.Hour,
		},
	}
}

// section is a part of Config a role may use.
type section int

const (
	secCommon section = iota
	secKafka
	secEmbedded
	secClickHouse
	secIngest
	secProcessor
	secAdmin
)

func sectionsFor(r Role) []section {
	switch r {
	case RoleAll:
		return []section{secCommon, secEmbedded, secKafka, secClickHouse, secIngest, secProcessor, secAdmin}
	case RoleIngest:
		return []section{secCommon, secKafka, secIngest}
	case RoleProcessor:
		return []section{secCommon, secKafka, secClickHouse, secProcessor}
	case RoleAdmin:
		return []section{secCommon, secKafka, secClickHouse, secAdmin}
	}
	return nil
}

// Validate checks the sections role uses and returns every problem joined.
func (c Config) Validate(role Role) error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for _, s := range sectionsFor(role) {
		switch s {
		case secCommon:
			if c.DataDir == "" {
				add("TRACKSTREAM_DATA_DIR: must not be empty")
			}
			if c.LogFormat != "json" && c.LogFormat != "text" {
				add("TRACKSTREAM_LOG_FORMAT: %q is not json or text", c.LogFormat)
			}
			switch c.LogLevel {
			case "debug", "info", "warn", "error":
			default:
				add("TRACKSTREAM_LOG_LEVEL: %q is not debug, info, warn or error", c.LogLevel)
			}
			checkAddr(&errs, "TRACKSTREAM_OPS_ADDR", c.OpsAddr)
			checkPositive(&errs, "TRACKSTREAM_SHUTDOWN_TIMEOUT", c.ShutdownTimeout)
		case secEmbedded:
			if c.Kafka.EmbeddedPort < 1 || c.Kafka.EmbeddedPort > 65535 {
				add("TRACKSTREAM_EMBEDDED_KAFKA_PORT: %d is not a port (1-65535)", c.Kafka.EmbeddedPort)
			}
		case secKafka:
			if role != RoleAll && len(c.Kafka.Brokers) == 0 {
				add("TRACKSTREAM_KAFKA_BROKERS: required for the %s role (comma-separated host:port list)", role)
			}
			for _, b := range c.Kafka.Brokers {
				if _, _, err := net.SplitHostPort(b); err != nil {
					add("TRACKSTREAM_KAFKA_BROKERS: %q is not host:port", b)
				}
			}
			if c.Kafka.Partitions < 1 || c.Kafka.Partitions > 10_000 {
				add("TRACKSTREAM_KAFKA_PARTITIONS: %d is out of range 1-10000", c.Kafka.Partitions)
			}
			if c.Kafka.ReplicationFactor < 1 || c.Kafka.ReplicationFactor > 32 {
				add("TRACKSTREAM_KAFKA_REPLICATION_FACTOR: %d is out of range 1-32", c.Kafka.ReplicationFactor)
			}
		case secClickHouse:
			if c.ClickHouse.DSN == "" && c.ClickHouse.CHDBLib == "" {
				add("TRACKSTREAM_CHDB_LIB: required when TRACKSTREAM_CLICKHOUSE_DSN is empty")
			}
			if c.ClickHouse.DSN != "" && !strings.HasPrefix(c.ClickHouse.DSN, "clickhouse://") {
				add("TRACKSTREAM_CLICKHOUSE_DSN: must start with clickhouse:// (native protocol)")
			}
			checkPositive(&errs, "TRACKSTREAM_CLICKHOUSE_QUERY_TIMEOUT", c.ClickHouse.QueryTimeout)
		case secIngest:
			checkAddr(&errs, "TRACKSTREAM_INGEST_ADDR", c.Ingest.Addr)
			checkPositive(&errs, "TRACKSTREAM_INGEST_PRODUCE_TIMEOUT", c.Ingest.ProduceTimeout)
			checkRange(&errs, "TRACKSTREAM_INGEST_MAX_BODY_BYTES", c.Ingest.MaxBodyBytes, 1024, 64<<20)
			checkRange(&errs, "TRACKSTREAM_INGEST_MAX_EVENTS", c.Ingest.MaxEvents, 1, 10_000)
			checkRange(&errs, "TRACKSTREAM_INGEST_MAX_BUFFERED_BYTES", c.Ingest.MaxBufferedBytes, 1<<20, 4<<30)
		case secProcessor:
			if c.Processor.Group == "" {
				add("TRACKSTREAM_PROCESSOR_GROUP: must not be empty")
			}
			checkRange(&errs, "TRACKSTREAM_PROCESSOR_BATCH_ROWS", c.Processor.BatchRows, 1, 1_000_000)
			checkPositive(&errs, "TRACKSTREAM_PROCESSOR_BATCH_AGE", c.Processor.BatchAge)
		case secAdmin:
			checkAddr(&errs, "TRACKSTREAM_ADMIN_ADDR", c.Admin.Addr)
			checkPositive(&errs, "TRACKSTREAM_ADMIN_SESSION_TTL", c.Admin.SessionTTL)
		}
	}
	if role == RoleAll {
		seen := map[string]string{}
		for name, addr := range map[string]string{"TRACKSTREAM_INGEST_ADDR": c.Ingest.Addr, "TRACKSTREAM_ADMIN_ADDR": c.Admin.Addr, "TRACKSTREAM_OPS_ADDR": c.OpsAddr} {
			_, port, err := net.SplitHostPort(addr)
			if err != nil || port == "0" {
				continue
			}
			if other, dup := seen[port]; dup {
				add("%s and %s: both use port %s", other, name, port)
			}
			seen[port] = name
		}
	}
	return errors.Join(errs...)
}

func checkAddr(errs *[]error, name, addr string) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		*errs = append(*errs, fmt.Errorf("%s: %q is not host:port (%v)", name, addr, err))
	}
}

func checkPositive(errs *[]error, name string, d time.Duration) {
	if d <= 0 {
		*errs = append(*errs, fmt.Errorf("%s: %s must be positive", name, d))
	}
}

func checkRange(errs *[]error, name string, v, lo, hi int) {
	if v < lo || v > hi {
		*errs = append(*errs, fmt.Errorf("%s: %d is out of range %d-%d", name, v, lo, hi))
	}
}
