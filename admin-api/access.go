package adminapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/trackstream/trackstream/internal/config"
)

// access decides who may reach the API at all, before any authentication:
// the client IP must be in the allowlist, proxy headers are believed only
// from trusted proxies, the Host header must name the API (no DNS
// rebinding), and browsers may call only from configured origins.
type access struct {
	allow   []netip.Prefix
	proxies []netip.Prefix
	origins []string
	hosts   []string
	tls     bool
}

func newAccess(cfg config.Admin) (*access, error) {
	a := &access{origins: cfg.CORSOrigins, tls: cfg.TLSCert != ""}
	for _, s := range cfg.AllowCIDRs {
		p, err := config.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("TRACKSTREAM_ADMIN_ALLOW_CIDRS: %w", err)
		}
		a.allow = append(a.allow, p)
	}
	for _, s := range cfg.TrustedProxies {
		p, err := config.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("TRACKSTREAM_ADMIN_TRUSTED_PROXIES: %w", err)
		}
		a.proxies = append(a.proxies, p)
	}
	for _, h := range cfg.AllowedHosts {
		a.hosts = append(a.hosts, normalHost(h))
	}
	if host, _, err := net.SplitHostPort(cfg.Addr); err == nil && host != "" {
		a.hosts = append(a.hosts, normalHost(host))
	}
	for i, o := range a.origins {
		a.origins[i] = strings.TrimSuffix(strings.ToLower(o), "/")
	}
	return a, nil
}

func contains(list []netip.Prefix, ip netip.Addr) bool {
	for _, p := range list {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// clientIP is the caller's address: the socket peer, or, when the peer is a
// trusted proxy, the right-most X-Forwarded-For entry that is not itself a
// trusted proxy.
func (a *access) clientIP(r *http.Request) (netip.Addr, *apiError) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, errorf(http.StatusForbidden, "forbidden_network", "cannot tell the client address")
	}
	peer = peer.Unmap().WithZone("")
	if !contains(a.proxies, peer) {
		// Headers a reverse proxy uses to name the client: from an
		// untrusted peer any of them is a spoofing attempt.
		for _, h := range [...]string{"X-Forwarded-For", "X-Real-Ip", "Forwarded", "True-Client-Ip", "X-Client-Ip"} {
			if _, ok := r.Header[h]; ok {
				return peer, errorf(http.StatusForbidden, "untrusted_proxy", "%s sent by %s, which is not a trusted proxy (TRACKSTREAM_ADMIN_TRUSTED_PROXIES)", h, peer)
			}
		}
		return peer, nil
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, s := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(s))
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(hops[i])
		if err != nil {
			return peer, errorf(http.StatusBadRequest, "invalid_forwarded_for", "X-Forwarded-For entry %q is not an IP address", hops[i])
		}
		client = ip.Unmap()
		if !contains(a.proxies, client) {
			break
		}
	}
	return client, nil
}

type clientIPKey struct{}

// clientIPFrom is the address access resolved for the request.
func clientIPFrom(ctx context.Context) netip.Addr {
	ip, _ := ctx.Value(clientIPKey{}).(netip.Addr)
	return ip
}

// normalHost is a host name in the form hostAllowed compares: lower case,
// without the trailing dot of a fully qualified name.
func normalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// hostAllowed reports whether the Host header names this API: an IP
// literal, localhost or a name under .localhost (loopback by RFC 6761), the
// listen address's host or a configured name. A DNS-rebinding page reaches
// the listener under its own name, which is none of these. A request
// without Host (HTTP/1.0) cannot come from a browser and passes.
func (a *access) hostAllowed(hostport string) bool {
	if hostport == "" {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = normalHost(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	return slices.Contains(a.hosts, host)
}

// originAllowed reports whether a browser at origin may call the API: a
// configured GUI origin, or the API's own origin.
func (a *access) originAllowed(origin string, r *http.Request) bool {
	o := strings.ToLower(origin)
	if slices.Contains(a.origins, o) {
		return true
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return o == scheme+"://"+strings.ToLower(r.Host)
}

// wrap applies the network checks, CORS and security headers to next.
func (a *access) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if a.tls {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		ip, aerr := a.clientIP(r)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		if !contains(a.allow, ip) {
			writeError(w, errorf(http.StatusForbidden, "forbidden_network", "client %s is not in TRACKSTREAM_ADMIN_ALLOW_CIDRS", ip))
			return
		}
		if !a.hostAllowed(r.Host) {
			writeError(w, errorf(http.StatusMisdirectedRequest, "host_not_allowed", "Host %q is not an address of this API; add the name to TRACKSTREAM_ADMIN_ALLOWED_HOSTS", r.Host))
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			if !a.originAllowed(origin, r) {
				writeError(w, errorf(http.StatusForbidden, "origin_not_allowed", "origin %q is not in TRACKSTREAM_ADMIN_CORS_ORIGINS", origin))
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientIPKey{}, ip)))
	})
}
