package chaos_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ticketing.dev/common/events"
)

// ledger is every write the API accepted during the run: what must be found
// afterwards, with its events applied everywhere.
type ledger struct {
	mu       sync.Mutex
	users    map[string]bool
	tickets  map[string]*listing
	orders   map[string]*placed
	payments map[string]string // payment id → order id
	edits    int
	cancels  int
}

// listing is a ticket as its last accepted write left it.
type listing struct {
	seller  string
	title   string
	price   events.Money
	version int64
	// maybe are edits sent since then that got no answer from tickets
	// (502, its process killed): any of them may have been stored.
	maybe []edit
}

type edit struct {
	title string
	price events.Money
}

// placed is an order and what its buyer did with it.
type placed struct {
	buyer, ticketID string
	expiresAt       time.Time
	cancelled       bool   // DELETE answered 204
	paymentID       string // POST /api/payments answered 201
	// payUnknown: a payment got no answer from payments (502, its process
	// killed), so it may have gone through.
	payUnknown bool
}

func newLedger() *ledger {
	return &ledger{
		users:    make(map[string]bool),
		tickets:  make(map[string]*listing),
		orders:   make(map[string]*placed),
		payments: make(map[string]string),
	}
}

func (b *ledger) signedUp(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.users[id] = true
}

func (b *ledger) listed(t ticket) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tickets[t.ID] = &listing{seller: t.UserID, title: t.Title, price: t.Price, version: t.Version}
}

func (b *ledger) edited(t ticket) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.edits++
	if l, ok := b.tickets[t.ID]; ok && t.Version > l.version {
		l.title, l.price, l.version, l.maybe = t.Title, t.Price, t.Version, nil
	}
}

func (b *ledger) editMaybe(id, title string, price events.Money) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if l, ok := b.tickets[id]; ok {
		l.maybe = append(l.maybe, edit{title, price})
	}
}

func (b *ledger) ordered(o order, buyer string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.orders[o.ID] = &placed{buyer: buyer, ticketID: o.Ticket.ID, expiresAt: o.ExpiresAt}
}

func (b *ledger) cancelled(orderID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cancels++
	b.orders[orderID].cancelled = true
}

func (b *ledger) payMaybe(orderID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.orders[orderID].payUnknown = true
}

func (b *ledger) paid(orderID, paymentID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.orders[orderID].paymentID = paymentID
	b.payments[paymentID] = orderID
}

// load drives the API as sellers, buyers and visitors would.
type load struct {
	// stopping ends the load: each user finishes what it is doing and
	// stops. Requests run under the test's context, so that none is cut
	// off halfway and every answer is seen.
	stopping context.Context
	base     string
	rec      *recorder
	book     *ledger
	run      string // makes emails and titles unique to this run
	seq      atomic.Int64
}

