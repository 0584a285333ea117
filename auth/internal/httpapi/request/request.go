// Package request reads and validates the bodies of the auth API's
// requests. It is apart from package httpapi so that its fuzz targets build
// without the embedded database the API's tests link, which would make
// every fuzzing run slow to build and slow to execute.
package request

import (
	"net/http"

	"ticketing.dev/auth/internal/user"
	"ticketing.dev/common/web"
)

// MsgPasswordRequired is sign-in's message for a blank password; sign-up's
// messages come from the user package's errors, since the service enforces
// the same rules.
const MsgPasswordRequired = "You must supply a password"

// Credentials is the body of sign-up and sign-in.
type Credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// normalized returns c with its email and password normalized as the user
// package stores and compares them.
func (c Credentials) normalized() Credentials {
	return Credentials{Email: user.NormalizeEmail(c.Email), Password: user.NormalizePassword(c.Password)}
}

// DecodeSignUp reads a sign-up body and returns its email and password
// normalized, checking both together so that a client learns of every
// broken rule at once.
func DecodeSignUp(w http.ResponseWriter, r *http.Request) (Credentials, error) {
	var req Credentials
	if err := web.Decode(w, r, &req); err != nil {
		return Credentials{}, err
	}
	req = req.normalized()
	var v web.Validator
	v.Check(user.ValidEmail(req.Email), "email", user.ErrInvalidEmail.Message)
	v.Check(user.ValidPassword(req.Password), "password", user.ErrInvalidPassword.Message)
	if err := v.Err(); err != nil {
		return Credentials{}, err
	}
	return req, nil
}

// DecodeSignIn reads a sign-in body as DecodeSignUp does; the password need
// only be present, as the original app required.
func DecodeSignIn(w http.ResponseWriter, r *http.Request) (Credentials, error) {
	var req Credentials
	if err := web.Decode(w, r, &req); err != nil {
		return Credentials{}, err
	}
	req = req.normalized()
	var v web.Validator
	v.Check(user.ValidEmail(req.Email), "email", user.ErrInvalidEmail.Message)
	v.Check(req.Password != "", "password", MsgPasswordRequired)
	if err := v.Err(); err != nil {
		return Credentials{}, err
	}
	return req, nil
}
