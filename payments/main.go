// Command payments is the ticketing payments service: buyers pay for their
// orders with a card through Stripe, and it publishes payment:created; it
// keeps a replica of the orders from order:created and order:cancelled.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/app"
	"ticketing.dev/common/bus"
	"ticketing.dev/common/config"
	"ticketing.dev/common/lifecycle"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/session"
	"ticketing.dev/payments/internal/charger"
	"ticketing.dev/payments/internal/httpapi"
	"ticketing.dev/payments/internal/listener"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/paymentdb"
	"ticketing.dev/payments/internal/reconciler"
)

func main() { lifecycle.Main("payments", run) }

// defaultDatabase is used when MONGO_URI names no database.
const defaultDatabase = "payments"

// settings is the service's whole configuration, read once.
type settings struct {
	config.HTTP
	NATS config.NATS
	// StripeKey is the secret key of the Stripe account charged into.
	StripeKey string
	// StripeAPIBase, when set, replaces Stripe's API URL, such as by
	// stripe-mock's in tests and the local stack.
	StripeAPIBase string
	// ReconcileInterval is the time between two rounds of the reconciler.
	ReconcileInterval time.Duration
	// ChargeTimeout bounds a charge (the request to Stripe and the writes
	// after it) and a refund.
	ChargeTimeout time.Duration
	// ChargeMargin is added to the charge timeout: no charge starts for an
	// order with less time left than both, and the reconciler settles what
	// was left pending or refunding for longer than both.
	ChargeMargin time.Duration
}

func readSettings(getenv func(string) string) (settings, error) {
	env := config.NewEnv(getenv)
	s := settings{
		HTTP:          config.ReadHTTP(env),
		NATS:          config.ReadNATS(env),
		StripeKey:     env.Required("STRIPE_KEY"),
		StripeAPIBase: env.String("STRIPE_API_BASE", ""),

		ReconcileInterval: env.Duration("RECONCILE_INTERVAL", reconciler.DefaultInterval),
		ChargeTimeout:     env.Duration("CHARGE_TIMEOUT", payment.DefaultChargeTimeout),
		ChargeMargin:      env.Duration("CHARGE_MARGIN", payment.DefaultChargeMargin),
	}
	err := env.Err()
	// A claim is taken over once it is DefaultStaleClaim old: only ever from
	// a holder that has given up or died.
	if maxTimeout := payment.DefaultStaleClaim / 2; s.ChargeTimeout <= 0 || s.ChargeTimeout > maxTimeout {
		err = errors.Join(err, fmt.Errorf("CHARGE_TIMEOUT must be above 0 and at most %s, got %s", maxTimeout, s.ChargeTimeout))
	}
	if s.StripeAPIBase != "" {
		if u, perr := url.Parse(s.StripeAPIBase); perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			err = errors.Join(err, fmt.Errorf("STRIPE_API_BASE must be an http(s) URL, got %q", s.StripeAPIBase))
		}
	}
	if err != nil {
		return settings{}, err
	}
	return s, nil
}

// deps are what run takes from outside its environment. run uses
// productionDeps; tests start the service with their own, to move its
// clock, choose its Stripe, shorten the ack wait and watch its handlers.
type deps struct {
	// clock is the time payments are stamped with and aged by.
	clock func() time.Time
	// charger returns what charges the cards, given the settings, the
	// logger and the counts of requests to Stripe.
	charger func(cfg settings, log *slog.Logger, m *metrics.Stripe) payment.Charger
	// ackWait is how long the bus waits for a handler's ack before it
	// delivers the event again.
	ackWait time.Duration
	// subjects returns what handles each subject the service consumes:
	// its handlers, or a wrapper of them.
	subjects func(*listener.Handlers) listener.Subjects
	// started is called once the service is wired, before it serves.
	started func(parts)
}

