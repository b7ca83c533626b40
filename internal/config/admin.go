package config

import (
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Admin configures the internal admin API.
type Admin struct {
	// Addr is the admin listener. Default 127.0.0.1:8081 (loopback).
	Addr string
	// Password of the admin user. Checked against the password policy at
	// start. When empty, the stored hash is used, or on first start a strong
	// password is generated and printed once. Environment only.
	Password string
	// TLSCert and TLSKey are PEM files; with both set the listener speaks
	// only TLS (1.2 or newer) and answers with HSTS. Default unset (plain
	// HTTP, acceptable only on loopback).
	TLSCert string
	TLSKey  string
	// AllowCIDRs are the client networks allowed to reach the API; everyone
	// else gets 403. Default loopback and the private ranges.
	AllowCIDRs []string
	// TrustedProxies are the networks of reverse proxies whose
	// X-Forwarded-For is believed. A proxy header from any other peer is
	// refused with 403. Default none.
	TrustedProxies []string
	// AllowedHosts are the host names (without port) a request's Host
	// header may carry besides the ones always accepted: IP literals,
	// localhost and *.localhost, and the host of Addr. Any other Host gets
	// 421, so a DNS-rebinding page cannot reach the API through an
	// operator's browser. Default none; add the DNS name operators use.
	AllowedHosts []string
	// CORSOrigins are the GUI origins (scheme://host[:port]) a browser may
	// call the API from. Default none (same origin only).
	CORSOrigins []string
	// SessionTTL is the absolute lifetime of a login session. Default 12h.
	SessionTTL time.Duration
	// SessionIdleTTL ends a session that made no request for this long.
	// Default 1h.
	SessionIdleTTL time.Duration
	// LoginFreeAttempts is how many failed logins an account or client IP
	// may make before each further attempt must wait a growing delay
	// (1s, 2s, 4s, ...). Default 5.
	LoginFreeAttempts int
	// LoginLockoutAttempts is the number of failed logins after which the
	// account (or client IP, at 4x this number) is locked out for
	// LoginLockout. Default 10.
	LoginLockoutAttempts int
	// LoginLockout is how long a locked account or IP is refused. Default 15m.
	LoginLockout time.Duration
	// CollectorURL is the public collector's base URL
	// (https://collect.example.com), shown in the GUI's install snippets.
	// Default empty: the ingest listener of the same process, when it has a
	// fixed port.
	CollectorURL string
	// StateKeyFile is a file holding the key (32 bytes or more) that signs
	// and checks the admin state records in trackstream.admin, so whoever
	// can write that topic cannot forge a user, session or token. Every
	// admin-api replica must use the same key. Required for the admin-api
	// role (this or StateKey); the all role keeps a generated key in
	// <data dir>/admin-state.key unless one is set.
	StateKeyFile string
	// StateKey is the key itself (environment only), for secret stores
	// that hand out variables rather than files. Set it or StateKeyFile.
	StateKey string
}

func defaultAdmin() Admin {
	return Admin{
		Addr: "127.0.0.1:8081",
		// Loopback and the private ranges (RFC 1918, RFC 4193).
		AllowCIDRs:           []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"},
		SessionTTL:           12 * time.Hour,
		SessionIdleTTL:       time.Hour,
		LoginFreeAttempts:    5,
		LoginLockoutAttempts: 10,
		LoginLockout:         15 * time.Minute,
	}
}

func (c *Admin) fields() []field {
	return []field{
		{"admin-addr", secAdmin, false, "internal admin API listener (keep it off the internet)", (*stringValue)(&c.Addr)},
		{"admin-password", secAdmin, true, "admin password; empty uses the stored hash or generates one on first start", (*stringValue)(&c.Password)},
		{"admin-tls-cert", secAdmin, false, "PEM certificate file; with -admin-tls-key the admin listener serves TLS 1.2+ only, with HSTS", (*stringValue)(&c.TLSCert)},
		{"admin-tls-key", secAdmin, false, "PEM private key file of -admin-tls-cert", (*stringValue)(&c.TLSKey)},
		{"admin-allow-cidrs", secAdmin, false, "comma-separated client networks allowed to reach the admin API; others get 403", (*listValue)(&c.AllowCIDRs)},
		{"admin-trusted-proxies", secAdmin, false, "comma-separated networks of reverse proxies whose X-Forwarded-For is believed; proxy headers from other peers get 403", (*listValue)(&c.TrustedProxies)},
		{"admin-allowed-hosts", secAdmin, false, "comma-separated DNS names the admin API is reached by (Host header); IP literals, localhost and the host of -admin-addr are always accepted, other hosts get 421", (*listValue)(&c.AllowedHosts)},
		{"admin-cors-origins", secAdmin, false, "comma-separated GUI origins (https://gui.example.com) allowed to call the API from a browser", (*listValue)(&c.CORSOrigins)},
		{"admin-session-ttl", secAdmin, false, "absolute lifetime of a login session", (*durationValue)(&c.SessionTTL)},
		{"admin-session-idle-ttl", secAdmin, false, "a session unused for this long ends", (*durationValue)(&c.SessionIdleTTL)},
		{"admin-login-free-attempts", secAdmin, false, "failed logins per account or IP before growing delays start", (*intValue)(&c.LoginFreeAttempts)},
		{"admin-login-lockout-attempts", secAdmin, false, "failed logins that lock an account (an IP at 4x) for -admin-login-lockout", (*intValue)(&c.LoginLockoutAttempts)},
		{"admin-login-lockout", secAdmin, false, "how long a locked account or IP is refused", (*durationValue)(&c.LoginLockout)},
		{"admin-state-key-file", secAdmin, false, "file holding the key (32+ bytes, e.g. openssl rand -base64 48) that signs the admin state records in trackstream.admin; every admin-api replica uses the same; required for admin-api (or TRACKSTREAM_ADMIN_STATE_KEY), all keeps a generated one in the data dir", (*stringValue)(&c.StateKeyFile)},
		{"admin-state-key", secAdmin, true, "the admin state signing key itself, instead of -admin-state-key-file", (*stringValue)(&c.StateKey)},
		{"admin-collector-url", secAdmin, false, "public collector base URL shown in the GUI's install snippets; empty: this process's ingest listener", (*stringValue)(&c.CollectorURL)},
	}
}

func (c Admin) validate(errs *[]error) {
	checkAddr(errs, "TRACKSTREAM_ADMIN_ADDR", c.Addr)
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errorf(errs, "TRACKSTREAM_ADMIN_TLS_CERT and TRACKSTREAM_ADMIN_TLS_KEY: set both or neither")
	}
	if len(c.AllowCIDRs) == 0 {
		errorf(errs, "TRACKSTREAM_ADMIN_ALLOW_CIDRS: must list at least one network (e.g. 127.0.0.0/8)")
	}
	checkPrefixes(errs, "TRACKSTREAM_ADMIN_ALLOW_CIDRS", c.AllowCIDRs)
	checkPrefixes(errs, "TRACKSTREAM_ADMIN_TRUSTED_PROXIES", c.TrustedProxies)
	for _, h := range c.AllowedHosts {
		if !isHostName(h) {
			errorf(errs, "TRACKSTREAM_ADMIN_ALLOWED_HOSTS: %q is not a host name such as admin.example.com (no scheme, no port)", h)
		}
	}
	for _, o := range c.CORSOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			errorf(errs, "TRACKSTREAM_ADMIN_CORS_ORIGINS: %q is not an origin such as https://gui.example.com", o)
		}
	}
	checkPositive(errs, "TRACKSTREAM_ADMIN_SESSION_TTL", c.SessionTTL)
	checkPositive(errs, "TRACKSTREAM_ADMIN_SESSION_IDLE_TTL", c.SessionIdleTTL)
	if c.SessionIdleTTL > c.SessionTTL {
		errorf(errs, "TRACKSTREAM_ADMIN_SESSION_IDLE_TTL: %s is longer than TRACKSTREAM_ADMIN_SESSION_TTL %s", c.SessionIdleTTL, c.SessionTTL)
	}
	checkRange(errs, "TRACKSTREAM_ADMIN_LOGIN_FREE_ATTEMPTS", c.LoginFreeAttempts, 1, 100)
	checkRange(errs, "TRACKSTREAM_ADMIN_LOGIN_LOCKOUT_ATTEMPTS", c.LoginLockoutAttempts, c.LoginFreeAttempts, 1000)
	checkPositive(errs, "TRACKSTREAM_ADMIN_LOGIN_LOCKOUT", c.LoginLockout)
	if c.CollectorURL != "" {
		u, err := url.Parse(c.CollectorURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
			errorf(errs, "TRACKSTREAM_ADMIN_COLLECTOR_URL: %q is not a base URL such as https://collect.example.com", c.CollectorURL)
		}
	}
}

