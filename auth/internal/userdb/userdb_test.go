package userdb_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/auth/internal/user"
	"ticketing.dev/auth/internal/userdb"
	"ticketing.dev/common/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func newStore(t *testing.T) (*userdb.Store, func() int64) {
	t.Helper()
	db := testkit.DB(t)
	s := userdb.New(db)
	require.NoError(t, s.EnsureIndexes(t.Context()))
	count := func() int64 {
		n, err := db.Collection(userdb.Collection).CountDocuments(context.Background(), bson.D{})
		require.NoError(t, err)
		return n
	}
	return s, count
}

func TestInsert_StoresTheUserUnderANewObjectID(t *testing.T) {
	s, _ := newStore(t)

	u, err := s.Insert(t.Context(), user.User{Email: "a@b.co", PasswordHash: "hash"})
	require.NoError(t, err)
	_, err = bson.ObjectIDFromHex(u.ID)
	require.NoError(t, err, "id %q", u.ID)

	got, err := s.ByEmail(t.Context(), "a@b.co")
	require.NoError(t, err)
	assert.Equal(t, user.User{ID: u.ID, Email: "a@b.co", PasswordHash: "hash"}, got)
}

func TestInsert_DuplicateEmailIsErrEmailInUse(t *testing.T) {
	s, count := newStore(t)
	_, err := s.Insert(t.Context(), user.User{Email: "a@b.co", PasswordHash: "one"})
	require.NoError(t, err)

	_, err = s.Insert(t.Context(), user.User{Email: "a@b.co", PasswordHash: "two"})
	assert.ErrorIs(t, err, user.ErrEmailInUse)
	assert.EqualValues(t, 1, count())
}

func TestInsert_ConcurrentInsertsOfOneEmailStoreOne(t *testing.T) {
	s, count := newStore(t)
	const racers = 20
	var wg sync.WaitGroup
	errc := make(chan error, racers)
	for range racers {
		wg.Go(func() {
			_, err := s.Insert(context.Background(), user.User{Email: "race@b.co", PasswordHash: "h"})
			errc <- err
		})
	}
	wg.Wait()
	close(errc)

	var won int
	for err := range errc {
		if err == nil {
			won++
			continue
		}
		assert.ErrorIs(t, err, user.ErrEmailInUse)
	}
	assert.Equal(t, 1, won)
	assert.EqualValues(t, 1, count())
}

func TestByEmail_UnknownEmailIsErrNotFound(t *testing.T) {
	s, _ := newStore(t)
	_, err := s.ByEmail(t.Context(), "nobody@b.co")
	assert.ErrorIs(t, err, user.ErrNotFound)
}

func TestEnsureIndexes_IsIdempotent(t *testing.T) {
	s, _ := newStore(t)
	assert.NoError(t, s.EnsureIndexes(t.Context()))
}
