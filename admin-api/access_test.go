package adminapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/config"
)

func TestAccessNetworkChecks(t *testing.T) {
	cfg := config.Default().Admin
	cfg.AllowCIDRs = []string{"10.0.0.0/8", "2001:db8::/32"}
	cfg.TrustedProxies = []string{"192.168.1.10", "192.168.1.11"}
	cfg.AllowedHosts = []string{"example.com"} // httptest.NewRequest's host
	a, err := newAccess(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var seen string
	h := a.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = clientIPFrom(r.Context()).String()
	}))
	for _, tc := range []struct {
		name, peer string
		headers    map[string]string
		want       int
		code, ip   string
	}{
		{"allowed peer", "10.1.2.3:5000", nil, 200, "", "10.1.2.3"},
		{"allowed IPv6 peer", "[2001:db8::7]:5000", nil, 200, "", "2001:db8::7"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:5000", nil, 200, "", "10.1.2.3"},
		{"peer outside the allowlist", "203.0.113.9:5000", nil, 403, "forbidden_network", ""},
		{"spoofed X-Forwarded-For from an untrusted peer", "10.1.2.3:5000", map[string]string{"X-Forwarded-For": "10.9.9.9"}, 403, "untrusted_proxy", ""},
		{"spoofed X-Real-IP from an outside peer", "203.0.113.9:5000", map[string]string{"X-Real-Ip": "10.9.9.9"}, 403, "untrusted_proxy", ""},
		{"spoofed Forwarded", "10.1.2.3:5000", map[string]string{"Forwarded": "for=10.9.9.9"}, 403, "untrusted_proxy", ""},
		{"trusted proxy forwards an allowed client", "192.168.1.10:443", map[string]string{"X-Forwarded-For": "10.4.4.4"}, 200, "", "10.4.4.4"},
		{"trusted proxy forwards an outside client", "192.168.1.10:443", map[string]string{"X-Forwarded-For": "203.0.113.9"}, 403, "forbidden_network", ""},
		{"client-supplied entry left of the real one is ignored", "192.168.1.10:443", map[string]string{"X-Forwarded-For": "10.6.6.6, 203.0.113.9"}, 403, "forbidden_network", ""},
		{"chain of trusted proxies", "192.168.1.10:443", map[string]string{"X-Forwarded-For": "10.4.4.4, 192.168.1.11"}, 200, "", "10.4.4.4"},
		{"garbage X-Forwarded-For from a trusted proxy", "192.168.1.10:443", map[string]string{"X-Forwarded-For": "' OR 1=1"}, 400, "invalid_forwarded_for", ""},
		{"trusted proxy itself outside the allowlist", "192.168.1.10:443", nil, 403, "forbidden_network", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen = ""
			req := httptest.NewRequest("GET", "/api/v1/auth/me", nil)
			req.RemoteAddr = tc.peer
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want || !strings.Contains(rec.Body.String(), tc.code) {
				t.Fatalf("got %d %s, want %d %s", rec.Code, rec.Body.String(), tc.want, tc.code)
			}
			if seen != tc.ip {
				t.Fatalf("client IP %q, want %q", seen, tc.ip)
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Strict-Transport-Security") != "" {
				t.Fatalf("security headers: %v", rec.Header())
			}
		})
	}
}

