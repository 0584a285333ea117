// Package load drives a running ticketing stack through its gateway with
// concurrent simulated users, one step at a time, and measures each step's
// throughput and latency, overall and second by second, the MongoDB
// commands its requests cost the services, the lags of the events between
// services, and the services' memory and CPU time. cmd/load runs it
// against any stack; cmd/bench runs it on fresh local stacks and writes a
// report.
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

// PageLimit is the size of the page the listpage step reads.
const PageLimit = 50

// Lags are the event lags Run measures.
const (
	// LagOrderable is from a ticket's creation to the sending of its
	// first successful order: the TicketCreated event has reached the
	// orders service. The order request before it was answered 404 before
	// this one was sent, so the event arrived between the two: the lag is
	// off by at most one poll interval, and the successful request's own
	// handling, which is no part of the event's way, is left out.
	LagOrderable = "ticket created → orderable"
	// LagOrdered is LagOrderable with the successful order request's own
	// handling: what the buyer waits for, from the ticket's creation to the
	// answer that the order is made.
	LagOrdered = "ticket created → ordered"
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
	// Duration is how long each step runs at least; default 20 s, long
	// enough for a step to reach its steady state.
	Duration time.Duration
	// MinRows, when set, keeps each of the RowSteps going past Duration
	// until its collection holds MinRows rows, so that it is measured at
	// that size too: a store that is fast on an empty collection may not
	// be on a full one.
	MinRows int
	// MaxDuration stops every step, however far from MinRows; default
	// the longer of Duration and 3 minutes.
	MaxDuration time.Duration
	// CountRows, when set, returns how many rows a collection of RowSteps
	// holds; the bench counts them in the database. Without it, a run
	// counts the rows it added itself.
	CountRows func(ctx context.Context, rows string) (int, error)
	// Metrics are the services' debug addresses (DEBUG_ADDR), by name.
	// When set, each step reads CommandsMetric from every service's
	// /metrics before it starts and once its events are handled, and
	// reports the MongoDB commands its requests cost; optional.
	Metrics map[string]string
	// Steps are the steps to run, a subset of Steps; default all.
	Steps []string
	// Tickets is how many available tickets the listing holds before the
	// reads; Run creates the missing ones. Default 100.
	Tickets int
	// Pool bounds the tickets set aside for the order and pay steps,
	// each of which uses one ticket per request; default 1000, more when
	// MinRows needs more. Tickets the create step made are used first,
	// then those whose orders expired, then new ones.
	Pool int
	// Procs are the process ids of the services, by name, whose memory
	// and CPU time are reported; optional.
	Procs map[string]int
	// PollEvery is how often a lag is polled; default 2 ms. It bounds the
	// lags' resolution.
	PollEvery time.Duration
	// Warmup, when positive, is how long the users run the purchase story,
	// unmeasured, before the first step: a fresh stack makes its
	// collections, indexes and connections on its first writes, which
	// stalls the first second or two of whatever runs first and is no
	// part of a steady state. Its latencies and lags count nowhere; the
	// rows it adds are in the collections like any others.
	Warmup time.Duration
	// BeforeSteps, when set, runs once the users are signed up and the
	// listing is seeded, before the first step: the bench measures its
	// database floor there, on the same data volume as the reads.
	BeforeSteps func(ctx context.Context) error
	// Settle, when set, runs before each step and before the ticket pool
	// is used, so that the events of what came before do not compete
	// with what is measured, and after each step, so that its commands
	// include those of its events: the bench waits there for every event
	// to be handled. An error wrapping ErrNotSettled lets the run go on;
	// any other ends it.
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
	// Stop is when the step stopped starting requests, since its start:
	// after Duration, later when it ran on for MinRows, earlier when it
	// ran out of work. The requests in flight then still completed.
	Stop time.Duration
	RPS  float64
	P50  time.Duration
	P90  time.Duration
	P99  time.Duration
	// FirstErrors are up to three of the step's errors.
	FirstErrors []string
	// Rows is how many rows the collection of a step of RowSteps held
	// when it stopped: what was there plus what it added.
	Rows int `json:",omitempty"`
	// Series is the step second by second, and Worst its worst full
	// second (nil when it lasted none).
	Series []Second
	Worst  *Window `json:",omitempty"`
	// Calls counts every call of the API the step's users made, by Call
	// key, successful or not: its requests, and the polls and retries
	// between them.
	Calls map[string]int `json:",omitempty"`
	// Expired counts the step's orders that were left unpaid and had
	// expired by the time its commands were counted: their expiry is part
	// of its cost.
	Expired int `json:",omitempty"`
	// Commands are the MongoDB commands the services sent from the
	// step's start until its events were handled, when Config.Metrics is
	// set and some service counts them (CommandsMeasured); CommandsErr
	// says which services' metrics could not be read.
	Commands         []CommandCount `json:",omitempty"`
	CommandsMeasured bool           `json:",omitempty"`
	CommandsErr      string         `json:",omitempty"`
	// Unsettled says why the step's events were not all handled when its
	// commands were read (Settle returned ErrNotSettled): they are then
	// fewer than the step will cost.
	Unsettled string `json:",omitempty"`
	// Settled is how long the step's events took to be handled after its
	// last request (and the expiry of its orders, when the step waited for
	// it): Settle's wait, or how long it waited before giving up.
	Settled time.Duration `json:",omitempty"`
	// Inherited says that the events of what came before the step had
	// not settled when its count started (the last Settle before it
	// returned ErrNotSettled): the commands counted here include that
	// unfinished work.
	Inherited string `json:",omitempty"`
}

