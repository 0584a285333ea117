package load

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// stepDef is one step Run knows: a row of steps.
type stepDef struct {
	name string
	// about says what one request of the step is.
	about string
	// rows is the collection the step adds one row to per successful
	// request, if it adds rows (RowSteps).
	rows string
	// listing says the step reads the listing, which Run seeds with
	// Config.Tickets tickets before the first step.
	listing bool
	// pool says the step uses one ticket per request, from a pool Run
	// sets aside before the step (runner.tickets).
	pool bool
	// alone says the step runs with one user rather than Config.Users.
	alone bool
	// start prepares the step and returns its iteration.
	start func(r *runner) (iteration, error)
}

// steps are the steps Run knows, in the order it runs them: the reads come
// before the steps that add tickets, so that the listing holds the seeded
// number of tickets while it is measured. Adding a step is adding a row.
var steps = []stepDef{
	{name: "signup", about: "a new user signs up", start: each((*runner).signUp)},
	{name: "signin", about: "a user signs in", start: each((*runner).signIn)},
	{name: "list", listing: true, about: "a user lists the available tickets", start: each((*runner).list)},
	{name: "listpage", listing: true, about: "a user reads a page of PageLimit available tickets", start: each((*runner).listPage)},
	{name: "show", listing: true, about: "a user shows a ticket of the listing, each in turn", start: (*runner).show},
	{name: "create", rows: "tickets", about: "a user puts a ticket on sale", start: each((*runner).create)},
	{name: "order", rows: "orders", pool: true, about: "a user orders a ticket of the pool", start: each((*runner).order)},
	{name: "pay", rows: "payments", pool: true, about: "a user orders a ticket of the pool and pays for it; only the payment is timed", start: each((*runner).pay)},
	{name: "purchase", rows: "payments", about: "a ticket is put on sale, ordered once orderable, shown locked and paid", start: each(purchase(""))},
	{name: "lags", alone: true, about: "a purchase by one user alone, for the events' own lags", start: each(purchase(AtRest))},
	{name: "expire", about: "a user orders a ticket and waits, unpaid, for the order to be cancelled", start: each((*runner).expire)},
}

// Steps are the names of the steps Run knows, in the order it runs them.
var Steps = stepNames()

// RowSteps are the steps that add rows, each with the collection it adds
// one row to per successful request: "tickets", "orders" or "payments"
// (a purchase adds one of each, and ends with the payment). Config.MinRows
// applies to them.
var RowSteps = rowSteps()

func stepNames() []string {
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = s.name
	}
	return names
}

func rowSteps() map[string]string {
	rows := map[string]string{}
	for _, s := range steps {
		if s.rows != "" {
			rows[s.name] = s.rows
		}
	}
	return rows
}

// step prepares and runs one step.
func (r *runner) step(ctx context.Context, s stepDef) (StepResult, error) {
	r.tickets = nil
	if s.pool {
		var err error
		if r.tickets, err = r.pool(ctx, s.rows); err != nil {
			return StepResult{}, err
		}
	}
	it, err := s.start(r)
	if err != nil {
		return StepResult{}, err
	}
	users := r.cfg.Users
	if s.alone {
		users = 1
	}
	return r.run(ctx, s.name, users, it)
}

// each is the start of a step that needs nothing prepared: its iteration
// is f.
func each(f func(r *runner, ctx context.Context, w int) (bool, error)) func(*runner) (iteration, error) {
	return func(r *runner) (iteration, error) {
		return func(ctx context.Context, w int) (bool, error) { return f(r, ctx, w) }, nil
	}
}

func (r *runner) signUp(ctx context.Context, _ int) (bool, error) {
	return true, newUser(r.cfg.URL, r.transport, r.runID, r.meter).signUp(ctx)
}

func (r *runner) signIn(ctx context.Context, w int) (bool, error) {
	return true, r.users[w].signIn(ctx)
}

func (r *runner) list(ctx context.Context, w int) (bool, error) {
	_, err := r.users[w].listTickets(ctx)
	return true, err
}

func (r *runner) listPage(ctx context.Context, w int) (bool, error) {
	n, err := r.users[w].listPage(ctx, PageLimit)
	if err == nil && n > PageLimit {
		err = fmt.Errorf("a page of %d tickets holds %d", PageLimit, n)
	}
	return true, err
}

// show starts the show step: each worker reads the tickets in turn from
// its own offset.
func (r *runner) show() (iteration, error) {
	if len(r.ids) == 0 {
		return nil, errors.New("no tickets to show")
	}
	counters := make([]int, r.cfg.Users)
	return func(ctx context.Context, w int) (bool, error) {
		counters[w]++
		_, err := r.users[w].showTicket(ctx, r.ids[(w*len(r.ids)/r.cfg.Users+counters[w])%len(r.ids)])
		return true, err
	}, nil
}

func (r *runner) create(ctx context.Context, w int) (bool, error) {
	t, err := r.users[w].createTicket(ctx)
	if err == nil {
		r.mu.Lock()
		r.available = append(r.available, t.ID)
		r.mu.Unlock()
	}
	return true, err
}

