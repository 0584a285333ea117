// Package load drives a running ticketing stack through its gateway with
// concurrent simulated users, one step at a time, and measures each step's
// throughput and latency, the lags of the events between services, and the
// services' memory and CPU time. cmd/load runs it against any stack;
// cmd/bench runs it on fresh local stacks and writes a report.
package load

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Steps are the steps Run knows, in the order it runs them: the reads come
// before the steps that add tickets, so that the listing holds the seeded
// number of tickets while it is measured.
var Steps = []string{"signup", "signin", "list", "listpage", "show", "create", "order", "pay", "purchase", "lags", "expire"}

// PageLimit is the size of the page the listpage step reads.
const PageLimit = 50

// Lags are the event lags Run measures.
const (
	// LagOrderable is from a ticket's creation to its first successful
	// order: the TicketCreated event has reached the orders service.
	LagOrderable = "ticket created → orderable"
	// LagLocked is from an order's creation to its ticket showing the
	// order: OrderCreated has reached the tickets service.
	LagLocked = "order created → ticket locked"
	// LagCancelled is from an order's expiresAt to the order reading
	// cancelled: expiration's timer and ExpirationComplete went round.
	LagCancelled = "expiresAt → order cancelled"
	// AtRest marks the lags the lags step measures: the purchase story of
	// one user alone, so that they are the events' own lags rather than
	// the queueing of a loaded machine.
	AtRest = ", 1 user"
)

// Config configures a run.
type Config struct {
	// URL is the gateway's base URL.
	URL string
	// Users is how many users run each step at once; default 16.
	Users int
	// Duration is how long each step runs; default 5 s.
	Duration time.Duration
	// Steps are the steps to run, a subset of Steps; default all.
	Steps []string
	// Tickets is how many available tickets the listing holds before the
	// reads; Run creates the missing ones. Default 100.
	Tickets int
	// Pool bounds the tickets created in advance for the order and pay
	// steps, each of which uses one ticket per request; default 1000.
	Pool int
	// Procs are the process ids of the services, by name, whose memory
	// and CPU time are reported; optional.
	Procs map[string]int
	// PollEvery is how often a lag is polled; default 2 ms. It bounds the
	// lags' resolution.
	PollEvery time.Duration
	// BeforeSteps, when set, runs once the users are signed up and the
	// listing is seeded, before the first step: the bench measures its
	// database floor there, on the same data volume as the reads.
	BeforeSteps func(ctx context.Context) error
	// Settle, when set, runs before each step and before the ticket pool
	// is used, so that the events of what came before do not compete
	// with what is measured: the bench waits there for the orders
	// service to hold every ticket.
	Settle func(ctx context.Context) error
	// Progress, when set, receives a line as each step starts and ends.
	Progress func(format string, args ...any)
}

// StepResult is one step's measurements.
type StepResult struct {
	Name     string
	Requests int // successful iterations
	Errors   int
	Elapsed  time.Duration
	RPS      float64
	P50      time.Duration
	P90      time.Duration
	P99      time.Duration
	// FirstErrors are up to three of the step's errors.
	FirstErrors []string
}

// LagResult is one event lag's distribution.
type LagResult struct {
	Name    string
	Samples int
	P50     time.Duration
	P90     time.Duration
	P99     time.Duration
	Max     time.Duration
}

// ProcResult is one service's memory and CPU time.
type ProcResult struct {
	Name string
	Pid  int
	// IdleRSS is the resident memory before the run, PeakRSS the highest
	// since the process started (VmHWM).
	IdleRSS, PeakRSS int64
	// CPU is the user and system time the process used during the run.
	CPU time.Duration
}

// Report is what a run measured.
type Report struct {
	URL      string
	Users    int
	Duration time.Duration
	Tickets  int
	Steps    []StepResult
	Lags     []LagResult
	Procs    []ProcResult
}

// Step returns the result of the step name, if it ran.
func (r *Report) Step(name string) (StepResult, bool) {
	for _, s := range r.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return StepResult{}, false
}

// runner holds a run's shared state.
type runner struct {
	cfg       Config
	transport *http.Transport
	runID     string
	seller    *user
	users     []*user // signed up, one per worker

	mu   sync.Mutex
	lags map[string][]time.Duration
	ids  []string // tickets the show step reads
}