// pause sleeps between lo and hi, or until ctx is done.
func pause(ctx context.Context, rnd *rand.Rand, lo, hi time.Duration) {
	d := lo + time.Duration(rnd.Int64N(int64(hi-lo)+1))
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// account signs a new user up, retrying through outages of auth.
func (l *load) account(ctx context.Context, role string) (*user, error) {
	u := newUser(l.base, l.rec)
	email := fmt.Sprintf("%s-%s-%d@example.com", role, l.run, l.seq.Add(1))
	for ctx.Err() == nil {
		if u.signUp(ctx, email) == http.StatusCreated {
			l.book.signedUp(u.id)
			return u, nil
		}
		time.Sleep(200 * time.Millisecond) // a client's pause before retrying through the outage
	}
	return nil, fmt.Errorf("sign up %s: %w", email, ctx.Err())
}

// price returns a price from $1.00 to $200.00 in whole cents.
func price(rnd *rand.Rand) events.Money { return events.Money(100 + rnd.IntN(19901)) }

// seller lists tickets and edits them, now and then looking one up.
func (l *load) seller(ctx context.Context, u *user, rnd *rand.Rand) {
	var mine []string
	for l.stopping.Err() == nil {
		if len(mine) == 0 || rnd.IntN(5) < 2 {
			var t ticket
			body := map[string]any{"title": fmt.Sprintf("chaos %s-%d", l.run, l.seq.Add(1)), "price": price(rnd)}
			if u.do(ctx, http.MethodPost, "/api/tickets", body, &t) == http.StatusCreated {
				l.book.listed(t)
				mine = append(mine, t.ID)
			}
		} else {
			id := mine[rnd.IntN(len(mine))]
			var t ticket
			title, p := fmt.Sprintf("chaos %s-%d", l.run, l.seq.Add(1)), price(rnd)
			switch status := u.do(ctx, http.MethodPut, "/api/tickets/"+id, map[string]any{"title": title, "price": p}, &t); {
			case status == http.StatusOK:
				l.book.edited(t)
			case status == 0 || status >= 500:
				l.book.editMaybe(id, title, p)
			}
			if rnd.IntN(3) == 0 {
				u.do(ctx, http.MethodGet, "/api/tickets/"+id, nil, nil)
			}
		}
		pause(l.stopping, rnd, 200*time.Millisecond, 400*time.Millisecond)
	}
}

// buyer orders a ticket on sale and then pays for it, cancels it, or
// leaves it to expire.
func (l *load) buyer(ctx context.Context, u *user, rnd *rand.Rand) {
	for l.stopping.Err() == nil {
		pause(l.stopping, rnd, 150*time.Millisecond, 300*time.Millisecond)
		var list []ticket
		if u.do(ctx, http.MethodGet, "/api/tickets", nil, &list) != http.StatusOK || len(list) == 0 {
			continue
		}
		t := list[rnd.IntN(len(list))]
		if strings.HasPrefix(t.Title, probeTitle) {
			continue // the probe orders its tickets itself, and would be refused after a buyer
		}
		var o order
		if u.do(ctx, http.MethodPost, "/api/orders", map[string]string{"ticketId": t.ID}, &o) != http.StatusCreated {
			continue // reserved meanwhile, not yet in the replica, or orders down
		}
		l.book.ordered(o, u.id)
		switch fate := rnd.IntN(10); {
		case fate < 4:
			l.pay(ctx, u, o)
		case fate < 7:
			pause(ctx, rnd, 0, 500*time.Millisecond)
			if u.do(ctx, http.MethodDelete, "/api/orders/"+o.ID, nil, nil) == http.StatusNoContent {
				l.book.cancelled(o.ID)
			}
		default: // left to expire
		}
		switch rnd.IntN(4) {
		case 0:
			u.do(ctx, http.MethodGet, "/api/orders", nil, nil)
		case 1:
			u.do(ctx, http.MethodGet, "/api/orders/"+o.ID, nil, nil)
		}
	}
}

// pay pays for o with Stripe's test card while its lock has a second to
// run, trying again while payments does not know the order yet (404) or
// is down (5xx).
func (l *load) pay(ctx context.Context, u *user, o order) {
	for l.stopping.Err() == nil && time.Until(o.ExpiresAt) > time.Second {
		var p struct{ ID string }
		switch status := u.do(ctx, http.MethodPost, "/api/payments", map[string]string{"token": "tok_visa", "orderId": o.ID}, &p); {
		case status == http.StatusCreated:
			l.book.paid(o.ID, p.ID)
			return
		case status == http.StatusNotFound:
			time.Sleep(100 * time.Millisecond) // a client's pause until payments knows the order
		case status == 0 || status >= 500:
			l.book.payMaybe(o.ID)
			time.Sleep(100 * time.Millisecond) // a client's pause before retrying through the outage
		default:
			return
		}
	}
}

// visitor signs up, looks around, signs out, and signs back in: the load
// on auth.
func (l *load) visitor(ctx context.Context, rnd *rand.Rand) {
	var emails []string
	for l.stopping.Err() == nil {
		u := newUser(l.base, l.rec)
		email := fmt.Sprintf("visitor-%s-%d@example.com", l.run, l.seq.Add(1))
		if u.signUp(ctx, email) == http.StatusCreated {
			l.book.signedUp(u.id)
			emails = append(emails, email)
		}
		u.do(ctx, http.MethodGet, "/api/users/currentuser", nil, nil)
		u.do(ctx, http.MethodGet, "/api/tickets", nil, nil)
		u.do(ctx, http.MethodPost, "/api/users/signout", nil, nil)
		if len(emails) > 0 {
			again := newUser(l.base, l.rec)
			again.do(ctx, http.MethodPost, "/api/users/signin",
				map[string]string{"email": emails[rnd.IntN(len(emails))], "password": "password"}, nil)
		}
		pause(l.stopping, rnd, 300*time.Millisecond, 600*time.Millisecond)
	}
}
