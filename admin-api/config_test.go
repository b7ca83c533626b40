package adminapi

import (
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/config"
)

func TestAdminConfig(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	base := map[string]string{"TRACKSTREAM_KAFKA_BROKERS": "127.0.0.1:9092", "TRACKSTREAM_ADMIN_STATE_KEY": string(testStateKey)}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cfg, err := config.Load(config.Set{config.RoleAdmin}, nil, env(base))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Admin
	if a.Addr != "127.0.0.1:8081" || a.SessionIdleTTL != time.Hour || a.LoginFreeAttempts != 5 || len(a.AllowCIDRs) == 0 || a.TLSCert != "" {
		t.Fatalf("defaults: %+v", a)
	}
	cfg, err = config.Load(config.Set{config.RoleAdmin}, []string{"-admin-cors-origins", "https://gui.example.com"}, env(with(
		"TRACKSTREAM_ADMIN_ALLOW_CIDRS", "10.0.0.0/8, 192.168.1.7",
		"TRACKSTREAM_ADMIN_TRUSTED_PROXIES", "10.0.0.1",
		"TRACKSTREAM_ADMIN_SESSION_IDLE_TTL", "10m",
	)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Admin.AllowCIDRs, "|") != "10.0.0.0/8|192.168.1.7" || cfg.Admin.CORSOrigins[0] != "https://gui.example.com" || cfg.Admin.SessionIdleTTL != 10*time.Minute {
		t.Fatalf("loaded: %+v", cfg.Admin)
	}
	for _, tc := range []struct {
		kv   []string
		want string
	}{
		{[]string{"TRACKSTREAM_ADMIN_TLS_CERT", "/etc/cert.pem"}, "set both or neither"},
		{[]string{"TRACKSTREAM_ADMIN_ALLOW_CIDRS", ""}, "at least one network"},
		{[]string{"TRACKSTREAM_ADMIN_ALLOW_CIDRS", "10.0.0.0/33"}, "not a network"},
		{[]string{"TRACKSTREAM_ADMIN_TRUSTED_PROXIES", "proxy.local"}, "TRACKSTREAM_ADMIN_TRUSTED_PROXIES"},
		{[]string{"TRACKSTREAM_ADMIN_CORS_ORIGINS", "gui.example.com"}, "not an origin"},
		{[]string{"TRACKSTREAM_ADMIN_CORS_ORIGINS", "https://gui.example.com/app"}, "not an origin"},
		{[]string{"TRACKSTREAM_ADMIN_SESSION_IDLE_TTL", "24h"}, "longer than"},
		{[]string{"TRACKSTREAM_ADMIN_LOGIN_FREE_ATTEMPTS", "0"}, "TRACKSTREAM_ADMIN_LOGIN_FREE_ATTEMPTS"},
		{[]string{"TRACKSTREAM_ADMIN_LOGIN_LOCKOUT_ATTEMPTS", "2"}, "TRACKSTREAM_ADMIN_LOGIN_LOCKOUT_ATTEMPTS"},
		{[]string{"TRACKSTREAM_ADMIN_LOGIN_LOCKOUT", "0s"}, "TRACKSTREAM_ADMIN_LOGIN_LOCKOUT"},
	} {
		_, err := config.Load(config.Set{config.RoleAdmin}, nil, env(with(tc.kv...)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error mentioning %q", tc.kv, err, tc.want)
		}
	}
}