// Run runs the configured steps one after the other and returns what they
// measured. A step's failed requests are counted, not returned: Run fails
// only when it cannot prepare a step.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.URL == "" {
		return nil, errors.New("load: no URL")
	}
	if cfg.Users <= 0 {
		cfg.Users = 16
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 5 * time.Second
	}
	if len(cfg.Steps) == 0 {
		cfg.Steps = Steps
	}
	for _, s := range cfg.Steps {
		if !slices.Contains(Steps, s) {
			return nil, fmt.Errorf("load: unknown step %q (known: %v)", s, Steps)
		}
	}
	if cfg.Tickets <= 0 {
		cfg.Tickets = 100
	}
	if cfg.Pool <= 0 {
		cfg.Pool = 1000
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = 2 * time.Millisecond
	}
	if cfg.Progress == nil {
		cfg.Progress = func(string, ...any) {}
	}
	r := &runner{
		cfg: cfg,
		transport: &http.Transport{
			MaxIdleConns:        4 * cfg.Users,
			MaxIdleConnsPerHost: 4 * cfg.Users,
			IdleConnTimeout:     90 * time.Second,
		},
		runID: strconv.FormatInt(time.Now().UnixNano(), 36),
		lags:  make(map[string][]time.Duration),
	}
	defer r.transport.CloseIdleConnections()

	rep := &Report{URL: cfg.URL, Users: cfg.Users, Duration: cfg.Duration, Tickets: cfg.Tickets}
	before := sampleProcs(cfg.Procs)

	if err := r.prepare(ctx); err != nil {
		return nil, err
	}
	if cfg.BeforeSteps != nil {
		if err := cfg.BeforeSteps(ctx); err != nil {
			return nil, fmt.Errorf("load: before the steps: %w", err)
		}
	}
	for _, name := range Steps {
		if !slices.Contains(cfg.Steps, name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := r.settle(ctx); err != nil {
			return nil, err
		}
		res, err := r.step(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("load: %s: %w", name, err)
		}
		cfg.Progress("%-9s %8.1f req/s  p50 %-9v p90 %-9v p99 %-9v errors %d", name, res.RPS,
			res.P50.Round(10*time.Microsecond), res.P90.Round(10*time.Microsecond), res.P99.Round(10*time.Microsecond), res.Errors)
		rep.Steps = append(rep.Steps, res)
	}
	for _, name := range []string{LagOrderable, LagLocked, LagOrderable + AtRest, LagLocked + AtRest, LagCancelled} {
		if ds := r.lags[name]; len(ds) > 0 {
			rep.Lags = append(rep.Lags, lagResult(name, ds))
		}
	}
	rep.Procs = procResults(before, sampleProcs(cfg.Procs))
	return rep, nil
}

func (r *runner) settle(ctx context.Context) error {
	if r.cfg.Settle == nil {
		return nil
	}
	if err := r.cfg.Settle(ctx); err != nil {
		return fmt.Errorf("load: settle: %w", err)
	}
	return nil
}

// prepare signs up a user per worker and a seller, and seeds the listing.
func (r *runner) prepare(ctx context.Context) error {
	r.seller = newUser(r.cfg.URL, r.transport, r.runID)
	if err := r.seller.signUp(ctx); err != nil {
		return fmt.Errorf("load: sign up the seller: %w", err)
	}
	r.users = make([]*user, r.cfg.Users)
	for i := range r.users {
		r.users[i] = newUser(r.cfg.URL, r.transport, r.runID)
		if err := r.users[i].signUp(ctx); err != nil {
			return fmt.Errorf("load: sign up user %d: %w", i, err)
		}
	}
	if !slices.ContainsFunc(r.cfg.Steps, func(s string) bool { return s == "list" || s == "listpage" || s == "show" }) {
		return nil
	}
	var listed []ticket
	if err := r.seller.do(ctx, "GET", "/api/tickets", nil, &listed, http.StatusOK); err != nil {
		return fmt.Errorf("load: list tickets: %w", err)
	}
	missing := r.cfg.Tickets - len(listed)
	r.cfg.Progress("seeding %d tickets (%d listed)", max(missing, 0), len(listed))
	ids, err := r.createTickets(ctx, missing)
	if err != nil {
		return err
	}
	for _, t := range listed {
		ids = append(ids, t.ID)
	}
	r.ids = ids
	return nil
}

// seedAttempts bounds the attempts at creating one ticket of the seed.
const seedAttempts = 5

