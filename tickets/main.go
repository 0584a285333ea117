// Command tickets is the ticketing tickets service: sellers list and edit
// tickets, anyone browses them, and orders lock and release them through
// events.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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
	"ticketing.dev/tickets/internal/httpapi"
	"ticketing.dev/tickets/internal/listener"
	"ticketing.dev/tickets/internal/ticket"
	"ticketing.dev/tickets/internal/ticketdb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tickets:", err)
		os.Exit(1)
	}
}

// defaultDatabase is used when MONGO_URI names no database.
const defaultDatabase = "tickets"

// disconnectTimeout bounds the wait for MongoDB at shutdown.
const disconnectTimeout = 10 * time.Second

// settings is the service's whole configuration, read once.
type settings struct {
	config.HTTP
	NATS config.NATS
}

func readSettings(getenv func(string) string) (settings, error) {
	env := config.NewEnv(getenv)
	s := settings{HTTP: config.ReadHTTP(env), NATS: config.ReadNATS(env)}
	if err := env.Err(); err != nil {
		return settings{}, err
	}
	return s, nil
}

// run serves the tickets API and applies order events until ctx is done or
// the NATS Streaming connection is lost for good, then shuts down in the
// reverse order of start: HTTP, the outbox relay, NATS, MongoDB.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) (err error) {
	cfg, err := readSettings(getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel})).With("service", "tickets")

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

	conn, err := bus.Connect(ctx, bus.Config{
		URL:       cfg.NATS.URL,
		ClusterID: cfg.NATS.ClusterID,
		ClientID:  cfg.NATS.ClientID,
	}, log)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := conn.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()

	locks := new(keylock.Locks)
	relay := outbox.NewRelay(db.Collection(ticketdb.Collection), conn, locks, log)
	store := ticketdb.New(db, locks, relay.Notify)
	if err := store.EnsureIndexes(ctx); err != nil {
		return err
	}
	tickets := ticket.NewService(store)

	// The relay starts before the listeners and the API write anything, and
	// publishes whatever a previous process left pending.
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	relayDone := make(chan struct{})
	var relayErr error
	go func() {
		defer close(relayDone)
		relayErr = relay.Run(relayCtx)
	}()
	defer func() {
		stopRelay()
		<-relayDone
		if relayErr != nil {
			err = errors.Join(err, fmt.Errorf("outbox relay: %w", relayErr))
		}
	}()

	if err := listener.Listen(ctx, conn, tickets, log); err != nil {
		return err
	}

	handler := httpapi.Routes(httpapi.Deps{
		Tickets:  tickets,
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

	// Serving stops when ctx is done, and also when NATS Streaming is gone
	// for good or the relay has stopped: a service that can no longer hear
	// orders or announce its changes must be restarted rather than stay up
	// half alive.
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	go func() {
		select {
		case <-conn.Lost():
		case <-relayDone:
		case <-serveCtx.Done():
		}
		stopServing()
	}()
	log.Info("starting", "database", db.Name(), "nats_client_id", cfg.NATS.ClientID)
	if err := web.Serve(serveCtx, ln, handler, log); err != nil {
		return err
	}
	if err := conn.Err(); err != nil {
		return err
	}
	return nil
}