// parts are what run has wired that a test reaches into.
type parts struct {
	db         *mongo.Database
	store      *paymentdb.Store
	reconciler *reconciler.Reconciler
	reg        *prometheus.Registry
}

// productionDeps are run's: the wall clock, Stripe as the settings name
// it, the bus's ack wait and the handlers as they are.
func productionDeps() deps {
	return deps{
		clock:    time.Now,
		charger:  stripeCharger,
		ackWait:  bus.DefaultAckWait,
		subjects: func(h *listener.Handlers) listener.Subjects { return h },
		started:  func(parts) {},
	}
}

// run serves the payments API, consumes the service's events and runs the
// reconciler until ctx is done or the NATS Streaming connection is lost for
// good, then shuts down: HTTP first (finishing payments in flight), then
// the reconciler (finishing the claim or refund in progress), then the
// outbox relay, then NATS (waiting for handlers in flight, keeping the
// durable subscriptions), then MongoDB.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	return runWith(ctx, getenv, stdout, productionDeps())
}

// runWith is run with d in place of productionDeps.
func runWith(ctx context.Context, getenv func(string) string, stdout io.Writer, d deps) (err error) {
	cfg, err := readSettings(getenv)
	if err != nil {
		return err
	}
	a, err := app.Open(ctx, app.Config{Name: "payments", Process: cfg.Process, MongoURI: cfg.MongoURI,
		Database: defaultDatabase, NATS: &cfg.NATS}, stdout)
	if err != nil {
		return err
	}
	defer lifecycle.Close(&err, a.Close)

	relay, err := a.Relay(paymentdb.PaymentsCollection)
	if err != nil {
		return err
	}
	// The store holds the locks the relay takes to remove published events.
	store := paymentdb.New(a.DB, relay.Locks(), relay)
	if err := a.Retry(ctx, "create indexes", store.EnsureIndexes); err != nil {
		return err
	}
	stripeMetrics, err := metrics.NewStripe(a.Metrics)
	if err != nil {
		return err
	}
	settled, err := metrics.NewSettlement(a.Metrics)
	if err != nil {
		return err
	}
	payments := payment.NewService(store, d.charger(cfg, a.Log, stripeMetrics), payment.WithClock(d.clock),
		payment.WithChargeTimeout(cfg.ChargeTimeout), payment.WithChargeMargin(cfg.ChargeMargin), payment.WithObserver(settled))

	// The relay starts before the listeners and the API write anything, and
	// publishes whatever a previous process left pending.
	a.Go(ctx, relay.Run)
	if err := listener.Subscribe(ctx, a.Bus, d.ackWait, d.subjects(listener.New(payments, a.Log))); err != nil {
		return err
	}
	// The reconciler settles what crashes and Stripe's failures left
	// pending or unrefunded, also by a previous process.
	rec := reconciler.New(payments, cfg.ReconcileInterval, a.Log, settled)
	a.Go(ctx, rec.Run)

	handler := httpapi.Routes(httpapi.Deps{
		API:      a.API(),
		Payments: payments,
		Sessions: session.NewManager(cfg.JWTKey, cfg.SessionTTL, cfg.CookieSecure),
	})
	d.started(parts{db: a.DB, store: store, reconciler: rec, reg: a.Metrics})
	return a.Serve(ctx, handler, "database", a.DB.Name(), "stripe_api_base", cfg.StripeAPIBase)
}

// stripeCharger charges through Stripe with cfg's key, at its API base
// when it names one, counting the requests in m.
func stripeCharger(cfg settings, log *slog.Logger, m *metrics.Stripe) payment.Charger {
	opts := []charger.Option{charger.WithMetrics(m), charger.WithTimeout(min(charger.DefaultTimeout, cfg.ChargeTimeout))}
	if cfg.StripeAPIBase != "" {
		opts = append(opts, charger.WithBaseURL(cfg.StripeAPIBase))
	}
	return charger.New(cfg.StripeKey, log, opts...)
}
