package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

// fullRunEnv is a complete configuration whose servers do not exist.
func fullRunEnv() map[string]string {
	return map[string]string{
		"JWT_KEY":         testkit.JWTKey,
		"MONGO_URI":       "mongodb://127.0.0.1:1/tickets",
		"NATS_URL":        "nats://127.0.0.1:1",
		"NATS_CLUSTER_ID": "ticketing",
		"NATS_CLIENT_ID":  "tickets-1",
	}
}

func TestRun_MissingConfigurationStopsStartUpNamingIt(t *testing.T) {
	full := fullRunEnv()
	for name := range full {
		t.Run(name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range full {
				if k != name {
					e[k] = v
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			err := run(ctx, testkit.Getenv(e), testkit.Output(t))
			require.Error(t, err)
			assert.Contains(t, err.Error(), name+" must be defined")
			assert.NoError(t, ctx.Err(), "stopped at once, without trying to connect")
		})
	}
}

func TestRun_BadConfigurationStopsStartUpNamingIt(t *testing.T) {
	tests := []struct {
		name, variable, value, want string
	}{
		{"JWT_KEY of 31 bytes", "JWT_KEY", testkit.JWTKey[:31], "JWT_KEY must be at least 32 bytes"},
		{"LOG_LEVEL unknown", "LOG_LEVEL", "loud", "LOG_LEVEL must be debug, info, warn or error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := fullRunEnv()
			e[tt.variable] = tt.value
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()

			err := run(ctx, testkit.Getenv(e), testkit.Output(t))

			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NoError(t, ctx.Err(), "stopped at once, without trying to connect")
		})
	}
}