// validateStateKey requires the admin state key where no data dir can
// hold a generated one that every replica shares: everywhere but the all
// role.
func (c Admin) validateStateKey(errs *[]error, roles Set) {
	switch {
	case c.StateKey != "" && c.StateKeyFile != "":
		errorf(errs, "TRACKSTREAM_ADMIN_STATE_KEY and TRACKSTREAM_ADMIN_STATE_KEY_FILE: set one, not both")
	case c.StateKey != "" && len(strings.TrimSpace(c.StateKey)) < 32:
		errorf(errs, "TRACKSTREAM_ADMIN_STATE_KEY: %d bytes, want at least 32 (e.g. openssl rand -base64 48)", len(strings.TrimSpace(c.StateKey)))
	case c.StateKey == "" && c.StateKeyFile == "" && !roles.Embedded():
		errorf(errs, "TRACKSTREAM_ADMIN_STATE_KEY_FILE: required for the %s role: the key that signs admin state records, the same file for every admin-api replica (make one with: openssl rand -base64 48 > admin-state.key; chmod 600 admin-state.key)", roles)
	}
	checkReadable(errs, "TRACKSTREAM_ADMIN_STATE_KEY_FILE", c.StateKeyFile)
}

// isHostName reports whether s is a DNS name: dot-separated labels of
// letters, digits, '-' and '_', each 1 to 63 bytes, at most 253 in all.
func isHostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// checkPrefixes checks that every entry is a CIDR (10.0.0.0/8) or a single
// address.
func checkPrefixes(errs *[]error, name string, list []string) {
	for _, s := range list {
		if _, err := ParsePrefix(s); err != nil {
			errorf(errs, "%s: %v", name, err)
		}
	}
}

// ParsePrefix parses a CIDR ("10.0.0.0/8") or a single address ("10.1.2.3",
// taken as /32 or /128).
func ParsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, &prefixError{s}
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

type prefixError struct{ s string }

func (e *prefixError) Error() string {
	return "\"" + e.s + "\" is not a network (10.0.0.0/8, fd00::/8) or an address"
}
