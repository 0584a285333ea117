package bus_test

import (
	"context"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/stan.go/pb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

// operator is the user of the secured server's operator (bus.OperatorGrant).
const operator = "operator"

// securedBus starts a server of transport that admits only the services,
// each with its grant's permissions, and the operator.
func securedBus(t *testing.T, transport string) embedded.Bus {
	t.Helper()
	grants := bus.ServiceGrants()
	grants[operator] = bus.OperatorGrant()
	var users []embedded.NATSUser
	for name, g := range grants {
		p := g.PermissionsOn(transport, "ticketing")
		users = append(users, embedded.NATSUser{Name: name, Password: password(name), Publish: p.Publish, Subscribe: p.Subscribe})
	}
	n, err := embedded.StartBus(transport, embedded.NATSConfig{StoreDir: t.TempDir(), Users: users})
	require.NoError(t, err)
	t.Cleanup(n.Stop)
	return n
}

// eachSecuredBus runs test on a secured server of each transport.
func eachSecuredBus(t *testing.T, test func(t *testing.T, n embedded.Bus)) {
	for _, tr := range bus.Transports() {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			test(t, securedBus(t, tr))
		})
	}
}

func password(user string) string { return "pw-of-" + user }

// connectAs connects to n with user's credentials.
func connectAs(t *testing.T, n embedded.Bus, user string) *bus.Conn {
	t.Helper()
	cfg := testkit.BusConfig(n)
	cfg.User, cfg.Password = user, password(user)
	return connect(t, cfg)
}

var allSubjects = events.Subjects()

func TestPermissions_EachServicePublishesOnlyItsOwnSubjects(t *testing.T) {
	t.Parallel()
	eachSecuredBus(t, func(t *testing.T, n embedded.Bus) {
		for name, g := range bus.ServiceGrants() {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				conn := connectAs(t, n, name)
				for _, s := range allSubjects {
					start := time.Now()
					err := conn.Publish(t.Context(), string(s), []byte(`{}`))
					if slices.Contains(g.Publish, s) {
						assert.NoError(t, err, "%s publishes %s", name, s)
						continue
					}
					assert.ErrorIs(t, err, bus.ErrNotPermitted, "%s publishes %s", name, s)
					assert.Less(t, time.Since(start), 2*time.Second, "refused at once, not after the ack wait")
				}
			})
		}
	})
}

func TestPermissions_OperatorPublishesEverySubjectButConsumesNone(t *testing.T) {
	t.Parallel()
	eachSecuredBus(t, func(t *testing.T, n embedded.Bus) {
		conn := connectAs(t, n, operator)
		for _, s := range allSubjects {
			assert.NoError(t, conn.Publish(t.Context(), string(s), []byte(`{}`)), s)
		}
		err := bus.NewListener(conn, "operator", func(context.Context, events.PaymentCreated) error { return nil }).Listen(t.Context())
		assert.Error(t, err, "the subscription request is refused")
	})
}

// A free ticket: tickets' credentials publish payment:created, which
// orders would take for a paid order. The server refuses it, and orders
// gets only what payments publishes.
func TestPermissions_APaymentFromTicketsIsRefusedAndOneFromPaymentsDelivered(t *testing.T) {
	t.Parallel()
	eachSecuredBus(t, func(t *testing.T, n embedded.Bus) {
		got := make(chan events.PaymentCreated, 2)
		require.NoError(t, bus.NewListener(connectAs(t, n, "orders"), "orders-service", func(_ context.Context, e events.PaymentCreated) error {
			got <- e
			return nil
		}).Listen(t.Context()))

		forged := events.PaymentCreated{ID: "forged", OrderID: "o1", StripeID: "none"}
		err := bus.NewPublisher[events.PaymentCreated](connectAs(t, n, "tickets")).Publish(t.Context(), forged)
		require.ErrorIs(t, err, bus.ErrNotPermitted)
		paid := events.PaymentCreated{ID: "p1", OrderID: "o1", StripeID: "ch_1"}
		require.NoError(t, bus.NewPublisher[events.PaymentCreated](connectAs(t, n, "payments")).Publish(t.Context(), paid))

		select {
		case e := <-got:
			assert.Equal(t, paid, e)
		case <-time.After(5 * time.Second):
			t.Fatal("payments' event not delivered")
		}
		select {
		case e := <-got:
			t.Fatalf("delivered %+v too", e)
		case <-time.After(200 * time.Millisecond):
		}
	})
}

func TestPermissions_ClientsWithoutValidCredentialsAreRefused(t *testing.T) {
	t.Parallel()
	eachSecuredBus(t, func(t *testing.T, n embedded.Bus) {
		for name, cfg := range map[string]bus.Config{
			"no credentials": testkit.BusConfig(n),
			"wrong password": func() bus.Config {
				c := testkit.BusConfig(n)
				c.User, c.Password = "payments", password("tickets")
				return c
			}(),
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				defer cancel()
				_, err := bus.Connect(ctx, cfg, testkit.Logger(t))
				require.Error(t, err)
				assert.Contains(t, err.Error(), "Authorization Violation")
			})
		}
	})
}

