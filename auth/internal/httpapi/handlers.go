package httpapi

import (
	"errors"
	"net/http"

	"ticketing.dev/auth/internal/hashgate"
	"ticketing.dev/auth/internal/user"
	"ticketing.dev/common/errs"
	"ticketing.dev/common/session"
	"ticketing.dev/common/web"
)

type handlers struct {
	users    *user.Service
	sessions *session.Manager
	// accounts counts sign-in attempts per email, cleared by a success;
	// nil counts none.
	accounts *limiter
}

// signUp registers the user and signs them in.
func (h *handlers) signUp(w http.ResponseWriter, r *http.Request) error {
	req, err := decodeSignUp(w, r)
	if err != nil {
		return err
	}
	u, err := h.users.SignUp(r.Context(), req.Email, req.Password)
	if err != nil {
		return busy(w, r, err)
	}
	if err := h.sessions.SignIn(w, u.ID, u.Email); err != nil {
		return err
	}
	return web.Respond(w, r, http.StatusCreated, userResponse{ID: u.ID, Email: u.Email})
}

// signIn signs the user in, unless their account has failed too often
// lately. Every attempt draws on the account's budget before any hashing,
// so concurrent guesses cannot overrun it, and only a success gives it
// back: what remains counts failures.
func (h *handlers) signIn(w http.ResponseWriter, r *http.Request) error {
	req, err := decodeSignIn(w, r)
	if err != nil {
		return err
	}
	if !h.accounts.allow(req.Email) {
		h.accounts.refuse(w, r, ErrTooManyFailedSignIns)
		return nil
	}
	u, err := h.users.SignIn(r.Context(), req.Email, req.Password)
	if err != nil {
		return busy(w, r, err)
	}
	h.accounts.forget(req.Email)
	if err := h.sessions.SignIn(w, u.ID, u.Email); err != nil {
		return err
	}
	return web.Respond(w, r, http.StatusOK, userResponse{ID: u.ID, Email: u.Email})
}

// decodeSignUp reads a sign-up body and returns its email and password
// normalized, checking both together so that a client learns of every
// broken rule at once.
func decodeSignUp(w http.ResponseWriter, r *http.Request) (credentials, error) {
	return decodeCredentials(w, r, user.ValidPassword, user.ErrInvalidPassword.Message)
}

// decodeSignIn reads a sign-in body as decodeSignUp does; the password need
// only be present, as the original app required.
func decodeSignIn(w http.ResponseWriter, r *http.Request) (credentials, error) {
	return decodeCredentials(w, r, func(p string) bool { return p != "" }, msgPasswordRequired)
}

// decodeCredentials reads a body of credentials, normalizes it and checks
// its email and, by passwordOK, its password, reporting both at once.
func decodeCredentials(w http.ResponseWriter, r *http.Request, passwordOK func(string) bool, passwordMsg string) (credentials, error) {
	var req credentials
	if err := web.Decode(w, r, &req); err != nil {
		return credentials{}, err
	}
	req = req.normalized()
	var v web.Validator
	v.Check(user.ValidEmail(req.Email), "email", user.ErrInvalidEmail.Message)
	v.Check(passwordOK(req.Password), "password", passwordMsg)
	if err := v.Err(); err != nil {
		return credentials{}, err
	}
	return req, nil
}

func (h *handlers) signOut(w http.ResponseWriter, r *http.Request) error {
	h.sessions.SignOut(w)
	return web.Respond(w, r, http.StatusOK, struct{}{})
}

// currentUser answers from the session cookie alone, as the original does:
// a user is who their unexpired, correctly signed token says they are.
func (h *handlers) currentUser(w http.ResponseWriter, r *http.Request) error {
	var body currentUserResponse
	if u, ok := session.FromContext(r.Context()); ok {
		body.CurrentUser = &sessionUser{ID: u.ID, Email: u.Email, IssuedAt: u.IssuedAt}
	}
	return web.Respond(w, r, http.StatusOK, body)
}

// busyBody is the answer when no turn to hash came within the gate's wait.
var busyBody = errs.Body{Errors: []errs.Detail{{Message: "Too many sign-ins at once, try again shortly"}}}

// busyRetryAfter is in seconds: a turn takes tens of milliseconds, so a
// client that comes back then finds the queue drained unless the overload
// goes on.
const busyRetryAfter = "2"

// busy answers 503 with Retry-After when err is the gate's refusal to wait
// any longer for a turn to hash, and returns any other err as it is. The
// common error table has no kind for 503, so the body is written here in
// the common shape.
func busy(w http.ResponseWriter, r *http.Request, err error) error {
	if !errors.Is(err, hashgate.ErrBusy) {
		return err
	}
	web.Logger(r.Context()).WarnContext(r.Context(), "refused: no turn to hash", "err", err)
	w.Header().Set("Retry-After", busyRetryAfter)
	return web.Respond(w, r, http.StatusServiceUnavailable, busyBody)
}
