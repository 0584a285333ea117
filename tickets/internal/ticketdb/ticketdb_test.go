package ticketdb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/outbox/outboxtest"
	"ticketing.dev/common/testkit"
	"ticketing.dev/tickets/internal/ticket"
	"ticketing.dev/tickets/internal/ticketdb"
)

func TestMain(m *testing.M) { testkit.Main(m) }

type fixture struct {
	store *ticketdb.Store
	coll  *mongo.Collection
	relay *outboxtest.Handoff
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, testkit.DB(t))
}

func newFixtureOn(t *testing.T, db *mongo.Database) *fixture {
	t.Helper()
	f := &fixture{coll: db.Collection(ticketdb.Collection), relay: new(outboxtest.Handoff)}
	f.store = ticketdb.New(db, new(keylock.Locks), f.relay)
	require.NoError(t, f.store.EnsureIndexes(t.Context()))
	return f
}

// raw is a stored document as the relay and other readers see it.
type raw struct {
	Title            string           `bson:"title"`
	Price            int64            `bson:"price"`
	UserID           string           `bson:"userId"`
	Version          int64            `bson:"version"`
	OrderID          *string          `bson:"orderId"`
	Outbox           []outbox.Message `bson:"outbox"`
	ReleasedOrderIDs []string         `bson:"releasedOrderIds"`
}

func (f *fixture) raw(t *testing.T, id string) raw {
	t.Helper()
	oid, err := bson.ObjectIDFromHex(id)
	require.NoError(t, err)
	var r raw
	require.NoError(t, f.coll.FindOne(t.Context(), bson.D{{Key: "_id", Value: oid}}).Decode(&r))
	return r
}

func (f *fixture) insert(t *testing.T) ticket.Ticket {
	t.Helper()
	tk, err := f.store.Insert(t.Context(), ticket.Ticket{Title: "concert", Price: 1099, UserID: "u1"})
	require.NoError(t, err)
	return tk
}

func decode[E events.Event](t *testing.T, m outbox.Message) E {
	t.Helper()
	var e E
	require.Equal(t, string(e.Subject()), m.Subject)
	require.NoError(t, json.Unmarshal(m.Data, &e))
	return e
}

func TestInsert_StoresTheTicketWithItsCreatedEvent(t *testing.T) {
	f := newFixture(t)
	tk := f.insert(t)
	_, err := bson.ObjectIDFromHex(tk.ID)
	require.NoError(t, err, "id %q", tk.ID)
	assert.Equal(t, ticket.Ticket{ID: tk.ID, Title: "concert", Price: 1099, UserID: "u1"}, tk)

	r := f.raw(t, tk.ID)
	assert.Equal(t, int64(1099), r.Price, "price is stored in whole cents")
	assert.Nil(t, r.OrderID, "no orderId field while nobody holds the ticket")
	require.Len(t, r.Outbox, 1)
	assert.Equal(t, events.TicketCreated{ID: tk.ID, Title: "concert", Price: 1099, UserID: "u1"}, decode[events.TicketCreated](t, r.Outbox[0]))
	assert.Equal(t, r.Outbox, f.relay.Messages(tk.ID), "the relay is not handed the stored event")

	got, err := f.store.Get(t.Context(), tk.ID)
	require.NoError(t, err)
	assert.Equal(t, tk, got)
}

func TestGet_UnknownAndMalformedIDs(t *testing.T) {
	f := newFixture(t)
	_, err := f.store.Get(t.Context(), bson.NewObjectID().Hex())
	assert.ErrorIs(t, err, ticket.ErrNotFound)
	for _, id := range []string{"", "abc", `{"$gt":""}`, "zzzzzzzzzzzzzzzzzzzzzzzz"} {
		_, err = f.store.Get(t.Context(), id)
		assert.ErrorIs(t, err, ticket.ErrInvalidID, id)
	}
}

func reprice(p events.Money) ticket.Change {
	return func(t *ticket.Ticket) (bool, error) { t.Price = p; return true, nil }
}

func reserve(orderID string) ticket.Change {
	return func(t *ticket.Ticket) (bool, error) { return t.Reserve(orderID) }
}

func release(orderID string) ticket.Change {
	return func(t *ticket.Ticket) (bool, error) { return t.Release(orderID) }
}

// update applies change to ticket id and returns the ticket as stored.
func (f *fixture) update(t *testing.T, id string, change ticket.Change) ticket.Ticket {
	t.Helper()
	tk, changed, err := f.store.Update(t.Context(), id, change)
	require.NoError(t, err)
	require.True(t, changed)
	return tk
}

