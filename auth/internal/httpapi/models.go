package httpapi

import "ticketing.dev/auth/internal/user"

// msgPasswordRequired is sign-in's message for a blank password; sign-up's
// messages come from the user package's errors, since the service enforces
// the same rules.
const msgPasswordRequired = "You must supply a password"

// credentials is the body of sign-up and sign-in.
type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// normalized returns c with its email and password normalized as the user
// package stores and compares them.
func (c credentials) normalized() credentials {
	return credentials{Email: user.NormalizeEmail(c.Email), Password: user.NormalizePassword(c.Password)}
}

// userResponse is a user as clients see it: never the password or its hash.
type userResponse struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

// currentUserResponse is the body of GET /api/users/currentuser; a nil
// CurrentUser is written as null, as the original app writes it.
type currentUserResponse struct {
	CurrentUser *sessionUser `json:"currentUser"`
}

// sessionUser is the signed-in user as the session token names them.
type sessionUser struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	IssuedAt int64  `json:"iat"`
}
