package chaos_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
	"ticketing.dev/infra/audit"
)

// The run's timing. Together with starting the stack and waiting for quiet
// the package takes about a minute and a half on two cores.
const (
	deadline = 150 * time.Second // everything, load and checks
	warmUp   = 4 * time.Second   // load before the first kill
	downFor  = 2 * time.Second   // how long a killed service stays dead
	between  = 3 * time.Second   // load between one recovery and the next kill
	natsDown = 3 * time.Second   // how long NATS Streaming stays stopped
	coolDown = 4 * time.Second   // load after the last recovery
	quietMax = 60 * time.Second  // bound on waiting for events to settle
	sellers  = 2
	buyers   = 3
)

// victims are killed in this order; NATS Streaming is restarted after them.
var victims = []string{"tickets", "orders", "payments", "expiration", "auth"}

// outage is one part of the system down, from the kill (or stop) until it
// was ready again.
type outage struct {
	component string
	from, to  time.Time
	// restart is how long the restart took, from starting the process to
	// its readiness check passing.
	restart time.Duration
	// propagated (NATS Streaming only) is how long after its start an
	// event written then reached another service.
	propagated time.Duration
}

func (o outage) covers(service string, start, end time.Time) bool {
	return o.component == service && start.Before(o.to) && end.After(o.from)
}

func TestChaos_KilledServicesARestartedNATSAndAnEmptiedRedisLoseNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	dbs, disconnect, err := audit.Connect(stk.MongoURI())
	require.NoError(t, err)
	defer func() { _ = disconnect(context.WithoutCancel(ctx)) }()

	restartsBefore := stk.Restarts()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rec := &recorder{}
	book := newLedger()
	l := &load{base: stk.URL, rec: rec, book: book, run: fmt.Sprintf("%x", seed)}

	var users []*user
	for i := range sellers + buyers + 1 {
		u, err := l.account(ctx, fmt.Sprintf("user%d", i))
		require.NoError(t, err)
		users = append(users, u)
	}
	probe := users[len(users)-1]
	// A ticket whose ticket:created makes orders' handler panic on its
	// first delivery: recovered, and applied on the next.
	var panicky ticket
	require.Equal(t, http.StatusCreated, probe.do(ctx, http.MethodPost, "/api/tickets",
		map[string]any{"title": bus.ChaosPanicMarker + " " + l.run, "price": events.Money(1000)}, &panicky))
	book.listed(panicky)
	poisoned := poison(ctx, t, dbs)

	// Stopping the load lets requests in flight finish, so that every
	// answer is seen and every accepted write is in the ledger.
	stopping, stopLoad := context.WithCancel(ctx)
	l.stopping = stopping
	var wg sync.WaitGroup
	defer func() { // also when a check below gives up on the test
		stopLoad()
		wg.Wait()
	}()
	for i, u := range users[:sellers] {
		wg.Go(func() { l.seller(ctx, u, rand.New(rand.NewPCG(seed, uint64(i)))) })
	}
	for i, u := range users[sellers : sellers+buyers] {
		wg.Go(func() { l.buyer(ctx, u, rand.New(rand.NewPCG(seed, uint64(100+i)))) })
	}
	wg.Go(func() { l.visitor(ctx, rand.New(rand.NewPCG(seed, 200))) })

	start := time.Now()
	outages, lost := breakThings(ctx, t, l, probe, dbs)
	stopLoad()
	wg.Wait()
	loadTook := time.Since(start)

	// The poison event's dead letters, looked into, are discarded.
	deadLetters := poisoned()

	// Orders placed last expire one window later; quiet means after that.
	quietStart := time.Now()
	sleep(ctx, window)
	report, quietErr := audit.WaitQuiet(ctx, dbs, quietMax, auditConfig)
	quietTook := time.Since(quietStart)
	snap, err := audit.Load(ctx, dbs)
	for tries := 1; err != nil && tries < 5 && ctx.Err() == nil; tries++ {
		sleep(ctx, time.Second) // FerretDB too busy to answer in time
		snap, err = audit.Load(ctx, dbs)
	}
	require.NoError(t, err)

	reqs := rec.all()
	t.Log("\n" + summary(reqs, outages, book, snap, report, loadTook, quietTook))

	assertOnlyTheDeadServiceFailed(t, reqs, outages)
	assertAcceptedWritesKept(t, book, snap)
	assert.Equal(t, restartsBefore, stk.Restarts(), "no service exited on its own")
	require.NoError(t, quietErr, "%s", report)
	assert.True(t, report.OK(), "%s", report)
	for _, w := range report.Warnings {
		assert.Contains(t, []audit.Rule{audit.RuleClaim, audit.RulePayment}, w.Rule, "unexpected warning %s", w)
	}
	assert.Empty(t, audit.Money(snap, stripeCalls()), "money kept without a ticket, or refunded twice")
	assert.Contains(t, logs.String(), "handler panicked", "the marked ticket:created made orders' handler panic")
	assert.Contains(t, snap.TicketReplicas, panicky.ID, "and was applied on its next delivery")
	assert.Equal(t, 2, deadLetters, "the poison event was a dead letter of tickets and of payments")
	assert.Equal(t, events.StatusCancelled, snap.Orders[lost].Status, "the order whose expiry Redis lost")
	assert.True(t, slices.ContainsFunc(strings.Split(logs.String(), "\n"), func(line string) bool {
		return strings.Contains(line, "cancelled an order whose expiration never came") && strings.Contains(line, lost)
	}), "orders' sweeper cancelled order %s", lost)

	// The run proves something only if it exercised every path.
	assert.NotEmpty(t, book.payments, "some orders were paid")
	assert.NotZero(t, book.cancels, "some orders were cancelled")
	assert.NotZero(t, book.edits, "some tickets were edited")
	assert.NotZero(t, countOrders(snap, events.StatusCancelled)-book.cancels, "some orders expired")
}

