package httpapi

// The bodies of sign-up and sign-in are read by package request.

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
