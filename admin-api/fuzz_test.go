package adminapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/trackstream/trackstream/internal/config"
)

// FuzzParseCursor: a cursor comes from the client; it must parse to
// non-negative offsets or be refused, and a parsed one must round-trip.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "0:12", "0:1,1:2", "0:-1", "x", "0:1,,", "2147483648:1", "0:9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseCursor(s)
		if err != nil {
			return
		}
		for p, o := range m {
			if p < 0 || o < 0 {
				t.Fatalf("%q parsed to %d:%d", s, p, o)
			}
		}
		again, err := parseCursor(formatCursor(m))
		if err != nil || len(again) != len(m) {
			t.Fatalf("%q: round trip %v -> %q -> %v, %v", s, m, formatCursor(m), again, err)
		}
	})
}

// FuzzClientIP: X-Forwarded-For from a trusted proxy is untrusted text; the
// client address found must be one the header or the peer named, and a
// peer that is not a trusted proxy must never be replaced.
func FuzzClientIP(f *testing.F) {
	for _, s := range []string{"10.1.1.1", "10.1.1.1, 192.168.1.10", "' OR 1=1 --", "::1", "1.2.3.4,,", strings.Repeat("1.1.1.1,", 50)} {
		f.Add(s, true)
	}
	cfg := config.Default().Admin
	cfg.TrustedProxies = []string{"192.168.1.10"}
	a, err := newAccess(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, xff string, fromProxy bool) {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = "10.9.9.9:1"
		if fromProxy {
			req.RemoteAddr = "192.168.1.10:1"
		}
		req.Header.Set("X-Forwarded-For", xff)
		ip, aerr := a.clientIP(req)
		switch {
		case !fromProxy:
			if aerr == nil || aerr.Code != "untrusted_proxy" {
				t.Fatalf("header from an untrusted peer accepted: %v %v", ip, aerr)
			}
		case aerr == nil && ip.String() != "192.168.1.10" && !strings.Contains(xff, ip.String()) && !strings.Contains(xff, ip.StringExpanded()):
			t.Fatalf("client %s appears nowhere in %q", ip, xff)
		}
	})
}