// breakThings kills each victim in turn, keeps it dead for downFor and
// restarts it; then stops NATS Streaming for natsDown and starts it again.
func breakThings(ctx context.Context, t *testing.T, l *load, probe *user, dbs audit.Databases) (_ []outage, lost string) {
	t.Helper()
	var outages []outage
	sleep(ctx, warmUp)
	for _, name := range victims {
		o := outage{component: name, from: time.Now()}
		require.NoError(t, stk.Kill(name))
		sleep(ctx, downFor)
		restarted := time.Now()
		require.NoError(t, stk.Restart(ctx, name), "%s did not come back", name)
		o.to = time.Now()
		o.restart = o.to.Sub(restarted)
		outages = append(outages, o)
		sleep(ctx, between)
	}

	o := outage{component: "nats", from: time.Now()}
	stk.StopNATS()
	sleep(ctx, natsDown)
	restarted := time.Now()
	require.NoError(t, stk.StartNATS())
	o.to = time.Now()
	o.restart = o.to.Sub(restarted)
	o.propagated, _ = propagation(ctx, t, l, probe, dbs)
	outages = append(outages, o)
	sleep(ctx, between)

	// Redis comes back empty, as a pod rescheduled without its volume:
	// the expirations it held are lost, and orders' sweeper cancels
	// those orders instead. One of them is the probe's, left unpaid.
	lost = orderLeftToExpire(ctx, t, l, probe, dbs)
	waitScheduled(t, lost) // else it would be scheduled after the restart, and expire as usual
	o = outage{component: "redis", from: time.Now()}
	require.NoError(t, stk.RestartRedisEmpty(ctx))
	o.to = time.Now()
	o.restart = o.to.Sub(o.from)
	outages = append(outages, o)
	sleep(ctx, coolDown)
	return outages, lost
}

