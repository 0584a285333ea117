// Package user is the auth service's domain: who a user is, the rules an
// email and a password must follow, how a password is kept, and what signing
// up and signing in mean. It knows nothing of HTTP or MongoDB.
package user

import (
	"context"

	"ticketing.dev/common/errs"
)

// User is a registered user. PasswordHash is the encoded output of
// HashPassword, never the password itself.
type User struct {
	ID           string
	Email        string
	PasswordHash string
}

// Errors of the user domain. Their messages are what a client is shown.
var (
	// ErrEmailInUse is a sign-up with an email that already has a user.
	ErrEmailInUse = errs.New(errs.Invalid, "Email in use")
	// ErrInvalidCredentials is a sign-in with an unknown email or a wrong
	// password; the two are deliberately indistinguishable.
	ErrInvalidCredentials = errs.New(errs.Invalid, "Invalid credentials")
	// ErrNotFound is a Store's answer when no user has the email.
	ErrNotFound = errs.New(errs.NotFound, "User not found")
	// ErrInvalidEmail is an email that ValidEmail refuses.
	ErrInvalidEmail = errs.New(errs.Invalid, "Email must be valid")
	// ErrInvalidPassword is a password that ValidPassword refuses.
	ErrInvalidPassword = errs.New(errs.Invalid, "Password must be between 4 and 30 characters")
)

// Store keeps users.
//
// A Store guarantees that emails are unique by itself, even when sign-ups
// race: Insert of an email that is already stored fails with ErrEmailInUse.
// The Service relies on that rather than checking before inserting.
type Store interface {
	// Insert stores u under a new id and returns it with that id.
	Insert(ctx context.Context, u User) (User, error)
	// ByEmail returns the user with the email, or ErrNotFound.
	ByEmail(ctx context.Context, email string) (User, error)
}
