package ticketdb_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/keylock"
	"ticketing.dev/common/outbox/outboxtest"
	"ticketing.dev/common/testkit"
	"ticketing.dev/tickets/internal/ticket"
	"ticketing.dev/tickets/internal/ticketdb"
)

// TestCommandShapes pins the commands of the store's operations that the
// floor of infra/bench copies, called as the service calls them
// (docs/bench/method.md).
func TestCommandShapes(t *testing.T) {
	db, rec := testkit.RecordCommands(t)
	ctx, request := t.Context(), testkit.Request(t)
	s := ticketdb.New(db, new(keylock.Locks), new(outboxtest.Handoff))
	require.NoError(t, s.EnsureIndexes(ctx))

	var tk ticket.Ticket
	rec.Run(t, "Insert (POST /api/tickets)", func() (err error) {
		tk, err = s.Insert(request, ticket.Ticket{Title: "concert", Price: 2000, UserID: "seller"})
		return err
	})
	rec.Run(t, "Get (GET /api/tickets/:id)", func() (err error) {
		tk, err = s.Get(ctx, tk.ID)
		return err
	})
	rec.Run(t, "Available (GET /api/tickets)", func() error {
		_, _, err := s.Available(ctx, ticket.Page{})
		return err
	})
	rec.Run(t, "Available, a page of 50 (GET /api/tickets?limit=50)", func() error {
		_, _, err := s.Available(ctx, ticket.Page{Limit: 50})
		return err
	})
	orderID := bson.NewObjectID().Hex()
	rec.Run(t, "Update, reserved (order:created): read and written under the ticket's lock", func() error {
		_, _, err := s.Update(ctx, tk.ID, func(t *ticket.Ticket) (bool, error) { return t.Reserve(orderID) })
		return err
	})
	rec.Run(t, "Update, released (order:cancelled)", func() error {
		_, _, err := s.Update(ctx, tk.ID, func(t *ticket.Ticket) (bool, error) { return t.Release(orderID) })
		return err
	})
	rec.Golden(t, "testdata/commands.golden")
}
