package httpapi

import (
	"net/http"

	"ticketing.dev/auth/internal/user"
	"ticketing.dev/common/session"
	"ticketing.dev/common/web"
)

// Messages of sign-in validation; sign-up's come from the user package's
// errors, since the service enforces the same rules.
const msgPasswordRequired = "You must supply a password"

type handlers struct {
	users    *user.Service
	sessions *session.Manager
}

// signUp validates the email and password together, so a client learns of
// every broken rule at once, then registers the user and signs them in.
func (h *handlers) signUp(w http.ResponseWriter, r *http.Request) error {
	var req credentials
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	email, password := user.NormalizeEmail(req.Email), user.NormalizePassword(req.Password)
	var v web.Validator
	v.Check(user.ValidEmail(email), "email", user.ErrInvalidEmail.Message)
	v.Check(user.ValidPassword(password), "password", user.ErrInvalidPassword.Message)
	if err := v.Err(); err != nil {
		return err
	}
	u, err := h.users.SignUp(r.Context(), email, password)
	if err != nil {
		return err
	}
	if err := h.sessions.SignIn(w, u.ID, u.Email); err != nil {
		return err
	}
	return web.Respond(w, r, http.StatusCreated, userResponse{ID: u.ID, Email: u.Email})
}

func (h *handlers) signIn(w http.ResponseWriter, r *http.Request) error {
	var req credentials
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	email, password := user.NormalizeEmail(req.Email), user.NormalizePassword(req.Password)
	var v web.Validator
	v.Check(user.ValidEmail(email), "email", user.ErrInvalidEmail.Message)
	v.Check(password != "", "password", msgPasswordRequired)
	if err := v.Err(); err != nil {
		return err
	}
	u, err := h.users.SignIn(r.Context(), email, password)
	if err != nil {
		return err
	}
	if err := h.sessions.SignIn(w, u.ID, u.Email); err != nil {
		return err
	}
	return web.Respond(w, r, http.StatusOK, userResponse{ID: u.ID, Email: u.Email})
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