// createTickets has the seller create n tickets, Users at a time.
func (r *runner) createTickets(ctx context.Context, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	ids := make([]string, n)
	errs := make([]error, r.cfg.Users)
	var wg sync.WaitGroup
	for w := range r.cfg.Users {
		wg.Go(func() {
			for i := w; i < n; i += r.cfg.Users {
				// Seeding is not measured: a failure is tried again a few
				// times, so that a transient one does not end the run.
				var t ticket
				var err error
				for attempt := range seedAttempts {
					if t, err = r.seller.createTicket(ctx); err == nil {
						break
					}
					time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
				}
				if err != nil {
					errs[w] = fmt.Errorf("load: create ticket: %w", err)
					return
				}
				ids[i] = t.ID
			}
		})
	}
	wg.Wait()
	return ids, errors.Join(errs...)
}

// iteration is one timed unit of a step by worker w; errors count against
// the step. It returns false when the step has nothing left to do.
type iteration func(ctx context.Context, w int) (bool, error)

// step prepares and runs one step.
func (r *runner) step(ctx context.Context, name string) (StepResult, error) {
	var it iteration
	switch name {
	case "signup":
		it = func(ctx context.Context, _ int) (bool, error) {
			return true, newUser(r.cfg.URL, r.transport, r.runID).signUp(ctx)
		}
	case "signin":
		it = func(ctx context.Context, w int) (bool, error) { return true, r.users[w].signIn(ctx) }
	case "list":
		it = func(ctx context.Context, w int) (bool, error) {
			_, err := r.users[w].listTickets(ctx)
			return true, err
		}
	case "listpage":
		it = func(ctx context.Context, w int) (bool, error) {
			n, err := r.users[w].listPage(ctx, PageLimit)
			if err == nil && n > PageLimit {
				err = fmt.Errorf("a page of %d tickets holds %d", PageLimit, n)
			}
			return true, err
		}
	case "show":
		if len(r.ids) == 0 {
			return StepResult{}, errors.New("no tickets to show")
		}
		// Each worker reads the tickets in turn from its own offset.
		counters := make([]int, r.cfg.Users)
		it = func(ctx context.Context, w int) (bool, error) {
			counters[w]++
			_, err := r.users[w].showTicket(ctx, r.ids[(w*len(r.ids)/r.cfg.Users+counters[w])%len(r.ids)])
			return true, err
		}
	case "create":
		it = func(ctx context.Context, w int) (bool, error) {
			_, err := r.users[w].createTicket(ctx)
			return true, err
		}
	case "order", "pay":
		pool, err := r.pool(ctx)
		if err != nil {
			return StepResult{}, err
		}
		it = func(ctx context.Context, w int) (bool, error) {
			var id string
			select {
			case id = <-pool:
			default:
				return false, nil // the pool is used up
			}
			o, err := r.users[w].createOrder(ctx, id)
			if isStatus(err, http.StatusNotFound) {
				// Not at the orders service yet: events of one channel
				// are handled concurrently, so the pool's last ticket
				// being orderable does not make every other one be.
				pool <- id
				time.Sleep(r.cfg.PollEvery)
				return true, errSkip
			}
			if name == "order" || err != nil {
				return true, err
			}
			// Only the payment is timed, not the order before it, and
			// only its attempt once the payments service knows the
			// order (OrderCreated reaches it by an event too).
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
	case "purchase":
		return r.run(ctx, name, r.cfg.Users, r.purchase("")), nil
	case "lags":
		return r.run(ctx, name, 1, r.purchase(AtRest)), nil
	case "expire":
		it = r.expire
	}
	return r.run(ctx, name, r.cfg.Users, it), nil
}

// errSkip is an iteration that neither counts nor fails.
var errSkip = errors.New("skipped")

// errTimed lets an iteration time only its last part: started at start.
type errTimed struct {
	start time.Time
	err   error
}

func (e errTimed) Error() string { return e.err.Error() }

// pool creates up to Pool tickets for the order and pay steps and waits a
// moment for them to reach the orders service.
func (r *runner) pool(ctx context.Context) (chan string, error) {
	ids, err := r.createTickets(ctx, r.cfg.Pool)
	if err != nil {
		return nil, err
	}
	ch := make(chan string, len(ids))
	for _, id := range ids {
		ch <- id
	}
	if err := r.settle(ctx); err != nil {
		return nil, err
	}
	// The tickets reach the orders service by events: wait for the
	// pool's last one to be orderable (the seller orders it, so it leaves
	// the pool). Others may still be on their way; the steps put those
	// back.
	last := <-ch
	err = r.poll(ctx, func() (bool, error) {
		_, err := r.seller.createOrder(ctx, last)
		if isStatus(err, http.StatusNotFound) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return nil, fmt.Errorf("the ticket pool does not become orderable: %w", err)
	}
	return ch, nil
}

// purchase returns the whole story: a ticket is put on sale, bought as soon
// as the orders service knows it, shown locked, and paid. Its lags are
// recorded under their names followed by suffix.
func (r *runner) purchase(suffix string) iteration {
	return func(ctx context.Context, w int) (bool, error) { return r.purchaseOnce(ctx, w, suffix) }
}

func (r *runner) purchaseOnce(ctx context.Context, w int, suffix string) (bool, error) {
	u := r.users[w]
	t, err := r.seller.createTicket(ctx)
	if err != nil {
		return true, err
	}
	created := time.Now()
	var o order
	err = r.poll(ctx, func() (bool, error) {
		var err error
		o, err = u.createOrder(ctx, t.ID)
		if isStatus(err, http.StatusNotFound) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return true, fmt.Errorf("order: %w", err)
	}
	ordered := time.Now()
	r.lag(LagOrderable+suffix, ordered.Sub(created))
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

// expire orders a ticket, leaves the order unpaid and waits for it to be
// cancelled once it expires.
func (r *runner) expire(ctx context.Context, w int) (bool, error) {
	u := r.users[w]
	t, err := r.seller.createTicket(ctx)
	if err != nil {
		return true, err
	}
	var o order
	err = r.poll(ctx, func() (bool, error) {
		var err error
		o, err = u.createOrder(ctx, t.ID)
		if isStatus(err, http.StatusNotFound) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return true, fmt.Errorf("order: %w", err)
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

// pollTimeout bounds every wait for an event.
const pollTimeout = 60 * time.Second

func (r *runner) poll(ctx context.Context, cond func() (bool, error)) error {
	return r.pollEvery(ctx, r.cfg.PollEvery, cond)
}

// pollEvery calls cond until it is true: every interval at first, then
// less often as the wait grows, at a tenth of the time waited so far (at
// most maxPollEvery), so that a measured wait is off by about a tenth at
// most while long waits of many workers do not load the services with
// polls.
func (r *runner) pollEvery(ctx context.Context, every time.Duration, cond func() (bool, error)) error {
	start := time.Now()
	deadline := start.Add(pollTimeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", pollTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(max(every, min(time.Since(start)/10, maxPollEvery))):
		}
	}
}

// maxPollEvery bounds the interval of a long poll.
const maxPollEvery = 100 * time.Millisecond

func (r *runner) lag(name string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lags[name] = append(r.lags[name], d)
}

// run runs it with users workers for Duration, or until every worker has
// nothing left to do, and summarises the latencies.
func (r *runner) run(ctx context.Context, name string, users int, it iteration) StepResult {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Duration+pollTimeout)
	defer cancel()
	type worker struct {
		lat    []time.Duration
		errors int
		first  []string
	}
	workers := make([]worker, users)
	start := time.Now()
	end := start.Add(r.cfg.Duration)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			me := &workers[w]
			for time.Now().Before(end) && ctx.Err() == nil {
				t0 := time.Now()
				more, err := it(ctx, w)
				if !more {
					return
				}
				if errors.Is(err, errSkip) {
					continue
				}
				if te, ok := err.(errTimed); ok {
					t0, err = te.start, te.err
				}
				d := time.Since(t0)
				if err != nil {
					me.errors++
					if len(me.first) < 3 {
						me.first = append(me.first, err.Error())
					}
					continue
				}
				me.lat = append(me.lat, d)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := StepResult{Name: name, Elapsed: elapsed}
	var all []time.Duration
	for _, w := range workers {
		all = append(all, w.lat...)
		res.Errors += w.errors
		for _, e := range w.first {
			if len(res.FirstErrors) < 3 {
				res.FirstErrors = append(res.FirstErrors, e)
			}
		}
	}
	res.Requests = len(all)
	res.RPS = float64(len(all)) / elapsed.Seconds()
	slices.Sort(all)
	res.P50, res.P90, res.P99 = quantile(all, 0.50), quantile(all, 0.90), quantile(all, 0.99)
	return res
}

func lagResult(name string, ds []time.Duration) LagResult {
	slices.Sort(ds)
	return LagResult{Name: name, Samples: len(ds), P50: quantile(ds, 0.50), P90: quantile(ds, 0.90), P99: quantile(ds, 0.99), Max: ds[len(ds)-1]}
}

// quantile is the nearest-rank q-quantile of sorted, zero when empty.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
