package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// field binds one configuration value to its flag and environment variable.
type field struct {
	flag    string
	section section
	secret  bool
	help    string
	value   flag.Value
}

// Env is the environment variable of the field: TRACKSTREAM_ plus the flag
// name upper-cased with dashes as underscores.
func (f field) env() string {
	return "TRACKSTREAM_" + strings.ToUpper(strings.ReplaceAll(f.flag, "-", "_"))
}

func fields(c *Config) []field {
	return []field{
		{"data-dir", secCommon, false, "directory for the embedded broker, embedded ClickHouse and the admin password hash", (*stringValue)(&c.DataDir)},
		{"log-format", secCommon, false, "log format: json or text", (*stringValue)(&c.LogFormat)},
		{"log-level", secCommon, false, "log level: debug, info, warn or error", (*stringValue)(&c.LogLevel)},
		{"ops-addr", secCommon, false, "listener for /metrics, /healthz and /readyz", (*stringValue)(&c.OpsAddr)},
		{"shutdown-timeout", secCommon, false, "bound on the whole graceful stop", (*durationValue)(&c.ShutdownTimeout)},

		{"kafka-brokers", secKafka, false, "comma-separated Kafka seed brokers (host:port); ignored by the all role", (*listValue)(&c.Kafka.Brokers)},
		{"kafka-partitions", secKafka, false, "partitions of trackstream.events when trackstream creates it", (*intValue)(&c.Kafka.Partitions)},
		{"kafka-replication-factor", secKafka, false, "replication factor of the topics trackstream creates", (*intValue)(&c.Kafka.ReplicationFactor)},
		{"embedded-kafka-port", secEmbedded, false, "loopback port of the embedded Kafka-protocol broker (all role)", (*intValue)(&c.Kafka.EmbeddedPort)},

		{"clickhouse-dsn", secClickHouse, true, "ClickHouse server DSN (clickhouse://user:pass@host:9000); empty uses embedded chDB", (*stringValue)(&c.ClickHouse.DSN)},
		{"chdb-lib", secClickHouse, false, "path to libchdb.so for the embedded ClickHouse engine", (*stringValue)(&c.ClickHouse.CHDBLib)},
		{"clickhouse-query-timeout", secClickHouse, false, "bound on every admin query", (*durationValue)(&c.ClickHouse.QueryTimeout)},

		{"ingest-addr", secIngest, false, "public collector listener", (*stringValue)(&c.Ingest.Addr)},
		{"ingest-produce-timeout", secIngest, false, "how long a request waits for Kafka's ack before 503", (*durationValue)(&c.Ingest.ProduceTimeout)},
		{"ingest-max-body-bytes", secIngest, false, "maximum request body in bytes", (*intValue)(&c.Ingest.MaxBodyBytes)},
		{"ingest-max-events", secIngest, false, "maximum events in one request", (*intValue)(&c.Ingest.MaxEvents)},
		{"ingest-max-buffered-bytes", secIngest, false, "producer buffer bound in bytes; beyond it requests get 503", (*intValue)(&c.Ingest.MaxBufferedBytes)},

		{"processor-group", secProcessor, false, "Kafka consumer group of the processors", (*stringValue)(&c.Processor.Group)},
		{"processor-batch-rows", secProcessor, false, "rows that flush a ClickHouse insert", (*intValue)(&c.Processor.BatchRows)},
		{"processor-batch-age", secProcessor, false, "age of a batch's first row that flushes it", (*durationValue)(&c.Processor.BatchAge)},

		{"admin-addr", secAdmin, false, "internal admin API listener (keep it off the internet)", (*stringValue)(&c.Admin.Addr)},
		{"admin-password", secAdmin, true, "admin password; empty uses the stored hash or generates one on first start", (*stringValue)(&c.Admin.Password)},
		{"admin-session-ttl", secAdmin, false, "lifetime of a login token", (*durationValue)(&c.Admin.SessionTTL)},
	}
}

// Load builds the configuration of role from the defaults, then the
// environment (lookup, normally os.LookupEnv), then args as flags. Every
// malformed value is reported; Validate is called last.
func Load(role Role, args []string, lookup func(string) (string, bool)) (Config, error) {
	cfg := Default()
	fs := flag.NewFlagSet("trackstream "+string(role), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var errs []error
	for _, f := range roleFields(role, &cfg) {
		if v, ok := lookup(f.env()); ok {
			if err := f.value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.env(), err))
			}
		}
		if !f.secret { // secrets stay out of the process's argument list
			fs.Var(f.value, f.flag, f.help)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		errs = append(errs, err)
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " ")))
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate(role)
}

func roleFields(role Role, cfg *Config) []field {
	want := map[section]bool{}
	for _, s := range sectionsFor(role) {
		want[s] = true
	}
	var out []field
	for _, f := range fields(cfg) {
		if want[f.section] {
			out = append(out, f)
		}
	}
	return out
}

// Usage writes the flags and environment variables of role with their
// defaults.
func Usage(w io.Writer, role Role) {
	def := Default()
	for _, f := range roleFields(role, &def) {
		if f.secret {
			fmt.Fprintf(w, "  %s (environment only)\n      %s\n", f.env(), f.help)
			continue
		}
		fmt.Fprintf(w, "  -%s (%s)\n      %s (default %q)\n", f.flag, f.env(), f.help, f.value.String())
	}
}

// Describe writes the effective configuration of role, one line per field,
// with secrets shown only as set or unset.
func (c Config) Describe(w io.Writer, role Role) {
	for _, f := range roleFields(role, &c) {
		v := f.value.String()
		if f.secret {
			v = "(unset)"
			if f.value.String() != "" {
				v = "(set)"
			}
		}
		fmt.Fprintf(w, "%-40s %s\n", f.env(), v)
	}
}

type stringValue string

func (s *stringValue) String() string     { return string(*s) }
func (s *stringValue) Set(v string) error { *s = stringValue(strings.TrimSpace(v)); return nil }

type intValue int

func (i *intValue) String() string { return strconv.Itoa(int(*i)) }
func (i *intValue) Set(v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not an integer", v)
	}
	*i = intValue(n)
	return nil
}

type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }
func (d *durationValue) Set(v string) error {
	p, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 500ms, 5s or 1m", v)
	}
	*d = durationValue(p)
	return nil
}

type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }
func (l *listValue) Set(v string) error {
	*l = nil
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