func TestCORS(t *testing.T) {
	cfg := config.Default().Admin
	cfg.CORSOrigins = []string{"https://gui.example.com"}
	cfg.AllowedHosts = []string{"api.internal"}
	a, err := newAccess(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := a.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) }))
	for _, tc := range []struct {
		name, method, origin string
		preflight            bool
		want                 int
		allowOrigin          string
	}{
		{"no origin (curl)", "GET", "", false, 299, ""},
		{"configured GUI origin", "GET", "https://gui.example.com", false, 299, "https://gui.example.com"},
		{"preflight from the GUI", "OPTIONS", "https://GUI.example.com", true, 204, "https://GUI.example.com"},
		{"same origin", "POST", "http://api.internal:8081", false, 299, "http://api.internal:8081"},
		{"other origin", "POST", "https://evil.example", false, 403, ""},
		{"preflight from another origin", "OPTIONS", "https://evil.example", true, 403, ""},
		{"look-alike origin", "GET", "https://gui.example.com.evil.example", false, 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://api.internal:8081/api/v1/sources", nil)
			req.RemoteAddr = "127.0.0.1:4000"
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.preflight {
				req.Header.Set("Access-Control-Request-Method", "PATCH")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want || rec.Header().Get("Access-Control-Allow-Origin") != tc.allowOrigin {
				t.Fatalf("got %d, Allow-Origin %q; want %d %q", rec.Code, rec.Header().Get("Access-Control-Allow-Origin"), tc.want, tc.allowOrigin)
			}
			if tc.preflight && tc.want == 204 && !strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
				t.Fatalf("preflight headers: %v", rec.Header())
			}
		})
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "trackstream test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLS(t *testing.T) {
	cfg := testConfig()
	var pool *x509.CertPool
	cfg.TLSCert, cfg.TLSKey, pool = writeCert(t)
	e := start(t, newCluster(t), cfg, nil)
	if !e.srv.TLS() {
		t.Fatal("TLS not enabled by the configured files")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.srv.Serve(ln) }()
	t.Cleanup(func() { _ = e.srv.Shutdown(context.Background()) })
	url := "https://" + ln.Addr().String() + "/api/v1/openapi.json"
	client := func(maxVersion uint16) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: maxVersion},
		}}
	}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		if resp, err := client(v).Get(url); err == nil {
			resp.Body.Close()
			t.Fatalf("%s accepted", tls.VersionName(v))
		} else if !strings.Contains(err.Error(), "protocol version") {
			t.Fatalf("%s: refused for another reason: %v", tls.VersionName(v), err)
		}
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		resp, err := client(v).Get(url)
		if err != nil {
			t.Fatalf("%s refused: %v", tls.VersionName(v), err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
			t.Fatalf("%s: %d, HSTS %q", tls.VersionName(v), resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
		}
	}
	if resp, err := http.Get("http://" + ln.Addr().String() + "/api/v1/openapi.json"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP answered on the TLS listener")
		}
	}
}

func TestTLSFilesMissing(t *testing.T) {
	cfg := testConfig()
	cfg.TLSCert, cfg.TLSKey = "/nonexistent/cert.pem", "/nonexistent/key.pem"
	_, err := loadTLS(cfg)
	if err == nil || !strings.Contains(err.Error(), "TRACKSTREAM_ADMIN_TLS_CERT") {
		t.Fatalf("got %v", err)
	}
}

// TestSpoofedProxyHeaderOverHTTP is the same refusal end to end on a real
// socket.
func TestSpoofedProxyHeaderOverHTTP(t *testing.T) {
	e := newEnv(t)
	r := e.call("POST", "/api/v1/auth/login", "", `{"username":"admin","password":"`+strong+`"}`, "X-Forwarded-For: 10.0.0.1")
	if r.code != http.StatusForbidden || r.body["error"] != "untrusted_proxy" {
		t.Fatalf("got %d %s", r.code, r.raw)
	}
}

// DNS rebinding (security probe F9): a page on rebind.attacker.example
// whose name now resolves to the admin listener sends requests with its
// own name as Host and as same-origin Origin. They get 421 on every
// route, authenticated or not; the names the API is really reached by
// still work.
func TestDNSRebindingRefused(t *testing.T) {
	cfg := testConfig()
	cfg.AllowedHosts = []string{"Admin.Example.com"}
	e := start(t, newCluster(t), cfg, nil)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(e.url, "http://"))
	send := func(method, path, host, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		req.Header.Set("Origin", "http://"+host)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	login := `{"username":"admin","password":"wrong-password-1"}`
	for _, host := range []string{"rebind.attacker.example:" + port, "rebind.attacker.example", "localhost.attacker.example:" + port, "127.0.0.1.attacker.example:" + port} {
		for _, rq := range [][2]string{{"POST", "/api/v1/auth/login"}, {"GET", "/api/v1/openapi.json"}, {"GET", "/ui/"}} {
			code, body := send(rq[0], rq[1], host, login)
			if code != http.StatusMisdirectedRequest || !strings.Contains(body, "host_not_allowed") || !strings.Contains(body, "TRACKSTREAM_ADMIN_ALLOWED_HOSTS") {
				t.Errorf("%s %s with Host %s: %d %s, want 421 host_not_allowed naming the setting", rq[0], rq[1], host, code, body)
			}
		}
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "gui.localhost:" + port, "[::1]:" + port, "admin.example.com:" + port, "ADMIN.example.com.:" + port} {
		if code, body := send("GET", "/api/v1/openapi.json", host, ""); code != http.StatusOK {
			t.Errorf("openapi.json with Host %s: %d %s, want 200 (the host is accepted)", host, code, body)
		}
	}
}