// ErrNotSettled is what Config.Settle wraps when the events did not settle
// in time but the run should go on.
var ErrNotSettled = errors.New("not settled")

// CommandsPerRequest returns the step's MongoDB commands, but Overhead,
// per successful request, in all and by service; ok is false when they
// were not measured or no request succeeded.
func (s StepResult) CommandsPerRequest() (total float64, byService map[string]float64, ok bool) {
	if !s.CommandsMeasured || s.Requests == 0 {
		return 0, nil, false
	}
	byService = map[string]float64{}
	for _, c := range s.Commands {
		if Overhead(c.Command) {
			continue
		}
		per := c.Count / float64(s.Requests)
		total += per
		byService[c.Service] += per
	}
	return total, byService, true
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
	URL         string
	Users       int
	Duration    time.Duration
	MinRows     int           `json:",omitempty"`
	MaxDuration time.Duration `json:",omitempty"`
	Tickets     int
	Steps       []StepResult
	Lags        []LagResult
	Procs       []ProcResult
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
	metrics   *http.Client // reads the services' /metrics
	runID     string
	meter     *meter // what every user asks of the API
	seller    *user
	users     []*user // signed up, one per worker
	// tickets is the pool of the running step, if it uses one: set
	// before its workers start.
	tickets chan string

	mu        sync.Mutex
	lags      map[string][]time.Duration
	ids       []string // tickets the show step reads
	available []string // tickets the create step made, never ordered

	// Only the goroutine of Run touches these.
	made       map[string]int // rows this run added, by RowSteps collection
	recyclable []expiring     // tickets of orders left unpaid, oldest expiry first
	unsettled  string         // why the last settle did not, "" when it did
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
		cfg.Duration = 20 * time.Second
	}
	if cfg.MaxDuration <= 0 {
		cfg.MaxDuration = max(cfg.Duration, 3*time.Minute)
	}
	cfg.MaxDuration = max(cfg.MaxDuration, cfg.Duration)
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
		metrics: &http.Client{Transport: &http.Transport{}},
		runID:   strconv.FormatInt(time.Now().UnixNano(), 36),
		meter:   newMeter(),
		lags:    make(map[string][]time.Duration),
		made:    make(map[string]int),
	}
	defer r.transport.CloseIdleConnections()
	defer r.metrics.CloseIdleConnections()

	rep := &Report{URL: cfg.URL, Users: cfg.Users, Duration: cfg.Duration, Tickets: cfg.Tickets}
	if cfg.MinRows > 0 {
		rep.MinRows, rep.MaxDuration = cfg.MinRows, cfg.MaxDuration
	}
	before := sampleProcs(cfg.Procs)

	if err := r.prepare(ctx); err != nil {
		return nil, err
	}
	if cfg.BeforeSteps != nil {
		if err := cfg.BeforeSteps(ctx); err != nil {
			return nil, fmt.Errorf("load: before the steps: %w", err)
		}
	}
	if err := r.warmUp(ctx); err != nil {
		return nil, err
	}
	for _, s := range steps {
		if !slices.Contains(cfg.Steps, s.name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := r.settle(ctx); err != nil {
			return nil, err
		}
		res, err := r.step(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("load: %s: %w", s.name, err)
		}
		cfg.Progress("%s", progressLine(res))
		rep.Steps = append(rep.Steps, res)
	}
	for _, name := range []string{LagOrderable, LagOrdered, LagLocked, LagOrderable + AtRest, LagOrdered + AtRest, LagLocked + AtRest, LagCancelled} {
		if ds := r.lags[name]; len(ds) > 0 {
			rep.Lags = append(rep.Lags, lagResult(name, ds))
		}
	}
	rep.Procs = procResults(before, sampleProcs(cfg.Procs))
	return rep, nil
}

