package httpapi

import (
	"net/http"

	"ticketing.dev/auth/internal/httpapi/request"
	"ticketing.dev/auth/internal/user"
	"ticketing.dev/common/session"
	"ticketing.dev/common/web"
)

type handlers struct {
	users    *user.Service
	sessions *session.Manager
}

// signUp registers the user and signs them in.
func (h *handlers) signUp(w http.ResponseWriter, r *http.Request) error {
	req, err := request.DecodeSignUp(w, r)
	if err != nil {
		return err
	}
	u, err := h.users.SignUp(r.Context(), req.Email, req.Password)
	if err != nil {
		return err
	}
	if err := h.sessions.SignIn(w, u.ID, u.Email); err != nil {
		return err
	}
	return web.Respond(w, r, http.StatusCreated, userResponse{ID: u.ID, Email: u.Email})
}

func (h *handlers) signIn(w http.ResponseWriter, r *http.Request) error {
	req, err := request.DecodeSignIn(w, r)
	if err != nil {
		return err
	}
	u, err := h.users.SignIn(r.Context(), req.Email, req.Password)
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
