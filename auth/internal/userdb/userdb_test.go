package userdb_test

import (
	"context"
	"fmt"
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

// TestCommandShapes pins the commands of the store's operations that the
// floor of infra/bench copies, called as the service calls them
// (docs/bench/method.md).
func TestCommandShapes(t *testing.T) {
	db, rec := testkit.RecordCommands(t)
	ctx := t.Context()
	s := userdb.New(db)
	require.NoError(t, s.EnsureIndexes(ctx))
	hash, err := user.DecoyHash(user.DefaultParams())
	require.NoError(t, err)

	rec.Run(t, "Insert (POST /api/users/signup)", func() error {
		_, err := s.Insert(ctx, user.User{Email: "a@example.com", PasswordHash: hash})
		return err
	})
	rec.Run(t, "ByEmail (POST /api/users/signin)", func() error {
		_, err := s.ByEmail(ctx, "a@example.com")
		return err
	})
	rec.Golden(t, "testdata/commands.golden")
}

// The benchmarks time sign-up's insert and sign-in's look-up, one caller at
// a time, on the embedded FerretDB of the tests, without the password hash;
// docs/performance.md says how to run them.

// benchStore returns a store on a fresh database, and a hash of the form
// and size auth stores, made without the cost of scrypt.
func benchStore(b *testing.B) (*userdb.Store, string) {
	b.Helper()
	s := userdb.New(testkit.DB(b))
	require.NoError(b, s.EnsureIndexes(b.Context()))
	hash, err := user.DecoyHash(user.DefaultParams())
	require.NoError(b, err)
	return s, hash
}

func BenchmarkInsert(b *testing.B) {
	s, hash := benchStore(b)
	i := 0
	for b.Loop() {
		_, err := s.Insert(b.Context(), user.User{Email: fmt.Sprintf("user%d@example.com", i), PasswordHash: hash})
		require.NoError(b, err)
		i++
	}
}

// BenchmarkByEmail looks the users up in turn among 100.
func BenchmarkByEmail(b *testing.B) {
	s, hash := benchStore(b)
	const users = 100
	for i := range users {
		_, err := s.Insert(b.Context(), user.User{Email: fmt.Sprintf("user%d@example.com", i), PasswordHash: hash})
		require.NoError(b, err)
	}
	i := 0
	for b.Loop() {
		_, err := s.ByEmail(b.Context(), fmt.Sprintf("user%d@example.com", i%users))
		require.NoError(b, err)
		i++
	}
}