func TestUpdate_RaisesTheVersionByExactlyOneAndPushesTheEvent(t *testing.T) {
	f := newFixture(t)
	tk := f.insert(t)

	for want := int64(1); want <= 4; want++ {
		next := f.update(t, tk.ID, reprice(tk.Price+100))
		assert.Equal(t, want, next.Version)
		assert.Equal(t, want, f.raw(t, tk.ID).Version)
		tk = next
	}
	r := f.raw(t, tk.ID)
	require.Len(t, r.Outbox, 5, "nothing relays in this test: every event is still pending, in order")
	for i, m := range r.Outbox[1:] {
		e := decode[events.TicketUpdated](t, m)
		assert.EqualValues(t, i+1, e.Version)
		assert.Equal(t, events.Money(1099+100*(i+1)), e.Price)
	}
	assert.Equal(t, r.Outbox, f.relay.Messages(tk.ID), "the relay is not handed each stored event, in order")
}

// A change is judged against the ticket as stored, and one it refuses or
// that changes nothing writes nothing.
func TestUpdate_RefusedOrEmptyChangeStoresNothing(t *testing.T) {
	f := newFixture(t)
	tk := f.insert(t)
	f.update(t, tk.ID, reserve("o1"))

	got, changed, err := f.store.Update(t.Context(), tk.ID, reserve("o2"))
	assert.ErrorIs(t, err, ticket.ErrHeldByOtherOrder, "o1 holds the ticket as stored")
	assert.False(t, changed)
	assert.Equal(t, "o1", got.OrderID)

	got, changed, err = f.store.Update(t.Context(), tk.ID, reserve("o1"))
	require.NoError(t, err, "a redelivered reservation")
	assert.False(t, changed)
	assert.Equal(t, int64(1), got.Version)

	r := f.raw(t, tk.ID)
	assert.Equal(t, int64(1), r.Version)
	assert.Len(t, r.Outbox, 2, "no event for either")
	assert.Len(t, f.relay.Messages(tk.ID), 2)
	assert.Zero(t, f.relay.Notified())
}

// A write that fails may still have been applied by the server (a client
// timeout, a cancelled request), so the relay is told to look for its
// event rather than handed it.
func TestInsertAndUpdate_FailedWriteAsksTheRelayToLook(t *testing.T) {
	db, faults := testkit.FaultyDB(t)
	f := newFixtureOn(t, db)
	tk := f.insert(t)

	faults.Drop("insert", ticketdb.Collection)
	_, err := f.store.Insert(t.Context(), ticket.Ticket{Title: "concert", Price: 1099, UserID: "u1"})
	require.ErrorIs(t, err, testkit.ErrDropped)
	assert.Equal(t, 1, f.relay.Notified(), "after a failed insert")
	faults.Heal()

	faults.Drop("update", ticketdb.Collection)
	_, _, err = f.store.Update(t.Context(), tk.ID, reprice(1500))
	require.ErrorIs(t, err, testkit.ErrDropped)
	assert.Equal(t, 2, f.relay.Notified(), "after a failed update")
	assert.Len(t, f.relay.Messages(tk.ID), 1, "only the first insert's event was handed over")
	assert.Equal(t, 2, faults.Dropped())
}

func TestUpdate_UnknownOrMalformedTicket(t *testing.T) {
	f := newFixture(t)
	_, _, err := f.store.Update(t.Context(), bson.NewObjectID().Hex(), reprice(1))
	assert.ErrorIs(t, err, ticket.ErrNotFound)
	_, _, err = f.store.Update(t.Context(), "abc", reprice(1))
	assert.ErrorIs(t, err, ticket.ErrInvalidID)
}

