package bus_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

func TestPublishAndListen(t *testing.T) {
	n := testkit.NATS(t)
	conn := testkit.Bus(t, n)
	got := make(chan events.TicketCreated, 1)
	require.NoError(t, bus.NewListener(conn, "orders-service", func(_ context.Context, e events.TicketCreated) error {
		got <- e
		return nil
	}).Listen(t.Context()))
	want := events.TicketCreated{ID: "t1", Title: "concert", Price: 1099, UserID: "u1"}
	require.NoError(t, bus.NewPublisher[events.TicketCreated](conn).Publish(t.Context(), want))
	require.Equal(t, want, <-got)
}

func TestMongoSmoke(t *testing.T) {
	db := testkit.DB(t)
	_, err := db.Collection("x").InsertOne(t.Context(), map[string]any{"a": 1})
	require.NoError(t, err)
	n, err := db.Collection("x").CountDocuments(t.Context(), map[string]any{})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
}

func TestMain(m *testing.M) { testkit.Main(m) }