// warmUp runs the purchase story for Config.Warmup, unmeasured, and waits
// for its events to settle.
func (r *runner) warmUp(ctx context.Context) error {
	if r.cfg.Warmup <= 0 {
		return nil
	}
	res := r.work(ctx, "warmup", r.cfg.Users, func(ctx context.Context, w int) (bool, error) {
		return r.purchaseOnce(ctx, w, "")
	}, &stopRule{min: r.cfg.Warmup, max: r.cfg.Warmup})
	r.cfg.Progress("warm-up: %d purchases in %v, %d failed", res.Requests, res.Elapsed.Round(time.Millisecond), res.Errors)
	clear(r.lags)
	r.addMade(r.meter.takeCalls())
	r.meter.takeOrders()
	_, err := r.settle(ctx)
	return err
}

// settle runs Config.Settle. It returns why the events did not settle
// when Settle says so but lets the run go on, and keeps it for the next
// step's count (StepResult.Inherited); it returns an error when Settle
// fails.
func (r *runner) settle(ctx context.Context) (unsettled string, err error) {
	r.unsettled = ""
	if r.cfg.Settle == nil {
		return "", nil
	}
	err = r.cfg.Settle(ctx)
	switch {
	case errors.Is(err, ErrNotSettled):
		r.unsettled = err.Error()
		return r.unsettled, nil
	case err != nil:
		return "", fmt.Errorf("load: settle: %w", err)
	}
	return "", nil
}

// progressLine is a step's one-line summary.
func progressLine(res StepResult) string {
	line := fmt.Sprintf("%-9s %8.1f req/s  p50 %-9v p90 %-9v p99 %-9v errors %d", res.Name, res.RPS,
		res.P50.Round(10*time.Microsecond), res.P90.Round(10*time.Microsecond), res.P99.Round(10*time.Microsecond), res.Errors)
	if w := res.Worst; w != nil {
		line += fmt.Sprintf("  worst second %v: %d req (%.2f of the mean)", w.At, w.Requests, w.Ratio)
	}
	if per, _, ok := res.CommandsPerRequest(); ok {
		line += fmt.Sprintf("  %.1f commands/req", per)
	}
	if res.Rows > 0 {
		line += fmt.Sprintf("  %d rows after %v", res.Rows, res.Stop.Round(time.Second))
	}
	return line
}

// prepare signs up a user per worker and a seller, and seeds the listing.
func (r *runner) prepare(ctx context.Context) error {
	r.seller = newUser(r.cfg.URL, r.transport, r.runID, r.meter)
	if err := r.seller.signUp(ctx); err != nil {
		return fmt.Errorf("load: sign up the seller: %w", err)
	}
	r.users = make([]*user, r.cfg.Users)
	for i := range r.users {
		r.users[i] = newUser(r.cfg.URL, r.transport, r.runID, r.meter)
		if err := r.users[i].signUp(ctx); err != nil {
			return fmt.Errorf("load: sign up user %d: %w", i, err)
		}
	}
	if !slices.ContainsFunc(steps, func(s stepDef) bool { return s.listing && slices.Contains(r.cfg.Steps, s.name) }) {
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

// errSkip is an iteration that neither counts nor fails.
var errSkip = errors.New("skipped")

// errTimed lets an iteration time only its last part: started at start.
type errTimed struct {
	start time.Time
	err   error
}

func (e errTimed) Error() string { return e.err.Error() }

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
