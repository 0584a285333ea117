package web_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"

	"ticketing.dev/common/web"
)

func TestClientIP(t *testing.T) {
	gateway := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	chain := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name      string
		remote    string
		forwarded []string // X-Forwarded-For header lines
		trusted   []netip.Prefix
		want      string
	}{
		{"no proxies trusted: the peer", "203.0.113.7:4000", nil, nil, "203.0.113.7"},
		{"no proxies trusted: a spoofed header is ignored", "203.0.113.7:4000", []string{"198.51.100.1"}, nil, "203.0.113.7"},
		{"an untrusted peer cannot spoof", "203.0.113.7:4000", []string{"198.51.100.1"}, gateway, "203.0.113.7"},
		{"an untrusted peer posing as the gateway", "203.0.113.7:4000", []string{"127.0.0.1"}, gateway, "203.0.113.7"},
		{"the gateway's client", "127.0.0.1:5000", []string{"203.0.113.7"}, gateway, "203.0.113.7"},
		{"the gateway's client, forged entries to its left are not read", "127.0.0.1:5000", []string{"198.51.100.1, 203.0.113.7"}, gateway, "203.0.113.7"},
		{"the gateway without a header: the gateway itself", "127.0.0.1:5000", nil, gateway, "127.0.0.1"},
		{"a local browser behind the gateway", "127.0.0.1:5000", []string{"127.0.0.1"}, gateway, "127.0.0.1"},
		{"a chain of trusted proxies is skipped", "10.0.0.2:80", []string{"198.51.100.9, 203.0.113.7, 10.1.2.3"}, chain, "203.0.113.7"},
		{"a chain over several header lines", "10.0.0.2:80", []string{"198.51.100.9", "203.0.113.7", "10.1.2.3"}, chain, "203.0.113.7"},
		{"a forged trusted address to the left of the client changes nothing", "10.0.0.2:80", []string{"10.9.9.9, 203.0.113.7"}, chain, "203.0.113.7"},
		{"every hop trusted: the leftmost", "10.0.0.2:80", []string{"10.0.0.9, 10.0.0.3"}, chain, "10.0.0.9"},
		{"garbage next to a trusted hop: that hop", "10.0.0.2:80", []string{"203.0.113.7, not-an-ip, 10.0.0.3"}, chain, "10.0.0.3"},
		{"an empty entry: the last trusted hop", "10.0.0.2:80", []string{"203.0.113.7,,"}, chain, "10.0.0.2"},
		{"entries with ports", "10.0.0.2:80", []string{"203.0.113.7:1234"}, chain, "203.0.113.7"},
		{"IPv6 entries", "[fd00::1]:80", []string{"2001:db8::7, [fd00::2]:8080"}, chain, "2001:db8::7"},
		{"IPv4-mapped peers are unmapped", "[::ffff:127.0.0.1]:5000", []string{"::ffff:203.0.113.7"}, gateway, "203.0.113.7"},
		{"zones are dropped", "[fe80::1%eth0]:80", nil, nil, "fe80::1"},
		{"a RemoteAddr without a port", "203.0.113.7", nil, nil, "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.forwarded {
				r.Header.Add(web.ForwardedForHeader, v)
			}

			got := web.ClientIP(r, tt.trusted)

			assert.Equal(t, netip.MustParseAddr(tt.want), got)
		})
	}
}

func TestClientIP_UnreadableRemoteAddrIsTheZeroAddr(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "not-an-address"
	r.Header.Set(web.ForwardedForHeader, "203.0.113.7")

	assert.False(t, web.ClientIP(r, []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}).IsValid())
}

func TestClientProto(t *testing.T) {
	ingress := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name   string
		remote string
		proto  string // X-Forwarded-Proto; none when empty
		tls    bool
		want   string
	}{
		{"plain, no header", "203.0.113.7:4000", "", false, "http"},
		{"over TLS", "203.0.113.7:4000", "", true, "https"},
		{"the ingress says https", "10.0.0.2:80", "https", false, "https"},
		{"the ingress says http", "10.0.0.2:80", "http", false, "http"},
		{"any case", "10.0.0.2:80", "HTTPS", false, "https"},
		{"an untrusted peer cannot claim https", "203.0.113.7:4000", "https", false, "http"},
		{"a list from the ingress is not believed", "10.0.0.2:80", "https, http", false, "http"},
		{"an unknown scheme", "10.0.0.2:80", "gopher", false, "http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			if tt.proto != "" {
				r.Header.Set(web.ForwardedProtoHeader, tt.proto)
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			assert.Equal(t, tt.want, web.ClientProto(r, ingress))
		})
	}
}
