package ingest

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/trackstream/trackstream/internal/sources"
)

// ipResolver finds a request's client IP: the socket peer, or, when the
// peer is a trusted proxy, the address the proxy put in its header.
type ipResolver struct {
	trusted []netip.Prefix
	header  string
}

func newIPResolver(trusted []string, header string) (ipResolver, error) {
	r := ipResolver{header: header}
	for _, t := range trusted {
		p, err := netip.ParsePrefix(t)
		if err != nil {
			a, aerr := netip.ParseAddr(t)
			if aerr != nil {
				return r, fmt.Errorf("trusted proxy %q is not an IP address or CIDR", t)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

func (r ipResolver) isTrusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP returns the client address of a request from peer carrying
// header (the value of the proxy header, possibly empty). X-Forwarded-For
// style lists are read from the right: the first address that is not a
// trusted proxy is the client, so a client cannot forge its address by
// sending the header itself.
func (r ipResolver) clientIP(peer netip.Addr, header string) netip.Addr {
	peer = peer.Unmap()
	if header == "" || !r.isTrusted(peer) {
		return peer
	}
	hops := strings.Split(header, ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer // a malformed header is not believed at all
		}
		a = a.Unmap()
		if !r.isTrusted(a) || i == 0 {
			return a
		}
	}
	return peer
}

// applyIPPolicy renders a for an event under policy: kept, truncated
// (IPv4 to /24, IPv6 to /48) or dropped. An invalid address is dropped.
func applyIPPolicy(a netip.Addr, policy sources.IPPolicy) string {
	if !a.IsValid() {
		return ""
	}
	a = a.Unmap()
	switch policy {
	case sources.IPKeep:
		return a.String()
	case sources.IPTruncate:
		bits := 24
		if a.Is6() {
			bits = 48
		}
		p, _ := a.Prefix(bits) // bits is within the address length
		return p.Addr().String()
	}
	return ""
}
