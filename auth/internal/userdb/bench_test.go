package userdb_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"ticketing.dev/auth/internal/user"
	"ticketing.dev/auth/internal/userdb"
	"ticketing.dev/common/testkit"
)

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
