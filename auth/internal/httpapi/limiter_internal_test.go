package httpapi

import (
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests that move time run in a synctest bubble: time.Now is the
// bubble's clock, and time.Sleep moves it at once.

func TestLimiter_RefillsAtTheLimitPerPeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(3, time.Minute, time.Now)

		for i := range 3 {
			assert.True(t, l.allow("a"), "attempt %d", i+1)
		}
		assert.False(t, l.allow("a"))

		time.Sleep(19 * time.Second)
		assert.False(t, l.allow("a"), "a token takes 20 s to come back")
		time.Sleep(time.Second)
		assert.True(t, l.allow("a"))
		assert.False(t, l.allow("a"))

		time.Sleep(time.Minute)
		for i := range 3 {
			assert.True(t, l.allow("a"), "full again after a minute: attempt %d", i+1)
		}
	})
}

func TestLimiter_ForgetsIdleKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(2, time.Minute, time.Now)
		for i := range 100 {
			l.allow(strconv.Itoa(i))
		}
		assert.Equal(t, 100, l.size())

		time.Sleep(30 * time.Second)
		l.allow("recent")
		time.Sleep(40 * time.Second)
		l.allow("recent")

		assert.Equal(t, 1, l.size(), "only the key seen within the minute is kept")
	})
}

func TestLimiter_WhenFullANewcomerTakesThePlaceOfTheKeySeenLongestAgo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(1, time.Minute, time.Now)
		l.maxKeys = 3
		for _, k := range []string{"a", "b", "c"} {
			require.True(t, l.allow(k))
			time.Sleep(time.Second)
		}
		require.False(t, l.allow("a"), "a has spent its budget; and is now the key seen last")

		assert.True(t, l.allow("d"), "a newcomer is served although the table is full")
		assert.Equal(t, 3, l.size(), "the table stays within its bound")
		assert.True(t, l.allow("b"), "b, seen longest ago, was forgotten: a full budget again")
		assert.False(t, l.allow("a"), "a, seen recently, is still remembered")
		assert.False(t, l.allow("d"))
	})
}

func TestLimiter_AFloodOfNewKeysLocksNobodyOut(t *testing.T) {
	l := newLimiter(5, time.Minute, time.Now)
	l.maxKeys = 100
	for i := range 10_000 {
		require.True(t, l.allow("attacker-"+strconv.Itoa(i)))
	}
	assert.True(t, l.allow("203.0.113.7"), "a client arriving during the flood")
	assert.Equal(t, 100, l.size())
}

func TestLimiter_ForgetGivesTheWholeBudgetBack(t *testing.T) {
	l := newLimiter(2, 15*time.Minute, time.Now)
	assert.True(t, l.allow("me@example.com"))
	assert.True(t, l.allow("me@example.com"))
	assert.False(t, l.allow("me@example.com"))

	l.forget("me@example.com")

	assert.True(t, l.allow("me@example.com"))
	assert.Equal(t, "450", l.retryAfter, "one attempt every 7.5 minutes")
}

func TestLimiter_NilAllowsEverything(t *testing.T) {
	var l *limiter
	for range 1000 {
		require.True(t, l.allow("a"))
	}
	l.forget("a")
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
