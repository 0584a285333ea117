package orderdb_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/outbox/outboxtest"
	"ticketing.dev/common/testkit"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/orderdb"
)

// TestCommandShapes pins the commands of the store's operations that the
// floor of infra/bench copies, called as the service calls them
// (docs/bench/method.md).
func TestCommandShapes(t *testing.T) {
	db, rec := testkit.RecordCommands(t)
	ctx, request := t.Context(), testkit.Request(t)
	s := orderdb.New(db, new(keylock.Locks), new(outboxtest.Handoff))
	require.NoError(t, s.EnsureIndexes(ctx))
	now := time.Now()

	tk := order.Ticket{ID: bson.NewObjectID().Hex(), Title: "concert", Price: 2000}
	rec.Run(t, "AddTicket (ticket:created)", func() error { return s.AddTicket(ctx, tk) })
	rec.Run(t, "Ticket (POST /api/orders, before Create)", func() (err error) {
		tk, err = s.Ticket(request, tk.ID)
		return err
	})
	var o order.Order
	rec.Run(t, "Create (POST /api/orders)", func() (err error) {
		o, err = s.Create(request, order.Order{UserID: "buyer", Status: events.StatusCreated, ExpiresAt: now.Add(15 * time.Minute), TicketID: tk.ID}, tk)
		return err
	})
	tk.Version++
	rec.Run(t, "UpdateTicket (ticket:updated)", func() error { return s.UpdateTicket(ctx, tk) })
	rec.Run(t, "Update, paid (payment:created)", func() error {
		_, err := s.Update(ctx, o.ID, order.Pay)
		return err
	})
	rec.Run(t, "Update, found complete (expiration:complete of a paid order)", func() error {
		_, err := s.Update(ctx, o.ID, order.Expire(now.Add(time.Hour)))
		return err
	})

	tk = order.Ticket{ID: bson.NewObjectID().Hex(), Title: "concert", Price: 2000}
	require.NoError(t, s.AddTicket(ctx, tk))
	o, err := s.Create(request, order.Order{UserID: "buyer", Status: events.StatusCreated, ExpiresAt: now.Add(-time.Minute), TicketID: tk.ID}, tk)
	require.NoError(t, err)
	rec.Run(t, "Update, expired: cancelled and its claim deleted (expiration:complete)", func() error {
		_, err := s.Update(ctx, o.ID, order.Expire(now))
		return err
	})
	rec.Golden(t, "testdata/commands.golden")
}

// TestOrder_ReadsItsTicketByEquality: an order's ticket is read by
// {_id: id}, which FerretDB passes down to its backend's index, not by an
// $in of one id, for which it reads every ticket; a page of several
// orders reads their tickets by one $in.
func TestOrder_ReadsItsTicketByEquality(t *testing.T) {
	db, rec := testkit.RecordCommands(t)
	ctx := t.Context()
	s := orderdb.New(db, new(keylock.Locks), new(outboxtest.Handoff))
	require.NoError(t, s.EnsureIndexes(ctx))
	var ids []string
	for range 2 {
		tk := order.Ticket{ID: bson.NewObjectID().Hex(), Title: "concert", Price: 2000}
		require.NoError(t, s.AddTicket(ctx, tk))
		o, err := s.Create(testkit.Request(t),
			order.Order{UserID: "buyer", Status: events.StatusCreated, ExpiresAt: time.Now().Add(time.Minute), TicketID: tk.ID}, tk)
		require.NoError(t, err)
		ids = append(ids, o.ID)
	}
	ticketReads := func() []string {
		var shapes []string
		for _, c := range rec.Take() {
			if c.Name == "find" && c.Collection == "tickets" {
				shapes = append(shapes, c.Shape)
			}
		}
		return shapes
	}
	rec.Take()
	v, err := s.Order(ctx, ids[0])
	require.NoError(t, err)
	require.Equal(t, "concert", v.Ticket.Title)
	require.Equal(t, []string{"{filter:{_id:objectId}}"}, ticketReads())

	views, _, err := s.OrdersOf(ctx, "buyer", order.Page{Limit: 20})
	require.NoError(t, err)
	require.Len(t, views, 2)
	require.Equal(t, []string{"{filter:{_id:{$in:[objectId]}}}"}, ticketReads())
}
