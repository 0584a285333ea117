package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ForwardedForHeader is the header proxies append their peer's address to.
const ForwardedForHeader = "X-Forwarded-For"

// ForwardedProtoHeader is the header a proxy names its client's scheme in.
const ForwardedProtoHeader = "X-Forwarded-Proto"

// ClientProto returns the scheme, "http" or "https", the client of a
// request used: https when the request came over TLS; else what a trusted
// peer (an address inside one of trusted, the ingress) said in
// X-Forwarded-Proto, when it said one of the two; else http. An untrusted
// peer's header is ignored.
func ClientProto(r *http.Request, trusted []netip.Prefix) string {
	if r.TLS != nil {
		return "https"
	}
	if peer, ok := parseHostAddr(r.RemoteAddr); ok && isTrusted(peer, trusted) {
		// One proxy, one value: a list means proxies we cannot tell apart.
		if p := strings.ToLower(strings.TrimSpace(r.Header.Get(ForwardedProtoHeader))); p == "https" || p == "http" {
			return p
		}
	}
	return "http"
}

// ClientIP returns the address of the client a request comes from.
//
// The TCP peer is the client unless it is one of the trusted proxies (an
// address inside one of trusted). A trusted proxy's X-Forwarded-For is read
// from the right, each entry being the peer of the hop after it: trusted
// hops are skipped and the first address outside trusted is the client.
// Entries further left were written by the client itself and are never
// read, so a client cannot choose the address it is known by. When every
// hop is trusted, the leftmost one is the client; when an entry is not an
// address, the last trusted hop is, since nothing beyond it can be
// believed.
//
// With no trusted proxies, forwarding headers are ignored. ClientIP returns
// the zero Addr only when RemoteAddr is not an address, which net/http's
// server never leaves it. IPv4-mapped IPv6 addresses are unmapped and zones
// dropped, so one client has one form.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	addr, ok := parseHostAddr(r.RemoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if !isTrusted(addr, trusted) {
		return addr
	}
	hops := r.Header.Values(ForwardedForHeader)
	for i := len(hops) - 1; i >= 0; i-- {
		line := hops[i]
		for line != "" {
			var entry string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				line, entry = line[:j], line[j+1:]
			} else {
				line, entry = "", line
			}
			hop, ok := parseHostAddr(strings.TrimSpace(entry))
			if !ok {
				return addr
			}
			addr = hop
			if !isTrusted(addr, trusted) {
				return addr
			}
		}
	}
	return addr
}

// parseHostAddr reads an address with or without a port: "203.0.113.7",
// "203.0.113.7:1234", "2001:db8::1", "[2001:db8::1]:1234".
func parseHostAddr(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return addr.WithZone("").Unmap(), true
}

func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