// Racing changes of one ticket are applied one after the other, each to
// the last one's result: no change is lost, and one order's reservation
// wins.
func TestUpdate_RacingChangesApplyInTurn(t *testing.T) {
	f := newFixture(t)
	const racers = 8
	race := func(change func(i int) ticket.Change) (ticket.Ticket, []error) {
		tk := f.insert(t)
		errs := make([]error, racers)
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() { _, _, errs[i] = f.store.Update(context.Background(), tk.ID, change(i)) })
		}
		wg.Wait()
		return tk, errs
	}

	tk, errs := race(func(int) ticket.Change {
		return func(t *ticket.Ticket) (bool, error) { t.Price++; return true, nil }
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	r := f.raw(t, tk.ID)
	assert.Equal(t, int64(1099+racers), r.Price, "every change applied to the one before")
	assert.Equal(t, int64(racers), r.Version)
	assert.Len(t, r.Outbox, 1+racers)

	tk, errs = race(func(i int) ticket.Change { return reserve(fmt.Sprintf("o%d", i)) })
	var won []int
	for i, err := range errs {
		if err == nil {
			won = append(won, i)
			continue
		}
		assert.ErrorIs(t, err, ticket.ErrHeldByOtherOrder)
	}
	require.Len(t, won, 1)
	r = f.raw(t, tk.ID)
	require.NotNil(t, r.OrderID)
	assert.Equal(t, fmt.Sprintf("o%d", won[0]), *r.OrderID)
	assert.Equal(t, int64(1), r.Version)
	assert.Len(t, r.Outbox, 2)
}

func TestUpdate_ReservationAndReleaseAreStored(t *testing.T) {
	f := newFixture(t)
	tk := f.update(t, f.insert(t).ID, reserve("o1"))
	r := f.raw(t, tk.ID)
	require.NotNil(t, r.OrderID)
	assert.Equal(t, "o1", *r.OrderID)
	got, err := f.store.Get(t.Context(), tk.ID)
	require.NoError(t, err)
	assert.Equal(t, tk, got)

	tk = f.update(t, tk.ID, release("o1"))
	r = f.raw(t, tk.ID)
	assert.Nil(t, r.OrderID, "the orderId field is removed, not emptied")
	assert.Equal(t, []string{"o1"}, r.ReleasedOrderIDs)
	assert.Equal(t, "o1", decode[events.TicketUpdated](t, r.Outbox[1]).OrderID)
	assert.Empty(t, decode[events.TicketUpdated](t, r.Outbox[2]).OrderID)
	got, err = f.store.Get(t.Context(), tk.ID)
	require.NoError(t, err)
	assert.Equal(t, tk, got)
}

func TestAvailable_ListsUnreservedTicketsOldestFirst(t *testing.T) {
	f := newFixture(t)
	ts, more, err := f.store.Available(t.Context(), ticket.Page{})
	require.NoError(t, err)
	assert.NotNil(t, ts)
	assert.Empty(t, ts)
	assert.False(t, more)

	a, b, c := f.insert(t), f.insert(t), f.insert(t)
	f.update(t, b.ID, reserve("o1"))
	f.update(t, c.ID, reserve("o2"))
	f.update(t, c.ID, release("o2"))

	ts, more, err = f.store.Available(t.Context(), ticket.Page{})
	require.NoError(t, err)
	assert.Equal(t, []string{a.ID, c.ID}, ids(ts))
	assert.False(t, more, "a whole listing has nothing after it")
}

func TestAvailable_PagesInIDOrderSkippingReservedTickets(t *testing.T) {
	f := newFixture(t)
	var all []string
	for range 5 {
		all = append(all, f.insert(t).ID)
	}
	slices.Sort(all) // ObjectIDs of one process rise, but for a counter wrapping within a second
	f.update(t, all[3], reserve("o1"))
	available := []string{all[0], all[1], all[2], all[4]}

	cases := []struct {
		name string
		page ticket.Page
		want []string
		more bool
	}{
		{"first page", ticket.Page{Limit: 2}, available[:2], true},
		{"middle page ending before the reserved ticket", ticket.Page{After: all[1], Limit: 1}, available[2:3], true},
		{"last page skips the reserved ticket", ticket.Page{After: all[2], Limit: 2}, available[3:], false},
		{"page exactly as long as what is left", ticket.Page{After: all[1], Limit: 2}, available[2:], false},
		{"after the reserved ticket", ticket.Page{After: all[3], Limit: 2}, available[3:], false},
		{"after the last ticket", ticket.Page{After: all[4], Limit: 2}, []string{}, false},
		{"cursor without limit", ticket.Page{After: all[0]}, available[1:], false},
		{"limit beyond the listing", ticket.Page{Limit: 1000}, available, false},
		{"cursor in upper case", ticket.Page{After: strings.ToUpper(all[2])}, available[3:], false},
	}
	for _, c := range cases {
		ts, more, err := f.store.Available(t.Context(), c.page)
		require.NoError(t, err, c.name)
		assert.Equal(t, c.want, ids(ts), c.name)
		assert.Equal(t, c.more, more, c.name)
	}

	_, _, err := f.store.Available(t.Context(), ticket.Page{After: "not-an-id", Limit: 1})
	assert.ErrorIs(t, err, ticket.ErrInvalidID)
}

func ids(ts []ticket.Ticket) []string {
	out := make([]string, len(ts))
	for i, tk := range ts {
		out[i] = tk.ID
	}
	return out
}

func TestEnsureIndexes_IsIdempotent(t *testing.T) {
	f := newFixture(t)
	assert.NoError(t, f.store.EnsureIndexes(t.Context()))
}

func TestCountForSale_CountsTheSellersUnreservedTicketsUpToTheBound(t *testing.T) {
	f := newFixture(t)
	count := func(userID string, upTo int) int {
		t.Helper()
		n, err := f.store.CountForSale(t.Context(), userID, upTo)
		require.NoError(t, err)
		return n
	}
	assert.Zero(t, count("u1", 10))

	var mine []ticket.Ticket
	for range 4 {
		mine = append(mine, f.insert(t))
	}
	_, err := f.store.Insert(t.Context(), ticket.Ticket{Title: "another seller's", Price: 1099, UserID: "u2"})
	require.NoError(t, err)
	f.update(t, mine[0].ID, reserve("o1"))

	assert.Equal(t, 3, count("u1", 10), "the reserved ticket and the other seller's are left out")
	assert.Equal(t, 3, count("u1", 0), "0 counts them all")
	assert.Equal(t, 2, count("u1", 2), "the count stops at the bound")
	assert.Equal(t, 1, count("u2", 10))
	assert.Zero(t, count(`{"$ne":""}`, 10), "a user id is a value, never an operator")
}
