// Command tickets is the ticketing tickets service: sellers list and edit
// tickets, anyone browses them, and orders lock and release them through
// events.
package main

import (
	"context"
	"io"
	"time"

	"ticketing.dev/common/app"
	"ticketing.dev/common/bus"
	"ticketing.dev/common/config"
	"ticketing.dev/common/lifecycle"
	"ticketing.dev/common/session"
	"ticketing.dev/tickets/internal/httpapi"
	"ticketing.dev/tickets/internal/listener"
	"ticketing.dev/tickets/internal/ticket"
	"ticketing.dev/tickets/internal/ticketdb"
)

func main() { lifecycle.Main("tickets", run) }

// defaultDatabase is used when MONGO_URI names no database.
const defaultDatabase = "tickets"

// defaultMaxForSale is how many tickets one seller may have for sale at
// once unless MAX_UNSOLD_TICKETS says otherwise: plenty for a person or a
// box office, and a bound on what one account can add to the listing.
const defaultMaxForSale = 100

// settings is the service's whole configuration, read once.
type settings struct {
	config.HTTP
	NATS config.NATS
	// MaxForSale bounds the tickets one seller has for sale; 0 for none.
	MaxForSale int
}

func readSettings(getenv func(string) string) (settings, error) {
	env := config.NewEnv(getenv)
	s := settings{
		HTTP:       config.ReadHTTP(env),
		NATS:       config.ReadNATS(env),
		MaxForSale: env.Int("MAX_UNSOLD_TICKETS", defaultMaxForSale),
	}
	if err := env.Err(); err != nil {
		return settings{}, err
	}
	return s, nil
}

// deps are what run takes from outside its environment. run uses
// productionDeps; tests start the service with their own, to shorten the
// ack wait and watch its handlers.
type deps struct {
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
	tickets *ticket.Service
	store   *ticketdb.Store
}

// productionDeps are run's: the bus's ack wait and the handlers as they
// are.
func productionDeps() deps {
	return deps{
		ackWait:  bus.DefaultAckWait,
		subjects: func(h *listener.Handlers) listener.Subjects { return h },
		started:  func(parts) {},
	}
}

// run serves the tickets API and applies order events until ctx is done or
// the NATS Streaming connection is lost for good, then shuts down in the
// reverse order of start: HTTP, the outbox relay, NATS, MongoDB.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	return runWith(ctx, getenv, stdout, productionDeps())
}

// runWith is run with d in place of productionDeps.
func runWith(ctx context.Context, getenv func(string) string, stdout io.Writer, d deps) (err error) {
	cfg, err := readSettings(getenv)
	if err != nil {
		return err
	}
	a, err := app.Open(ctx, app.Config{Name: "tickets", Process: cfg.Process, MongoURI: cfg.MongoURI,
		Database: defaultDatabase, NATS: &cfg.NATS}, stdout)
	if err != nil {
		return err
	}
	defer lifecycle.Close(&err, a.Close)

	relay, err := a.Relay(ticketdb.Collection)
	if err != nil {
		return err
	}
	// The store holds the locks the relay takes to remove published events.
	store := ticketdb.New(a.DB, relay.Locks(), relay)
	if err := a.Retry(ctx, "create indexes", store.EnsureIndexes); err != nil {
		return err
	}
	tickets := ticket.NewService(store, cfg.MaxForSale)

	// The relay starts before the listeners and the API write anything, and
	// publishes whatever a previous process left pending.
	a.Go(ctx, relay.Run)
	if err := listener.Subscribe(ctx, a.Bus, d.ackWait, d.subjects(listener.New(tickets, a.Log))); err != nil {
		return err
	}

	handler := httpapi.Routes(httpapi.Deps{
		API:      a.API(),
		Tickets:  tickets,
		Sessions: session.NewManager(cfg.JWTKey, cfg.SessionTTL, cfg.CookieSecure),
	})
	d.started(parts{tickets: tickets, store: store})
	return a.Serve(ctx, handler, "database", a.DB.Name(), "nats_client_id", cfg.NATS.ClientID)
}
