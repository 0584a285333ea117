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
	"net"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/config"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/session"
	"ticketing.dev/common/web"
	"ticketing.dev/payments/internal/charger"
	"ticketing.dev/payments/internal/httpapi"
	"ticketing.dev/payments/internal/listener"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/paymentdb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "payments:", err)
		os.Exit(1)
	}
}

// defaultDatabase is used when MONGO_URI names no database.
const defaultDatabase = "payments"

// disconnectTimeout bounds the wait for MongoDB at shutdown.
const disconnectTimeout = 10 * time.Second

// settings is the service's whole configuration, read once.
type settings struct {
	config.HTTP
	NATS config.NATS
	// StripeKey is the secret key of the Stripe account charged into.
	StripeKey string
	// StripeAPIBase, when set, replaces Stripe's API URL, such as by
	// stripe-mock's in tests and the local stack.
	StripeAPIBase string
}

func readSettings(getenv func(string) string) (settings, error) {
	env := config.NewEnv(getenv)
	s := settings{
		HTTP:          config.ReadHTTP(env),
		NATS:          config.ReadNATS(env),
		StripeKey:     env.Required("STRIPE_KEY"),
		StripeAPIBase: env.String("STRIPE_API_BASE", ""),
	}
	err := env.Err()
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

// run serves the payments API and consumes the service's events until ctx
// is done or the NATS Streaming connection is lost for good, then shuts
// down: HTTP first (finishing payments in flight), then the outbox relay,
// then NATS (waiting for handlers in flight, keeping the durable
// subscriptions), then MongoDB.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) (err error) {
	cfg, err := readSettings(getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel})).With("service", "payments")

	client, db, err := mongodb.Connect(cfg.MongoURI, defaultDatabase)
	if err != nil {
		return err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), disconnectTimeout)
		defer cancel()
		if derr := client.Disconnect(dctx); derr != nil {
			err = errors.Join(err, fmt.Errorf("disconnect mongo: %w", derr))
		}
	}()

	conn, err := bus.Connect(ctx, bus.Config{URL: cfg.NATS.URL, ClusterID: cfg.NATS.ClusterID, ClientID: cfg.NATS.ClientID}, log)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := conn.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()

	// The store and the relay share the payments' locks: the relay takes a
	// payment's lock to remove its published event.
	locks := &keylock.Locks{}
	relay := outbox.NewRelay(db.Collection(paymentdb.PaymentsCollection), conn, locks, log)
	store := paymentdb.New(db, locks, relay.Notify)
	if err := store.EnsureIndexes(ctx); err != nil {
		return err
	}
	var chargerOpts []charger.Option
	if cfg.StripeAPIBase != "" {
		chargerOpts = append(chargerOpts, charger.WithBaseURL(cfg.StripeAPIBase))
	}
	payments := payment.NewService(store, charger.New(cfg.StripeKey, log, chargerOpts...))

	// serveCtx ends serving when ctx is done, the connection is lost or the
	// relay fails; stop records which.
	serveCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)

	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	relayDone := make(chan struct{})
	go func() {
		defer close(relayDone)
		if rerr := relay.Run(relayCtx); rerr != nil {
			stop(fmt.Errorf("outbox relay: %w", rerr))
		}
	}()
	defer func() {
		stopRelay()
		<-relayDone
	}()
	go func() {
		select {
		case <-conn.Lost():
			stop(conn.Err())
		case <-serveCtx.Done():
		}
	}()

	if err := listener.New(payments, log).Listen(ctx, conn, bus.DefaultAckWait); err != nil {
		return err
	}
	handler := httpapi.Routes(httpapi.Deps{
		Payments: payments,
		Sessions: session.NewManager(cfg.JWTKey, cfg.SessionTTL, cfg.CookieSecure),
		Log:      log,
		Checks: map[string]web.Check{
			"mongo": mongodb.Ping(db),
			"nats":  conn.Ping,
		},
	})

	ln, err := net.Listen("tcp", ":"+cfg.Port)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("starting", "database", db.Name(), "stripe_api_base", cfg.StripeAPIBase)
	if err := web.Serve(serveCtx, ln, handler, log); err != nil {
		return err
	}
	if cause := context.Cause(serveCtx); ctx.Err() == nil && cause != nil {
		return cause
	}
	return nil
}