// waitScheduled waits until expiration holds the task that expires
// orderID in Redis (asynq's task id is the order's id, in the queue
// "expiration").
func waitScheduled(t *testing.T, orderID string) {
	t.Helper()
	inspector := asynq.NewInspector(asynq.RedisClientOpt{Addr: stk.RedisAddr()})
	defer inspector.Close()
	testkit.Eventually(t, func() bool {
		_, err := inspector.GetTaskInfo("expiration", orderID)
		return err == nil
	}, "expiration scheduled order %s", orderID)
}

// orderLeftToExpire lists a ticket and orders it as probe, and returns the
// order's id.
func orderLeftToExpire(ctx context.Context, t *testing.T, l *load, probe *user, dbs audit.Databases) string {
	t.Helper()
	_, tk := propagation(ctx, t, l, probe, dbs)
	var o order
	require.Equal(t, http.StatusCreated, probe.do(ctx, http.MethodPost, "/api/orders", map[string]string{"ticketId": tk.ID}, &o))
	l.book.ordered(o, probe.id)
	return o.ID
}

// poison publishes by hand an order:cancelled that can never apply (its
// ids are malformed), which tickets and payments consume. Each must store
// it as a dead letter at once and go on serving. It returns a function
// that waits for both dead letters, discards them — the operator's answer
// once they are looked into — and says how many it found.
func poison(ctx context.Context, t *testing.T, dbs audit.Databases) func() int {
	t.Helper()
	conn, err := bus.Connect(ctx, stk.Bus("chaos-poison"), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	const data = `{"id":"poison","version":1,"ticket":{"id":"poison"}}`
	require.NoError(t, conn.Publish(ctx, string(events.SubjectOrderCancelled), []byte(data)))
	return func() int {
		found := 0
		for _, db := range []*mongo.Database{dbs.Tickets, dbs.Payments} {
			store := deadletter.New(db)
			var letter *deadletter.Letter
			testkit.Eventually(t, func() bool {
				letters, err := store.List(ctx)
				if err != nil {
					return false
				}
				for _, l := range letters {
					if string(l.Data) == data {
						letter = &l
						return true
					}
				}
				return false
			}, "the poison event is a dead letter of %s", db.Name())
			if letter != nil {
				found++
				assert.Equal(t, 1, letter.Deliveries, "%s gave up at once", db.Name())
				require.NoError(t, store.Discard(ctx, letter.ID))
			}
		}
		return found
	}
}

// stripeCalls is what Stripe was asked for during the run, for the audit.
func stripeCalls() []audit.StripeCall {
	var out []audit.StripeCall
	for _, c := range stk.StripeCalls() {
		out = append(out, audit.StripeCall{Method: c.Method, Path: c.Path, IdempotencyKey: c.IdempotencyKey, Status: c.Status})
	}
	return out
}

// probeTitle begins the titles of the probe's tickets, which the load's
// buyers leave alone: the probe orders them itself.
const probeTitle = "probe "

// propagation lists a ticket and measures how long until the orders
// service's replica of it exists: the time for events to flow again.
func propagation(ctx context.Context, t *testing.T, l *load, probe *user, dbs audit.Databases) (time.Duration, ticket) {
	t.Helper()
	start := time.Now()
	var tk ticket
	require.Equal(t, http.StatusCreated, probe.do(ctx, http.MethodPost, "/api/tickets",
		map[string]any{"title": probeTitle + l.run, "price": events.Money(1000)}, &tk))
	l.book.listed(tk)
	id, err := bson.ObjectIDFromHex(tk.ID)
	require.NoError(t, err)
	for {
		// A slow answer is an answer: only the deadline ends the wait.
		n, _ := dbs.Orders.Collection("tickets").CountDocuments(ctx, bson.D{{Key: "_id", Value: id}})
		if n == 1 {
			return time.Since(start), tk
		}
		require.NoError(t, ctx.Err(), "ticket:created never reached orders after NATS Streaming restarted")
		time.Sleep(20 * time.Millisecond) // poll interval; the loop measures how long the condition took
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// assertOnlyTheDeadServiceFailed: a request failed (5xx, or no answer) only
// if the service the gateway routed it to was down at some point while it
// ran.
func assertOnlyTheDeadServiceFailed(t *testing.T, reqs []request, outages []outage) {
	t.Helper()
	var unexpected []string
	for _, r := range reqs {
		if r.status != 0 && r.status < 500 {
			continue
		}
		if slices.ContainsFunc(outages, func(o outage) bool { return o.covers(r.service, r.start, r.end) }) {
			continue
		}
		unexpected = append(unexpected, fmt.Sprintf("%s %s %s → %d %v (%s, %v)", r.start.Format("15:04:05.000"),
			r.method, r.path, r.status, r.err, r.service, r.end.Sub(r.start).Round(time.Millisecond)))
	}
	assert.Empty(t, unexpected, "failed requests to services that were up:\n%s", strings.Join(unexpected, "\n"))
}

// assertAcceptedWritesKept: every write the API accepted is stored, and the
// events it caused reached every service that keeps a copy or acts on it.
func assertAcceptedWritesKept(t *testing.T, book *ledger, s *audit.Snapshot) {
	t.Helper()
	for id := range book.users {
		assert.Contains(t, s.Users, id, "signed-up user")
	}
	for id, l := range book.tickets {
		tk, ok := s.Tickets[id]
		if !assert.True(t, ok, "ticket %s answered 201 but is not stored", id) {
			continue
		}
		assert.Equal(t, l.seller, tk.UserID, "ticket %s seller", id)
		assert.GreaterOrEqual(t, tk.Version, l.version, "ticket %s version", id)
		stored := edit{tk.Title, events.Money(tk.Price)}
		assert.True(t, stored == edit{l.title, l.price} || slices.Contains(l.maybe, stored),
			"ticket %s is %+v, not as its last accepted edit left it (%q at %s) nor as an unanswered edit after it %+v",
			id, stored, l.title, l.price, l.maybe)
		r, ok := s.TicketReplicas[id]
		if assert.True(t, ok, "ticket %s never reached orders (ticket:created lost)", id) {
			assert.Equal(t, tk.Version, r.Version, "ticket %s: orders' replica version (a ticket:updated lost)", id)
			assert.Equal(t, tk.Price, r.Price, "ticket %s: orders' replica price", id)
		}
	}
	for id, p := range book.orders {
		o, ok := s.Orders[id]
		if !assert.True(t, ok, "order %s answered 201 but is not stored", id) {
			continue
		}
		assert.Equal(t, p.ticketID, o.TicketID, "order %s ticket", id)
		assert.Equal(t, p.buyer, o.UserID, "order %s buyer", id)
		r, ok := s.OrderReplicas[id]
		assert.True(t, ok, "order %s never reached payments (order:created lost)", id)
		tk := s.Tickets[o.TicketID]
		switch {
		case p.paymentID != "" || p.payUnknown:
			// A payment accepted before expiry may still arrive after the
			// expiration: the order then stays cancelled (a refund). A
			// payment whose answer was lost with a dying service may or
			// may not have been made.
			assert.Contains(t, []events.OrderStatus{events.StatusComplete, events.StatusCancelled}, o.Status, "paid order %s", id)
		case p.cancelled:
			assert.Equal(t, events.StatusCancelled, o.Status, "order %s cancelled by its buyer", id)
		default:
			assert.Equal(t, events.StatusCancelled, o.Status, "order %s left unpaid expired", id)
		}
		if o.Status == events.StatusComplete {
			assert.Equal(t, id, tk.OrderID, "complete order %s holds its ticket (order:created lost?)", id)
		} else {
			assert.NotEqual(t, id, tk.OrderID, "%s order %s released its ticket (order:cancelled lost?)", o.Status, id)
			assert.Equal(t, o.Status, r.Status, "order %s: payments' replica status (order:cancelled lost?)", id)
		}
	}
	for pid, orderID := range book.payments {
		p, ok := s.Payments[pid]
		if assert.True(t, ok, "payment %s answered 201 but is not stored", pid) {
			// Accepted before expiry, a payment may still reach orders
			// after the expiration (above): its order stays cancelled and
			// the charge is refunded, once (audit.Money counts at Stripe).
			want := "succeeded"
			if o, ok := s.Orders[orderID]; ok && o.Status == events.StatusCancelled {
				want = "refunded"
			}
			assert.Equal(t, want, p.Status, "payment %s of a %s order", pid, s.Orders[orderID].Status)
			assert.Equal(t, orderID, p.OrderID, "payment %s order", pid)
		}
	}
}

func countOrders(s *audit.Snapshot, status events.OrderStatus) int {
	n := 0
	for _, o := range s.Orders {
		if o.Status == status {
			n++
		}
	}
	return n
}

// summary is the run in numbers.
func summary(reqs []request, outages []outage, book *ledger, s *audit.Snapshot, r audit.Report, loadTook, quietTook time.Duration) string {
	var b strings.Builder
	byStatus := map[int]int{}
	for _, q := range reqs {
		byStatus[q.status]++
	}
	fmt.Fprintf(&b, "load: %d requests in %v (%.0f/s); by status:", len(reqs), loadTook.Round(time.Second), float64(len(reqs))/loadTook.Seconds())
	for _, st := range slices.Sorted(maps.Keys(byStatus)) {
		fmt.Fprintf(&b, " %d×%d", byStatus[st], st)
	}
	b.WriteString("\n")
	for _, o := range outages {
		failed, served := 0, time.Duration(-1)
		for _, q := range reqs {
			if o.covers(q.service, q.start, q.end) && (q.status == 0 || q.status >= 500) {
				failed++
			}
			if q.service == o.component && q.status != 0 && q.status < 500 && !q.end.Before(o.to) {
				if d := q.end.Sub(o.from); served < 0 || d < served {
					served = d
				}
			}
		}
		fmt.Fprintf(&b, "  %-10s down %v, (re)start to ready %v", o.component, o.to.Sub(o.from).Round(time.Millisecond), o.restart.Round(time.Millisecond))
		if served >= 0 {
			fmt.Fprintf(&b, ", clients served again %v after the kill", served.Round(time.Millisecond))
		}
		if o.propagated > 0 {
			fmt.Fprintf(&b, ", first event after the restart reached orders in %v", o.propagated.Round(time.Millisecond))
		}
		fmt.Fprintf(&b, "; %d requests failed with it\n", failed)
	}
	refunds := 0
	for _, c := range stk.StripeCalls() {
		if c.Method == http.MethodPost && c.Path == "/v1/refunds" && c.Status == http.StatusOK {
			refunds++
		}
	}
	fmt.Fprintf(&b, "accepted: %d sign-ups, %d tickets, %d edits, %d orders, %d cancels, %d payments\n",
		len(book.users), len(book.tickets), book.edits, len(book.orders), book.cancels, len(book.payments))
	fmt.Fprintf(&b, "final: %d complete, %d cancelled (%d by buyers, the rest expired), %d created; %d refunds at Stripe\n",
		countOrders(s, events.StatusComplete), countOrders(s, events.StatusCancelled), book.cancels, countOrders(s, events.StatusCreated), refunds)
	fmt.Fprintf(&b, "expiration tasks still active past their time and rescued: %d; orders swept after Redis lost their expiry: %d\n",
		strings.Count(logs.String(), "published the expiration of a task still active past its time"),
		strings.Count(logs.String(), "cancelled an order whose expiration never came"))
	fmt.Fprintf(&b, "quiet after %v; %s", quietTook.Round(100*time.Millisecond), r)
	return b.String()
}
