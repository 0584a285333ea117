package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
	"ticketing.dev/payments/internal/payment"
)

// The listeners are tested through a real NATS Streaming server: a nil
// result of a handler is an ack, an error a redelivery to come.

// nthResult waits until the events about the order have been handled n
// times, and returns what the handler returned the nth time; what names
// that nth event.
func (a *wired) nthResult(t *testing.T, orderID string, n int, what string) error {
	t.Helper()
	testkit.Eventually(t, func() bool { return len(a.handled.Of("", orderID)) == n }, "%s never handled", what)
	return a.handled.Of("", orderID)[n-1].Err
}

// assertReplica checks the status and version of the order's replica.
func (a *wired) assertReplica(t *testing.T, orderID, status string, version int64) {
	t.Helper()
	d, _ := a.replica(t, orderID)
	assert.Equal(t, status, d.Status)
	assert.Equal(t, version, d.Version)
}

func TestOrderCreated_ReplicatesTheOrderAndAcks(t *testing.T) {
	a := newApp(t)
	e := a.order(newID(), 2099)
	e.Version = 3

	publish(t, a.conn, e)

	testkit.Eventually(t, func() bool { return len(a.handled.Of("", e.ID)) > 0 }, "order:created never handled")
	assert.Equal(t, []testkit.Handling{{Subject: events.SubjectOrderCreated, ID: e.ID}}, a.handled.Of("", e.ID))
	d, ok := a.replica(t, e.ID)
	require.True(t, ok)
	assert.Equal(t, e.ID, d.ID.Hex())
	assert.Equal(t, e.UserID, d.UserID)
	assert.Equal(t, "created", d.Status)
	assert.Equal(t, int64(2099), d.Price, "in cents")
	assert.Equal(t, int64(3), d.Version)
	assert.True(t, e.ExpiresAt.Equal(d.ExpiresAt), "%s != %s", e.ExpiresAt, d.ExpiresAt)
}

func TestOrderCreated_RedeliveryIsAckedWithoutChange(t *testing.T) {
	a := newApp(t)
	o := a.created(t, a.order(newID(), 2099))
	a.cancelled(t, o)

	publish(t, a.conn, o)

	assert.NoError(t, a.nthResult(t, o.ID, 3, "redelivered order:created"))
	a.assertReplica(t, o.ID, "cancelled", 1)
}

func TestOrderCancelled_UpdatesTheStatusAndAcks(t *testing.T) {
	a := newApp(t)
	o := a.created(t, a.order(newID(), 2099))

	publish(t, a.conn, events.OrderCancelled{ID: o.ID, Version: 1, Ticket: events.TicketRef{ID: o.Ticket.ID}})

	assert.NoError(t, a.nthResult(t, o.ID, 2, "order:cancelled"))
	a.assertReplica(t, o.ID, "cancelled", 1)
}

func TestOrderCancelled_VersionAlreadyAppliedIsAcked(t *testing.T) {
	a := newApp(t)
	o := a.created(t, a.order(newID(), 2099))
	a.cancelled(t, o)

	a.cancelled(t, o)

	assert.NoError(t, a.nthResult(t, o.ID, 3, "second order:cancelled"))
}

// TestOrderCancelled_BeforeItsOrderIsNotAckedUntilItApplies publishes an
// order's cancellation before its creation, as two channels may deliver
// them: the cancellation is refused, and applied on a redelivery once the
// order is there.
func TestOrderCancelled_BeforeItsOrderIsNotAckedUntilItApplies(t *testing.T) {
	a := newApp(t)
	o := a.order(newID(), 2099)
	publish(t, a.conn, events.OrderCancelled{ID: o.ID, Version: 1, Ticket: events.TicketRef{ID: o.Ticket.ID}})
	testkit.Eventually(t, func() bool { return len(a.handled.Of("", o.ID)) > 0 }, "order:cancelled never handled")
	first := a.handled.Of("", o.ID)[0]
	assert.Equal(t, events.SubjectOrderCancelled, first.Subject)
	assert.ErrorIs(t, first.Err, payment.ErrOrderBehind, "not acked")

	publish(t, a.conn, o)

	a.waitVersion(t, o.ID, 1)
	// A handler's result is recorded when it returns, after its write.
	testkit.Eventually(t, func() bool {
		results := a.handled.Of("", o.ID)
		return results[len(results)-1].Subject == events.SubjectOrderCancelled
	}, "the redelivered order:cancelled never returned")
	d, _ := a.replica(t, o.ID)
	assert.Equal(t, "cancelled", d.Status)
	results := a.handled.Of("", o.ID)
	last := results[len(results)-1]
	assert.Equal(t, testkit.Handling{Subject: events.SubjectOrderCancelled, ID: o.ID}, last, "acked once applied")
}

func TestOrderCancelled_VersionFromTheFutureIsNotAcked(t *testing.T) {
	a := newApp(t)
	o := a.created(t, a.order(newID(), 2099))

	publish(t, a.conn, events.OrderCancelled{ID: o.ID, Version: 2, Ticket: events.TicketRef{ID: o.Ticket.ID}})

	assert.ErrorIs(t, a.nthResult(t, o.ID, 2, "order:cancelled"), payment.ErrOrderBehind)
	d, _ := a.replica(t, o.ID)
	assert.Equal(t, "created", d.Status)
}

func TestOrderEvents_ThatCanNeverApplyArePermanent(t *testing.T) {
	a := newApp(t)
	noBuyer := a.order("", 2099)
	badStatus := a.order(newID(), 2099)
	badStatus.Status = "bogus"

	publish(t, a.conn, events.OrderCreated{ID: "not-an-id", Status: events.StatusCreated, UserID: newID()})
	publish(t, a.conn, events.OrderCancelled{ID: "not-an-id", Version: 1})
	publish(t, a.conn, noBuyer)
	publish(t, a.conn, badStatus)

	testkit.Eventually(t, func() bool {
		return len(a.handled.Of("", "not-an-id")) == 2 && len(a.handled.Of("", noBuyer.ID)) == 1 && len(a.handled.Of("", badStatus.ID)) == 1
	}, "events never handled")
	for _, id := range []string{"not-an-id", noBuyer.ID, badStatus.ID} {
		for _, r := range a.handled.Of("", id) {
			assert.ErrorIs(t, r.Err, bus.ErrPermanent, "%s %s: for the dead letters at once", r.Subject, id)
		}
	}
	_, ok := a.replica(t, noBuyer.ID)
	assert.False(t, ok)
}