// On JetStream a service consumes only the subjects of its grant: its
// consumer of any other is refused, by name and by filter.
func TestPermissions_OnJetStreamAServiceConsumesOnlyItsOwnSubjects(t *testing.T) {
	t.Parallel()
	n := securedBus(t, bus.JetStream)
	require.NotContains(t, bus.ServiceGrants()["expiration"].Consume, events.SubjectPaymentCreated)
	conn := connectAs(t, n, "expiration")
	err := bus.NewListener(conn, "expiration-service", func(context.Context, events.PaymentCreated) error { return nil }).Listen(t.Context())
	assert.ErrorIs(t, err, bus.ErrNotPermitted, "expiration's consumer of payment:created")
	err = bus.NewListener(conn, "orders-service", func(context.Context, events.PaymentCreated) error { return nil }).Listen(t.Context())
	assert.ErrorIs(t, err, bus.ErrNotPermitted, "expiration taking orders' consumer of payment:created")
	require.NoError(t, bus.NewListener(conn, "expiration-service", func(context.Context, events.OrderCreated) error { return nil }).Listen(t.Context()))
}

// The two tests below pin what NATS permissions cannot do for NATS
// Streaming (see Grant.Permissions): should an upgrade make either refuse,
// the permissions can be made tighter and these tests say so.

// Every subscription request goes to one subject, _STAN.sub.<cluster>,
// naming its channel inside the payload, and deliveries go to the
// client's inbox: the NATS server cannot tell one channel from another.
func TestPermissions_CannotKeepAConsumerToItsOwnSubjects(t *testing.T) {
	t.Parallel()
	n := securedBus(t, bus.STAN)
	require.NotContains(t, bus.ServiceGrants()["expiration"].Consume, events.SubjectPaymentCreated)
	got := make(chan events.PaymentCreated, 1)
	require.NoError(t, bus.NewListener(connectAs(t, n, "expiration"), "expiration-service", func(_ context.Context, e events.PaymentCreated) error {
		got <- e
		return nil
	}).Listen(t.Context()))

	require.NoError(t, bus.NewPublisher[events.PaymentCreated](connectAs(t, n, "payments")).Publish(t.Context(), events.PaymentCreated{ID: "p1"}))
	select {
	case e := <-got:
		assert.Equal(t, "p1", e.ID, "expiration's credentials read payment:created")
	case <-time.After(5 * time.Second):
		t.Fatal("the server now refuses a subscription outside the grant: tighten Grant.Permissions' documentation")
	}
}

// The server files a published message on the channel its payload names
// (processClientPublish in nats-streaming-server's server/server.go), not
// on the one in the NATS subject the permissions checked: a client that
// writes the protocol by hand publishes on any channel.
func TestPermissions_CannotStopAPayloadNamingAnotherChannel(t *testing.T) {
	t.Parallel()
	n := securedBus(t, bus.STAN)
	got := make(chan events.PaymentCreated, 1)
	require.NoError(t, bus.NewListener(connectAs(t, n, "orders"), "orders-service", func(_ context.Context, e events.PaymentCreated) error {
		got <- e
		return nil
	}).Listen(t.Context()))

	nc, err := nats.Connect(n.URL(), nats.UserInfo("tickets", password("tickets")))
	require.NoError(t, err)
	defer nc.Close()
	hb, err := nc.Subscribe(nats.NewInbox(), func(m *nats.Msg) { _ = m.Respond(nil) })
	require.NoError(t, err)
	defer func() { _ = hb.Unsubscribe() }()
	connID := []byte(rand.Text())
	req, err := (&pb.ConnectRequest{ClientID: "forger", HeartbeatInbox: hb.Subject, ConnID: connID, Protocol: 1}).Marshal()
	require.NoError(t, err)
	reply, err := nc.Request("_STAN.discover.ticketing", req, 2*time.Second)
	require.NoError(t, err)
	var cr pb.ConnectResponse
	require.NoError(t, cr.Unmarshal(reply.Data))
	require.Empty(t, cr.Error)

	msg, err := (&pb.PubMsg{
		ClientID: "forger", ConnID: connID, Guid: rand.Text(),
		Subject: string(events.SubjectPaymentCreated), Data: []byte(`{"id":"forged","orderId":"o1","stripeId":"none"}`),
	}).Marshal()
	require.NoError(t, err)
	ack, err := nc.Request(cr.PubPrefix+"."+string(events.SubjectTicketCreated), msg, 2*time.Second)
	require.NoError(t, err, "tickets may publish on ticket:created's NATS subject")
	var pa pb.PubAck
	require.NoError(t, pa.Unmarshal(ack.Data))
	require.Empty(t, pa.Error)

	select {
	case e := <-got:
		assert.Equal(t, "forged", e.ID, "a payment:created from tickets' credentials")
	case <-time.After(5 * time.Second):
		t.Fatal("the server now checks the channel against the subject: tighten Grant.Permissions' documentation")
	}
}