func TestRun_HealthAndReadiness(t *testing.T) {
	t.Parallel()
	s := startService(t)
	r := s.do(t, http.MethodGet, "/healthz", "", nil)
	assert.Equal(t, http.StatusOK, r.status)
	r = s.do(t, http.MethodGet, "/readyz", "", nil)
	assert.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"mongo":"ok","nats":"ok"}`, string(r.body))
}

func TestRun_StopsGracefullyWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	s := startService(t)
	s.Stop()
	assert.NoError(t, s.Wait(t, 30*time.Second))
}

// A service that can no longer hear orders must stop, to be restarted,
// rather than stay up half alive. The bus gives up after about 10 s.
func TestRun_StopsWithAnErrorWhenNATSIsLostForGood(t *testing.T) {
	t.Parallel()
	s := startService(t)
	s.nats.Stop()

	testkit.Eventually(t, func() bool {
		r, err := s.try(http.MethodGet, "/readyz", "", nil)
		return err == nil && r.status == http.StatusServiceUnavailable
	}, "readyz reports NATS down")
	err := s.Wait(t, 30*time.Second)
	assert.ErrorIs(t, err, bus.ErrConnectionLost)
}

// A price edit and a reservation of one ticket, racing, both take effect,
// or the edit is refused because the ticket was reserved first; neither
// is ever overwritten by the other.
func TestRun_ConcurrentEditAndReservationLoseNothing(t *testing.T) {
	t.Parallel()
	s := startService(t)
	updated := testkit.Observe[events.TicketUpdated](t, s.nats)
	orders := s.publisher(t)
	cookie := testkit.SignIn(t, newUserID())

	const rounds = 20
	type outcome struct {
		id, order string
		edited    bool
	}
	outcomes := make([]outcome, rounds)
	for i := range rounds {
		tk := s.create(t, cookie, fmt.Sprint("concert ", i), "20")
		order := bson.NewObjectID().Hex()
		var (
			wg     sync.WaitGroup
			put    response
			putErr error
			pubErr error
		)
		start := make(chan struct{})
		// Each side starts a little late in turn, so that the rounds cover
		// the edit first, the reservation first, and both reading the same
		// version.
		jitter := time.Duration(rand.IntN(12000)) * time.Microsecond
		wg.Go(func() {
			<-start
			if i%2 == 0 {
				time.Sleep(jitter)
			}
			put, putErr = s.try(http.MethodPut, "/api/tickets/"+tk.ID, `{"title":"concert","price":99.99}`, cookie)
		})
		wg.Go(func() {
			<-start
			if i%2 == 1 {
				time.Sleep(jitter)
			}
			pubErr = bus.NewPublisher[events.OrderCreated](orders).Publish(context.Background(), events.OrderCreated{
				ID: order, Status: events.StatusCreated, UserID: newUserID(),
				ExpiresAt: events.NewTime(time.Now().Add(time.Minute)),
				Ticket:    events.OrderTicket{ID: tk.ID, Price: 2000},
			})
		})
		close(start)
		wg.Wait()
		require.NoError(t, putErr)
		require.NoError(t, pubErr)

		doc := eventuallyStored(t, s, tk.ID, func(d stored) bool { return d.OrderID != nil })
		assert.Equal(t, order, *doc.OrderID, "round %d: the reservation is kept", i)
		switch put.status {
		case http.StatusOK:
			assert.Equal(t, int64(9999), doc.Price, "round %d: the edit is kept", i)
			assert.Equal(t, int64(2), doc.Version, "round %d", i)
		case http.StatusBadRequest:
			assert.JSONEq(t, `{"errors":[{"message":"Cannot edit a reserved ticket"}]}`, string(put.body), "round %d", i)
			assert.Equal(t, int64(2000), doc.Price, "round %d", i)
			assert.Equal(t, int64(1), doc.Version, "round %d", i)
		default:
			t.Fatalf("round %d: PUT answered %d %s", i, put.status, put.body)
		}
		outcomes[i] = outcome{tk.ID, order, put.status == http.StatusOK}
	}

	// Every change was announced once, in version order per ticket, and the
	// last announcement of each ticket carries both changes.
	want := 0
	for _, o := range outcomes {
		want++
		if o.edited {
			want++
		}
	}
	last := map[string]events.TicketUpdated{}
	for range want {
		e := testkit.Next(t, updated)
		prev, seen := last[e.ID]
		if seen {
			assert.Equal(t, prev.Version+1, e.Version, "ticket %s announced out of order", e.ID)
		} else {
			assert.Equal(t, int64(1), e.Version, "ticket %s", e.ID)
		}
		last[e.ID] = e
	}
	edited := 0
	for _, o := range outcomes {
		e := last[o.id]
		assert.Equal(t, o.order, e.OrderID)
		if o.edited {
			edited++
			assert.Equal(t, int64(2), e.Version)
			assert.Equal(t, events.Money(9999), e.Price)
		} else {
			assert.Equal(t, int64(1), e.Version)
			assert.Equal(t, events.Money(2000), e.Price)
		}
	}
	t.Logf("%d of %d edits won the race against the reservation", edited, rounds)
}

// While NATS Streaming is down the API keeps working; the events follow,
// in order, once it is back.
func TestRun_NATSDownWritesSucceedAndEventsFollowInOrder(t *testing.T) {
	t.Parallel()
	s := startService(t)
	user := newUserID()
	cookie := testkit.SignIn(t, user)
	s.nats.Stop()

	tk := s.create(t, cookie, "concert", "20")
	r := s.do(t, http.MethodPut, "/api/tickets/"+tk.ID, `{"title":"concert","price":25.5}`, cookie)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Len(t, s.stored(t, tk.ID).Outbox, 2, "both events wait in the ticket's outbox")

	require.NoError(t, s.nats.Start())
	created := testkit.Observe[events.TicketCreated](t, s.nats)
	updated := testkit.Observe[events.TicketUpdated](t, s.nats)
	assert.Equal(t, events.TicketCreated{ID: tk.ID, Version: 0, Title: "concert", Price: 2000, UserID: user}, testkit.Next(t, created))
	assert.Equal(t, events.TicketUpdated{ID: tk.ID, Version: 1, Title: "concert", Price: 2550, UserID: user}, testkit.Next(t, updated))
	eventuallyPublished(t, s, tk.ID)
	s.WaitReady(t)
}

// A process killed after storing a ticket but before publishing its event
// loses nothing: the next process publishes it.
func TestRun_KilledBetweenWriteAndPublishLosesNothing(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	uri := testkit.MongoURI(t)
	e := testkit.ServiceEnv(uri, n)

	e["PORT"] = testkit.FreePort(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := testkit.Output(t)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	var exitErr error
	go func() {
		defer close(exited)
		exitErr = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	child := &service{Service: &testkit.Service{URL: "http://127.0.0.1:" + e["PORT"]}, nats: n, db: database(t, uri)}
	testkit.WaitReady(t, child.URL+"/readyz", func() error {
		select {
		case <-exited:
			return fmt.Errorf("service process exited while starting: %v", exitErr)
		default:
			return nil
		}
	})

	n.Stop()
	user := newUserID()
	tk := child.create(t, testkit.SignIn(t, user), "concert", "10.99")
	require.Len(t, child.stored(t, tk.ID).Outbox, 1, "the event is pending")
	require.NoError(t, cmd.Process.Kill())
	<-exited
	assert.Len(t, child.stored(t, tk.ID).Outbox, 1, "and still is after the crash")

	require.NoError(t, n.Start())
	created := testkit.Observe[events.TicketCreated](t, n)
	s := startServiceOn(t, testkit.ServiceEnv(uri, n), n)
	assert.Equal(t, events.TicketCreated{ID: tk.ID, Version: 0, Title: "concert", Price: 1099, UserID: user}, testkit.Next(t, created))
	eventuallyPublished(t, s, tk.ID)
}

// Racing edits of one ticket are each applied to the result of the one
// before: a writer loses a race only to another writer's success, so with
// as many attempts as writers every edit gets through.
func TestRun_ConcurrentEditsByTheOwnerAreAllApplied(t *testing.T) {
	t.Parallel()
	s := startService(t)
	cookie := testkit.SignIn(t, newUserID())
	tk := s.create(t, cookie, "concert", "20")

	const editors = 3
	var wg sync.WaitGroup
	results := make(chan response, editors)
	for i := range editors {
		wg.Go(func() {
			r, err := s.try(http.MethodPut, "/api/tickets/"+tk.ID, fmt.Sprintf(`{"title":"edit %d","price":%d}`, i, 30+i), cookie)
			if err != nil {
				r = response{body: []byte(err.Error())}
			}
			results <- r
		})
	}
	wg.Wait()
	close(results)
	for r := range results {
		assert.Equal(t, http.StatusOK, r.status, "%s", r.body)
	}
	doc := s.stored(t, tk.ID)
	assert.Equal(t, int64(editors), doc.Version, "every edit raised the version by exactly one")
	assert.True(t, strings.HasPrefix(doc.Title, "edit "))
}
