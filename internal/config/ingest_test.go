package config

import (
	"strings"
	"testing"
	"time"
)

func TestIngestSettings(t *testing.T) {
	cfg, err := Load(Set{RoleIngest}, []string{
		"-ingest-path-aliases", "/e=/track, /b=/v1/batch",
		"-ingest-trusted-proxies", "10.0.0.0/8,192.0.2.1",
		"-ingest-drain-delay", "0s",
	}, env(map[string]string{
		"TRACKSTREAM_KAFKA_BROKERS":            "a:1",
		"TRACKSTREAM_INGEST_MAX_DECODED_BYTES": "65536",
		"TRACKSTREAM_INGEST_LATE_AFTER":        "72h",
		"TRACKSTREAM_INGEST_MAX_PROPERTIES":    "50",
		"TRACKSTREAM_INGEST_PROXY_HEADER":      "X-Real-IP",
	}))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Ingest
	if strings.Join(c.PathAliases, "|") != "/e=/track|/b=/v1/batch" || strings.Join(c.TrustedProxies, "|") != "10.0.0.0/8|192.0.2.1" ||
		c.DrainDelay != 0 || c.MaxDecodedBytes != 65536 || c.LateAfter != 72*time.Hour || c.MaxProperties != 50 || c.ProxyHeader != "X-Real-IP" {
		t.Fatalf("settings not applied: %+v", c)
	}
}

func TestIngestValidation(t *testing.T) {
	for _, tc := range []struct {
		name, variable, value string
	}{
		{"alias without =", "TRACKSTREAM_INGEST_PATH_ALIASES", "/e"},
		{"alias not a path", "TRACKSTREAM_INGEST_PATH_ALIASES", "e=/track"},
		{"proxy not an address", "TRACKSTREAM_INGEST_TRUSTED_PROXIES", "proxy.internal"},
		{"depth too small", "TRACKSTREAM_INGEST_MAX_DEPTH", "1"},
		{"event bytes zero", "TRACKSTREAM_INGEST_MAX_EVENT_BYTES", "0"},
		{"retry after under a second", "TRACKSTREAM_INGEST_RETRY_AFTER", "100ms"},
		{"negative drain", "TRACKSTREAM_INGEST_DRAIN_DELAY", "-1s"},
		{"unknown compression", "TRACKSTREAM_INGEST_PRODUCER_COMPRESSION", "brotli"},
		{"negative linger", "TRACKSTREAM_INGEST_PRODUCER_LINGER", "-1ms"},
		{"empty proxy header", "TRACKSTREAM_INGEST_PROXY_HEADER", " "},
		{"no connections", "TRACKSTREAM_INGEST_MAX_CONNS", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(Set{RoleIngest}, nil, env(map[string]string{"TRACKSTREAM_KAFKA_BROKERS": "a:1", tc.variable: tc.value}))
			if err == nil || !strings.Contains(err.Error(), tc.variable) {
				t.Fatalf("%s=%q: got %v, want an error naming %s", tc.variable, tc.value, err, tc.variable)
			}
		})
	}
}
