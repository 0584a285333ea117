package httpapi

import (
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/web"
)

// ErrTooManyRequests is the answer to a client over its attempt budget.
var ErrTooManyRequests = errs.New(errs.TooManyRequests, "Too many requests, try again later")

// defaultMaxClients bounds the limiter's table: at roughly 200 bytes an
// entry, about 20 MB however many addresses an attacker brings.
const defaultMaxClients = 100_000

// limiter gives every client address a token bucket of perMinute tokens
// that refills at perMinute a minute: a burst of perMinute attempts, then
// one every minute/perMinute.
type limiter struct {
	// trusted are the proxies whose X-Forwarded-For names the client.
	trusted    []netip.Prefix
	refill     rate.Limit
	burst      int
	retryAfter string
	now        func() time.Time
	maxClients int

	mu        sync.Mutex
	clients   map[string]*bucket
	nextSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(perMinute int, trusted []netip.Prefix, now func() time.Time) *limiter {
	interval := time.Minute / time.Duration(perMinute)
	return &limiter{
		trusted:    trusted,
		refill:     rate.Every(interval),
		burst:      perMinute,
		retryAfter: strconv.Itoa(max(1, int((interval+time.Second-1)/time.Second))),
		now:        now,
		maxClients: defaultMaxClients,
		clients:    make(map[string]*bucket),
	}
}

// allow reports whether the client may make one more attempt now. When the
// table is full of clients active within the last minute, newcomers are
// refused until it empties: an attack from that many addresses is better
// slowed for everyone than let through to hash passwords without limit.
func (l *limiter) allow(client string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !now.Before(l.nextSweep) {
		l.sweep(now)
	}
	b, ok := l.clients[client]
	if !ok {
		if len(l.clients) >= l.maxClients {
			return false
		}
		b = &bucket{lim: rate.NewLimiter(l.refill, l.burst)}
		l.clients[client] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}

// sweep forgets clients idle for a minute. Their buckets have refilled
// completely by then, so forgetting them changes nothing for them.
func (l *limiter) sweep(now time.Time) {
	for k, b := range l.clients {
		if now.Sub(b.seen) >= time.Minute {
			delete(l.clients, k)
		}
	}
	l.nextSweep = now.Add(time.Minute)
}

func (l *limiter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.allow(clientAddr(r, l.trusted)) {
			w.Header().Set("Retry-After", l.retryAfter)
			web.WriteError(w, r, ErrTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clientAddr names the client a request comes from: the TCP peer, or,
// when the peer is one of the trusted proxies, the client address they
// forwarded (see web.ClientIP). Forwarding headers from any other peer are
// ignored: any client can write them. IPv6 clients are grouped by their
// /64, since one subscriber is usually given a whole /64 and could
// otherwise rotate through it.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	addr := web.ClientIP(r, trusted)
	if !addr.IsValid() {
		return r.RemoteAddr
	}
	if addr.Is6() {
		if p, err := addr.Prefix(64); err == nil {
			return p.String()
		}
	}
	return addr.String()
}
