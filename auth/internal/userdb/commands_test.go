package userdb_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"ticketing.dev/auth/internal/user"
	"ticketing.dev/auth/internal/userdb"
	"ticketing.dev/common/testkit"
)

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
