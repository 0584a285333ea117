package pages

import (
	"context"
	"net/http"

	"ticketing.dev/client/internal/api"
	"ticketing.dev/common/web"
)

// authData is the content of the sign-up and sign-in pages.
type authData struct {
	// Next is where to go once signed in.
	Next string
}

func (s *Server) signUpForm(w http.ResponseWriter, r *http.Request) error {
	return s.authPage(w, r, http.StatusOK, "signup", newForm("email", "password"))
}

func (s *Server) signInForm(w http.ResponseWriter, r *http.Request) error {
	return s.authPage(w, r, http.StatusOK, "signin", newForm("email", "password"))
}

func (s *Server) signUp(w http.ResponseWriter, r *http.Request) error {
	return s.authenticate(w, r, "signup", s.api.SignUp)
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) error {
	return s.authenticate(w, r, "signin", s.api.SignIn)
}

// authenticate posts the form's credentials with call. On success the
// browser gets the API's session cookie as the API wrote it, and goes on to
// the page it came for; on a refusal the form comes back with the API's
// messages, the email kept and the password not.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, page string,
	call func(context.Context, api.Caller, string, string) (api.SignedIn, error)) error {
	f, err := parseForm(w, r, "email", "password")
	if err != nil {
		return err
	}
	signed, err := call(r.Context(), s.caller(w, r), f.Value("email"), f.Value("password"))
	if err != nil {
		f, status := f.withErrors(err)
		if status == 0 {
			return err
		}
		return s.authPage(w, r, status, page, f.set("password", ""))
	}
	for _, c := range signed.SetCookie {
		w.Header().Add("Set-Cookie", c)
	}
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
	return nil
}

func (s *Server) authPage(w http.ResponseWriter, r *http.Request, status int, page string, f form) error {
	title := "Sign up"
	if page == "signin" {
		title = "Sign in"
	}
	next := r.FormValue("next")
	return s.render(w, status, page, view{
		Title: title, User: s.currentUser(w, r), Path: r.URL.Path, Form: f,
		Data: authData{Next: safeNext(next)},
	})
}

// signOutForm is the original's /auth/signout. The original signed out as
// the page loaded; here the page asks, with a button that posts: signing
// out is a change, and a GET that changes things could be triggered by any
// link or image on another site. The header's Sign out posts directly.
func (s *Server) signOutForm(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, http.StatusOK, "signout", view{Title: "Sign out", User: s.currentUser(w, r), Path: r.URL.Path})
}

// signOut ends the session and goes home. Should the API fail, the cookie
// is cleared here: the user asked to leave, and a session cookie is all
// that keeps them in.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) error {
	cookies, err := s.api.SignOut(r.Context(), s.caller(w, r))
	if err != nil {
		web.Logger(r.Context()).WarnContext(r.Context(), "sign out through the API failed; clearing the cookie here", "err", err)
		http.SetCookie(w, &http.Cookie{Name: api.SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	for _, c := range cookies {
		w.Header().Add("Set-Cookie", c)
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}
