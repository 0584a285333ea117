package ticketdb_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/keylock"
	"ticketing.dev/common/outbox/outboxtest"
	"ticketing.dev/tickets/internal/ticketdb"
)

// processes returns a store per process of the service on one database,
// each with its own in-process locks, as replicas have.
func processes(t *testing.T, db *mongo.Database, n int, opts ...ticketdb.Option) []*ticketdb.Store {
	t.Helper()
	stores := make([]*ticketdb.Store, n)
	for i := range stores {
		stores[i] = ticketdb.New(db, new(keylock.Locks), new(outboxtest.Handoff), opts...)
	}
	return stores
}

type unlockFunc = func(context.Context) error

// lockIn runs LockSeller in a goroutine and hands over its unlock.
func lockIn(ctx context.Context, s *ticketdb.Store, seller string) <-chan unlockFunc {
	got := make(chan unlockFunc, 1)
	go func() {
		unlock, err := s.LockSeller(ctx, seller)
		if err == nil {
			got <- unlock
		}
		close(got)
	}()
	return got
}

func TestLockSeller_HoldsOffAnotherProcessUntilUnlocked(t *testing.T) {
	db := newFixture(t).coll.Database()
	ps := processes(t, db, 2)
	unlock, err := ps[0].LockSeller(t.Context(), "u1")
	require.NoError(t, err)

	waiting := lockIn(t.Context(), ps[1], "u1")
	select {
	case <-waiting:
		t.Fatal("the second process got the lock while the first held it")
	case <-time.After(100 * time.Millisecond): // nothing to wait for: the lock must not come
	}
	other, err := ps[1].LockSeller(t.Context(), "u2")
	require.NoError(t, err, "another seller's lock is free")
	require.NoError(t, other(t.Context()))

	require.NoError(t, unlock(t.Context()))
	select {
	case unlock2, ok := <-waiting:
		require.True(t, ok, "the second process got the lock")
		require.NoError(t, unlock2(t.Context()))
	case <-time.After(5 * time.Second):
		t.Fatal("the second process never got the released lock")
	}
	n, err := db.Collection(ticketdb.SellerLocks).CountDocuments(t.Context(), bson.D{})
	require.NoError(t, err)
	assert.Zero(t, n, "no lock left")
}

func TestLockSeller_WaitsNoLongerThanItsContext(t *testing.T) {
	ps := processes(t, newFixture(t).coll.Database(), 2)
	unlock, err := ps[0].LockSeller(t.Context(), "u1")
	require.NoError(t, err)
	defer func() { assert.NoError(t, unlock(t.Context())) }()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()

	_, err = ps[1].LockSeller(ctx, "u1")

	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// A process that died holding a lock never releases it: the lock lapses
// with its lease, and the late release of a holder whose lease lapsed
// leaves the next holder's lock alone.
func TestLockSeller_TakesOverALockWhoseLeaseLapsed(t *testing.T) {
	db := newFixture(t).coll.Database()
	died := processes(t, db, 1, ticketdb.WithSellerLease(0))[0] // its lease lapses at once
	ps := processes(t, db, 2)
	lapsed, err := died.LockSeller(t.Context(), "u1")
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	unlock, err := ps[0].LockSeller(ctx, "u1")
	require.NoError(t, err, "the lapsed lock is taken over")

	require.NoError(t, lapsed(t.Context()), "a late release is no error")
	// Read, not tried with a short deadline: a try cut short may leave its
	// insert in flight, to land once the holder has released (on a busy
	// machine it did), and hold the lock for a lease.
	held, err := db.Collection(ticketdb.SellerLocks).CountDocuments(t.Context(), bson.D{{Key: "_id", Value: "u1"}})
	require.NoError(t, err)
	assert.EqualValues(t, 1, held, "the late release left the new holder's lock")

	require.NoError(t, unlock(t.Context()))
	unlock, err = ps[1].LockSeller(ctx, "u1")
	require.NoError(t, err)
	require.NoError(t, unlock(t.Context()))
}