func (r *runner) order(ctx context.Context, w int) (bool, error) {
	_, more, err := r.orderFromPool(ctx, w)
	return more, err
}

// pay times only the payment, not the order before it, and only its
// attempt once the payments service knows the order (OrderCreated reaches
// it by an event too).
func (r *runner) pay(ctx context.Context, w int) (bool, error) {
	o, more, err := r.orderFromPool(ctx, w)
	if !more || err != nil {
		return more, err
	}
	var start time.Time
	err = r.poll(ctx, func() (bool, error) {
		start = time.Now()
		err := r.users[w].pay(ctx, o.ID)
		if isStatus(err, http.StatusNotFound) {
			return false, nil
		}
		return err == nil, err
	})
	return true, errTimed{start: start, err: err}
}

// orderFromPool has worker w order a ticket of the step's pool; more is
// false when the pool is used up.
func (r *runner) orderFromPool(ctx context.Context, w int) (o order, more bool, err error) {
	var id string
	select {
	case id = <-r.tickets:
	default:
		return order{}, false, nil
	}
	o, err = r.users[w].createOrder(ctx, id)
	if isStatus(err, http.StatusNotFound) {
		// Not at the orders service yet: events of one channel are
		// handled concurrently, so the pool's last ticket being orderable
		// does not make every other one be.
		r.tickets <- id
		time.Sleep(r.cfg.PollEvery)
		return order{}, true, errSkip
	}
	return o, true, err
}

// purchase returns the whole story: a ticket is put on sale, bought as soon
// as the orders service knows it, shown locked, and paid. Its lags are
// recorded under their names followed by suffix.
func purchase(suffix string) func(r *runner, ctx context.Context, w int) (bool, error) {
	return func(r *runner, ctx context.Context, w int) (bool, error) { return r.purchaseOnce(ctx, w, suffix) }
}

func (r *runner) purchaseOnce(ctx context.Context, w int, suffix string) (bool, error) {
	u := r.users[w]
	t, err := r.seller.createTicket(ctx)
	if err != nil {
		return true, err
	}
	created := time.Now()
	o, sent, err := r.orderOnceOrderable(ctx, u, t.ID)
	if err != nil {
		return true, err
	}
	ordered := time.Now()
	r.lag(LagOrderable+suffix, sent.Sub(created))
	r.lag(LagOrdered+suffix, ordered.Sub(created))
	// The buyer pays at once, as the order may expire; meanwhile the
	// ticket is watched until it shows the order (it keeps showing it
	// once the order is paid).
	locked := make(chan error, 1)
	go func() {
		err := r.poll(ctx, func() (bool, error) {
			t, err := u.showTicket(ctx, t.ID)
			return err == nil && t.OrderID == o.ID, err
		})
		if err == nil {
			r.lag(LagLocked+suffix, time.Since(ordered))
		}
		locked <- err
	}()
	// OrderCreated reaches the payments service by an event too.
	payErr := r.poll(ctx, func() (bool, error) {
		err := u.pay(ctx, o.ID)
		if isStatus(err, http.StatusNotFound) {
			return false, nil
		}
		return err == nil, err
	})
	if err := <-locked; err != nil {
		return true, errors.Join(payErr, fmt.Errorf("ticket locked: %w", err))
	}
	return true, payErr
}

// orderOnceOrderable has u order the ticket as soon as the orders service
// knows it: ticket:created reaches it by an event. It also returns when
// the order request that succeeded was sent.
func (r *runner) orderOnceOrderable(ctx context.Context, u *user, ticketID string) (o order, sent time.Time, err error) {
	err = r.poll(ctx, func() (bool, error) {
		var err error
		sent = time.Now()
		o, err = u.createOrder(ctx, ticketID)
		if isStatus(err, http.StatusNotFound) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return order{}, time.Time{}, fmt.Errorf("order: %w", err)
	}
	return o, sent, nil
}

// expire orders a ticket, leaves the order unpaid and waits for it to be
// cancelled once it expires.
func (r *runner) expire(ctx context.Context, w int) (bool, error) {
	u := r.users[w]
	t, err := r.seller.createTicket(ctx)
	if err != nil {
		return true, err
	}
	o, _, err := r.orderOnceOrderable(ctx, u, t.ID)
	if err != nil {
		return true, err
	}
	if wait := time.Until(o.ExpiresAt); wait > 0 {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-time.After(wait):
		}
	}
	// Polled more slowly than the other lags: an order expires after a
	// window long enough for many workers to wait at once.
	err = r.pollEvery(ctx, 5*r.cfg.PollEvery, func() (bool, error) {
		o, err := u.showOrder(ctx, o.ID)
		return err == nil && o.Status == "cancelled", err
	})
	if err != nil {
		return true, fmt.Errorf("cancelled: %w", err)
	}
	r.lag(LagCancelled, time.Since(o.ExpiresAt))
	return true, nil
}
