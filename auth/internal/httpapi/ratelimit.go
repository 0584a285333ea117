package httpapi

import (
	"container/list"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/web"
)

// ErrTooManyRequests is the answer to a client address over its attempt
// budget.
var ErrTooManyRequests = errs.New(errs.TooManyRequests, "Too many requests, try again later")

// ErrTooManyFailedSignIns is the answer to a sign-in for an account that
// has failed too often lately, whoever asks and from wherever: guessing
// one account's password from many addresses gets no further than from
// one. Unknown emails are counted as known ones are, so the answer tells
// nothing of which emails are registered.
var ErrTooManyFailedSignIns = errs.New(errs.TooManyRequests, "Too many failed sign-ins for this account, try again later")

// defaultMaxKeys bounds a limiter's table: at roughly 200 bytes an entry
// (up to 500 with a 254-byte email as the key), 20 to 50 MB however many
// addresses or emails an attacker brings.
const defaultMaxKeys = 100_000

// limiter gives every key (a client address, an account) a token bucket of
// burst tokens that refills completely over period: a burst of burst
// attempts, then one every period/burst.
//
// The table holds at most maxKeys buckets. When it is full, a newcomer
// takes the place of the key seen longest ago: forgetting a bucket only
// gives its key a full budget again, which costs less than what the
// alternative, refusing every new key until the table empties, would cost
// (every legitimate client locked out by one attacker with many
// addresses).
type limiter struct {
	refill     rate.Limit
	burst      int
	period     time.Duration
	retryAfter string
	now        func() time.Time
	maxKeys    int

	mu sync.Mutex
	// byKey indexes recent, whose front is the key seen last and whose
	// back the key seen longest ago.
	byKey  map[string]*list.Element
	recent list.List
}

type bucket struct {
	key  string
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(burst int, period time.Duration, now func() time.Time) *limiter {
	interval := period / time.Duration(burst)
	return &limiter{
		refill:     rate.Every(interval),
		burst:      burst,
		period:     period,
		retryAfter: strconv.Itoa(max(1, int((interval+time.Second-1)/time.Second))),
		now:        now,
		maxKeys:    defaultMaxKeys,
		byKey:      make(map[string]*list.Element),
	}
}

// allow reports whether key may make one more attempt now, and counts it.
// A nil limiter allows everything.
func (l *limiter) allow(key string) bool {
	if l == nil {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetIdle(now)
	e, ok := l.byKey[key]
	if ok {
		l.recent.MoveToFront(e)
	} else {
		if len(l.byKey) >= l.maxKeys {
			l.remove(l.recent.Back())
		}
		e = l.recent.PushFront(&bucket{key: key, lim: rate.NewLimiter(l.refill, l.burst)})
		l.byKey[key] = e
	}
	b := e.Value.(*bucket)
	b.seen = now
	return b.lim.AllowN(now, 1)
}

// forget gives key its whole budget back.
func (l *limiter) forget(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.byKey[key]; ok {
		l.remove(e)
	}
}

// size is how many keys the table holds.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byKey)
}

// forgetIdle drops the keys not seen for a whole period. Their buckets have
// refilled completely by then, so forgetting them changes nothing for them.
func (l *limiter) forgetIdle(now time.Time) {
	for e := l.recent.Back(); e != nil; e = l.recent.Back() {
		if now.Sub(e.Value.(*bucket).seen) < l.period {
			return
		}
		l.remove(e)
	}
}

func (l *limiter) remove(e *list.Element) {
	delete(l.byKey, e.Value.(*bucket).key)
	l.recent.Remove(e)
}

// refuse writes err, a 429, with the limiter's Retry-After: the seconds
// until one more attempt is allowed.
func (l *limiter) refuse(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Retry-After", l.retryAfter)
	web.WriteError(w, r, err)
}

// perAddress returns middleware that limits each client address, as
// clientAddr names it, to l's budget. A nil l limits nothing.
func (l *limiter) perAddress(trusted []netip.Prefix) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if l == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !l.allow(clientAddr(r, trusted)) {
				l.refuse(w, r, ErrTooManyRequests)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
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
