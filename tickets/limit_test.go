package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
	"ticketing.dev/tickets/internal/ticket"
	"ticketing.dev/tickets/internal/ticketdb"
)

// startLimitedService runs the service letting a seller have at most
// maxForSale tickets for sale.
func startLimitedService(t *testing.T, maxForSale int) *service {
	t.Helper()
	n := testkit.NATS(t)
	e := testkit.ServiceEnv(testkit.MongoURI(t), n)
	e["MAX_UNSOLD_TICKETS"] = fmt.Sprint(maxForSale)
	return startServiceOn(t, e, n)
}

// countOf counts the tickets of userID in the database, sold or not.
func (s *service) countOf(t *testing.T, userID string) int64 {
	t.Helper()
	n, err := s.db.Collection(ticketdb.Collection).CountDocuments(context.Background(), bson.D{{Key: "userId", Value: userID}})
	require.NoError(t, err)
	return n
}

func TestCreate_ReservedTicketsDoNotCountTowardsTheLimit(t *testing.T) {
	t.Parallel()
	s := startLimitedService(t, 2)
	seller := newUserID()
	cookie := testkit.SignIn(t, seller)
	first := s.create(t, cookie, "first", "10")
	s.create(t, cookie, "second", "10")

	r := s.do(t, http.MethodPost, "/api/tickets", `{"title":"third","price":10}`, cookie)
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	assert.Equal(t, []errs.Detail{{Message: fmt.Sprintf(ticket.MsgTooManyForSale, 2)}}, r.errors(t))

	other := testkit.SignIn(t, newUserID())
	s.create(t, other, "another seller's", "10")

	// An order holds the first ticket: the seller has one for sale.
	order := bson.NewObjectID().Hex()
	reserve(t, s, first.ID, order)
	s.create(t, cookie, "third", "10")
	r = s.do(t, http.MethodPost, "/api/tickets", `{"title":"fourth","price":10}`, cookie)
	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)

	// The order is cancelled: the ticket is for sale again, which puts the
	// seller over the limit until one is sold; nothing more can be listed.
	publish(t, s, events.OrderCancelled{ID: order, Version: 1, Ticket: events.TicketRef{ID: first.ID}})
	eventuallyStored(t, s, first.ID, func(d stored) bool { return d.OrderID == nil })
	r = s.do(t, http.MethodPost, "/api/tickets", `{"title":"fourth","price":10}`, cookie)
	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	assert.EqualValues(t, 3, s.countOf(t, seller))
}

func TestCreate_RacingCreatesStopAtTheLimit(t *testing.T) {
	t.Parallel()
	const limit, racers = 4, 16
	s := startLimitedService(t, limit)
	seller := newUserID()
	cookie := testkit.SignIn(t, seller)
	s.create(t, cookie, "listed before the race", "10")

	created := raceCreates(t, cookie, racers, func(int) *service { return s })

	assert.Equal(t, limit-1, created, "exactly the room that was left")
	assert.EqualValues(t, limit, s.countOf(t, seller), "the seller's tickets stored")
	list, _ := s.listed(t, "/api/tickets")
	assert.Len(t, list, limit, "the listing holds them, and no more")
}

// TestCreate_RacingCreatesOnTwoReplicasStopAtTheLimit runs two instances of
// the service on one database, as Kubernetes runs two replicas, and races
// one seller's creates across them: each process serialises its own
// creates, so only the lock in the database keeps the two from counting
// the same room.
func TestCreate_RacingCreatesOnTwoReplicasStopAtTheLimit(t *testing.T) {
	t.Parallel()
	const limit, racers, rounds = 4, 16, 3
	n := testkit.NATS(t)
	uri := testkit.MongoURI(t)
	replica := func(clientID string) *service {
		return startServiceOn(t, testkit.ServiceEnv(uri, n, map[string]string{
			"MAX_UNSOLD_TICKETS": fmt.Sprint(limit),
			"NATS_CLIENT_ID":     clientID,
		}), n)
	}
	replicas := []*service{replica("tickets-a"), replica("tickets-b")}

	// Each round a new seller, so that every round starts with room.
	for round := range rounds {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			seller := newUserID()
			cookie := testkit.SignIn(t, seller)

			created := raceCreates(t, cookie, racers, func(i int) *service { return replicas[i%2] })

			assert.Equal(t, limit, created, "exactly the limit, from both replicas together")
			assert.EqualValues(t, limit, replicas[0].countOf(t, seller), "the seller's tickets stored")
		})
	}
	locks, err := replicas[0].db.Collection(ticketdb.SellerLocks).CountDocuments(t.Context(), bson.D{})
	require.NoError(t, err)
	assert.Zero(t, locks, "every create released its lock")
}

// raceCreates has racers creates by the seller of cookie start at once, the
// ith sent to the service via(i), and returns how many were created: each of
// the others must be refused with a 400.
func raceCreates(t *testing.T, cookie *http.Cookie, racers int, via func(i int) *service) (created int) {
	t.Helper()
	statuses := make([]int, racers)
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			r, err := via(i).try(http.MethodPost, "/api/tickets", fmt.Sprintf(`{"title":"racer %d","price":10}`, i), cookie)
			statuses[i], errs[i] = r.status, err
		})
	}
	close(start)
	wg.Wait()

	for i := range racers {
		require.NoError(t, errs[i])
		switch statuses[i] {
		case http.StatusCreated:
			created++
		case http.StatusBadRequest:
		default:
			t.Errorf("racer %d: status %d", i, statuses[i])
		}
	}
	return created
}

func TestRun_RefusesAMalformedTicketLimit(t *testing.T) {
	for _, v := range []string{"-1", "many", "1.5"} {
		e := map[string]string{
			"JWT_KEY":            testkit.JWTKey,
			"MONGO_URI":          "mongodb://127.0.0.1:1/tickets",
			"NATS_URL":           "nats://127.0.0.1:1",
			"NATS_CLUSTER_ID":    "ticketing",
			"NATS_CLIENT_ID":     "tickets-1",
			"MAX_UNSOLD_TICKETS": v,
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err := run(ctx, testkit.Getenv(e), testkit.Output(t))
		cancel()
		require.Error(t, err, v)
		assert.Contains(t, err.Error(), "MAX_UNSOLD_TICKETS", v)
	}
}
