package orderdb_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/orderdb"
)

func TestOrdersOf_PagesTheUsersOrdersInIDOrder(t *testing.T) {
	f := newFixture(t)
	var mine []string
	for i := range 5 {
		v, err := f.orders.Place(t.Context(), "buyer", f.ticket(t, "concert", 1000).ID)
		require.NoError(t, err)
		mine = append(mine, v.ID)
		if i == 2 {
			_, err := f.orders.Place(t.Context(), "someone else", f.ticket(t, "concert", 1000).ID)
			require.NoError(t, err)
		}
	}
	slices.Sort(mine) // ObjectIDs of one process rise, but for a counter wrapping within a second

	cases := []struct {
		name string
		page order.Page
		want []string
		more bool
	}{
		{"whole", order.Page{}, mine, false},
		{"first page", order.Page{Limit: 2}, mine[:2], true},
		{"middle page", order.Page{After: mine[1], Limit: 2}, mine[2:4], true},
		{"page exactly as long as what is left", order.Page{After: mine[2], Limit: 2}, mine[3:], false},
		{"last page", order.Page{After: mine[3], Limit: 2}, mine[4:], false},
		{"after the last order", order.Page{After: mine[4], Limit: 2}, []string{}, false},
		{"cursor without limit", order.Page{After: mine[0]}, mine[1:], false},
	}
	for _, c := range cases {
		vs, more, err := f.store.OrdersOf(t.Context(), "buyer", c.page)
		require.NoError(t, err, c.name)
		got := make([]string, len(vs))
		for i, v := range vs {
			got[i] = v.ID
			assert.Equal(t, "buyer", v.UserID, c.name)
			assert.NotEmpty(t, v.Ticket.ID, c.name)
		}
		assert.Equal(t, c.want, got, c.name)
		assert.Equal(t, c.more, more, c.name)
	}

	_, _, err := f.store.OrdersOf(t.Context(), "buyer", order.Page{After: "not-an-id", Limit: 1})
	assert.ErrorIs(t, err, order.ErrInvalidID)
}

func TestEnsureIndexes_ReplacesTheUserIDIndexWithOneThatPages(t *testing.T) {
	f := newFixture(t)
	orders := f.db.Collection(orderdb.OrdersCollection)
	// What EnsureIndexes created before orders were paged.
	_, err := orders.Indexes().CreateOne(t.Context(), mongo.IndexModel{
		Keys:    bson.D{{Key: "userId", Value: 1}},
		Options: options.Index().SetName("userId"),
	})
	require.NoError(t, err)

	require.NoError(t, f.store.EnsureIndexes(t.Context()))
	require.NoError(t, f.store.EnsureIndexes(t.Context()))

	specs, err := orders.Indexes().ListSpecifications(t.Context())
	require.NoError(t, err)
	keys := map[string][]string{}
	for _, s := range specs {
		elems, err := s.KeysDocument.Elements()
		require.NoError(t, err)
		for _, e := range elems {
			keys[s.Name] = append(keys[s.Name], e.Key())
		}
	}
	// Other indexes, such as the outbox relay's, are not the store's business.
	assert.Equal(t, []string{"userId", "_id"}, keys["userId_id"])
	assert.Equal(t, []string{"status", "expiresAt"}, keys["status_expiresAt"])
	assert.NotContains(t, keys, "userId", "the superseded index is dropped")
}
