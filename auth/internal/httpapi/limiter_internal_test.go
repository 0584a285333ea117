package httpapi

import (
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestLimiter_RefillsAtTheLimitPerMinute(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newLimiter(3, nil, clock.now)

	for i := range 3 {
		assert.True(t, l.allow("a"), "attempt %d", i+1)
	}
	assert.False(t, l.allow("a"))

	clock.advance(19 * time.Second)
	assert.False(t, l.allow("a"), "a token takes 20 s to come back")
	clock.advance(time.Second)
	assert.True(t, l.allow("a"))
	assert.False(t, l.allow("a"))

	clock.advance(time.Minute)
	for i := range 3 {
		assert.True(t, l.allow("a"), "full again after a minute: attempt %d", i+1)
	}
}

func TestLimiter_ForgetsIdleClients(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newLimiter(2, nil, clock.now)
	for i := range 100 {
		l.allow(strconv.Itoa(i))
	}
	assert.Len(t, l.clients, 100)

	clock.advance(30 * time.Second)
	l.allow("recent")
	clock.advance(40 * time.Second)
	l.allow("recent")

	assert.Len(t, l.clients, 1, "only the client seen within the minute is kept")
}

func TestLimiter_RefusesNewcomersWhenFull(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newLimiter(5, nil, clock.now)
	l.maxClients = 2

	assert.True(t, l.allow("a"))
	assert.True(t, l.allow("b"))
	assert.False(t, l.allow("c"))
	assert.True(t, l.allow("a"), "known clients keep their budget")

	clock.advance(time.Minute)
	assert.True(t, l.allow("c"), "room again once idle clients are swept")
}

func TestClientAddr(t *testing.T) {
	tests := map[string]string{
		"203.0.113.7:1234":            "203.0.113.7",
		"[::ffff:203.0.113.7]:1234":   "203.0.113.7",
		"[2001:db8:1:2:3:4:5:6]:1234": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:1234": "2001:db8:1:2::/64",
		"[fe80::1%eth0]:1234":         "fe80::/64",
		"not-an-address":              "not-an-address",
	}
	for remote, want := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", "198.51.100.1")
		assert.Equal(t, want, clientAddr(r, nil), remote)
	}
}

func TestClientAddr_BehindTrustedProxies(t *testing.T) {
	gateway := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	tests := []struct {
		name, remote, forwarded, want string
	}{
		{"the gateway's client", "127.0.0.1:5000", "203.0.113.7", "203.0.113.7"},
		{"an IPv6 client is grouped by its /64", "127.0.0.1:5000", "2001:db8:1:2::99", "2001:db8:1:2::/64"},
		{"a spoofed header from an untrusted peer is ignored", "203.0.113.7:4000", "198.51.100.1", "203.0.113.7"},
		{"entries the client wrote are ignored", "127.0.0.1:5000", "198.51.100.1, 203.0.113.7", "203.0.113.7"},
		{"the gateway alone", "127.0.0.1:5000", "", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.forwarded != "" {
				r.Header.Set("X-Forwarded-For", tt.forwarded)
			}
			assert.Equal(t, tt.want, clientAddr(r, gateway))
		})
	}
}
