package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Half-made Kafka security settings fail the start with the variable to
// fix; complete ones load.
func TestKafkaSecuritySettings(t *testing.T) {
	pw := writeFile(t, "pw", "secret\n")
	ca := writeFile(t, "ca.pem", "pem")
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // "" means valid
	}{
		{"none", nil, ""},
		{"scram with password", map[string]string{"TRACKSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "TRACKSTREAM_KAFKA_SASL_USERNAME": "u", "TRACKSTREAM_KAFKA_SASL_PASSWORD": "p"}, ""},
		{"plain with password file and TLS", map[string]string{"TRACKSTREAM_KAFKA_SASL_MECHANISM": "PLAIN", "TRACKSTREAM_KAFKA_SASL_USERNAME": "u", "TRACKSTREAM_KAFKA_SASL_PASSWORD_FILE": pw, "TRACKSTREAM_KAFKA_TLS_CA_FILE": ca}, ""},
		{"user without password", map[string]string{"TRACKSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "TRACKSTREAM_KAFKA_SASL_USERNAME": "u"}, "TRACKSTREAM_KAFKA_SASL_PASSWORD or TRACKSTREAM_KAFKA_SASL_PASSWORD_FILE: required"},
		{"password without user", map[string]string{"TRACKSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "TRACKSTREAM_KAFKA_SASL_PASSWORD": "p"}, "TRACKSTREAM_KAFKA_SASL_USERNAME: required"},
		{"both passwords", map[string]string{"TRACKSTREAM_KAFKA_SASL_MECHANISM": "PLAIN", "TRACKSTREAM_KAFKA_SASL_USERNAME": "u", "TRACKSTREAM_KAFKA_SASL_PASSWORD": "p", "TRACKSTREAM_KAFKA_SASL_PASSWORD_FILE": pw}, "set one, not both"},
		{"user without mechanism", map[string]string{"TRACKSTREAM_KAFKA_SASL_USERNAME": "u", "TRACKSTREAM_KAFKA_SASL_PASSWORD": "p"}, "TRACKSTREAM_KAFKA_SASL_MECHANISM: required"},
		{"unknown mechanism", map[string]string{"TRACKSTREAM_KAFKA_SASL_MECHANISM": "GSSAPI", "TRACKSTREAM_KAFKA_SASL_USERNAME": "u", "TRACKSTREAM_KAFKA_SASL_PASSWORD": "p"}, `"GSSAPI" is not PLAIN`},
		{"unreadable CA", map[string]string{"TRACKSTREAM_KAFKA_TLS_CA_FILE": missing}, "TRACKSTREAM_KAFKA_TLS_CA_FILE: open " + missing},
		{"unreadable password file", map[string]string{"TRACKSTREAM_KAFKA_SASL_MECHANISM": "PLAIN", "TRACKSTREAM_KAFKA_SASL_USERNAME": "u", "TRACKSTREAM_KAFKA_SASL_PASSWORD_FILE": missing}, "TRACKSTREAM_KAFKA_SASL_PASSWORD_FILE: open"},
		{"cert without key", map[string]string{"TRACKSTREAM_KAFKA_TLS_CERT_FILE": ca}, "TRACKSTREAM_KAFKA_TLS_CERT_FILE and TRACKSTREAM_KAFKA_TLS_KEY_FILE: set both or neither"},
		{"bad bool", map[string]string{"TRACKSTREAM_KAFKA_TLS": "yes please"}, `TRACKSTREAM_KAFKA_TLS: "yes please" is not true or false`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{"TRACKSTREAM_KAFKA_BROKERS": "127.0.0.1:9092"}
			for k, v := range tc.env {
				e[k] = v
			}
			cfg, err := Load(Set{RoleIngest}, nil, env(e))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid settings refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			var b strings.Builder
			cfg.Describe(&b, Set{RoleIngest})
			if strings.Contains(b.String(), "TRACKSTREAM_KAFKA_SASL_PASSWORD          p") {
				t.Fatal("Describe shows the SASL password")
			}
		})
	}
	if _, err := Load(Set{RoleIngest}, []string{"-kafka-tls"}, env(map[string]string{"TRACKSTREAM_KAFKA_BROKERS": "127.0.0.1:9092"})); err != nil {
		t.Fatalf("-kafka-tls as a bare flag: %v", err)
	}
}

// admin-api outside the all role refuses to start without the key that
// signs its state records; all generates its own.
func TestAdminStateKeyRequiredOutsideAll(t *testing.T) {
	base := map[string]string{"TRACKSTREAM_KAFKA_BROKERS": "127.0.0.1:9092"}
	if _, err := Load(Set{RoleAdmin}, nil, env(base)); err == nil || !strings.Contains(err.Error(), "TRACKSTREAM_ADMIN_STATE_KEY_FILE: required for the admin-api role") {
		t.Fatalf("admin-api without a state key: %v", err)
	}
	if _, err := Load(Set{RoleProcessor, RoleAdmin}, nil, env(base)); err == nil || !strings.Contains(err.Error(), "TRACKSTREAM_ADMIN_STATE_KEY_FILE: required") {
		t.Fatalf("processor,admin-api without a state key: %v", err)
	}
	if _, err := Load(Set{RoleAll}, nil, env(nil)); err != nil {
		t.Fatalf("all without a state key: %v", err)
	}
	short := map[string]string{"TRACKSTREAM_KAFKA_BROKERS": "127.0.0.1:9092", "TRACKSTREAM_ADMIN_STATE_KEY": "short"}
	if _, err := Load(Set{RoleAdmin}, nil, env(short)); err == nil || !strings.Contains(err.Error(), "TRACKSTREAM_ADMIN_STATE_KEY: 5 bytes") {
		t.Fatalf("a short state key: %v", err)
	}
	ok := map[string]string{"TRACKSTREAM_KAFKA_BROKERS": "127.0.0.1:9092", "TRACKSTREAM_ADMIN_STATE_KEY": strings.Repeat("k", 32)}
	if _, err := Load(Set{RoleAdmin}, nil, env(ok)); err != nil {
		t.Fatalf("a 32-byte state key: %v", err)
	}
}
