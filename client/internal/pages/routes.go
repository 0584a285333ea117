package pages

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/client/docs"
)

// Routes mounts every page of the client on r: the original app's paths,
// the form posts that stand in for its browser-side API calls, and the
// static files. Forms post back to the page's own family of paths; a GET of
// a form's action (a reload, a shared link) leads to the page it belongs to.
func (s *Server) Routes(r chi.Router) {
	r.Use(securityHeaders, s.crossOrigin.Handler, s.recoverer)
	r.NotFound(s.handle(s.notFound))
	r.MethodNotAllowed(s.handle(s.notFound))

	r.Handle("/static/*", s.static())
	apiDocs := docs.Handler()
	r.Get("/docs", apiDocs.ServeHTTP)
	r.Get("/docs/openapi.yaml", apiDocs.ServeHTTP)
	r.Get("/docs/ticketing.postman_collection.json", apiDocs.ServeHTTP)
	for _, name := range docs.Environments {
		r.Get("/docs/"+name, apiDocs.ServeHTTP)
	}
	r.Get("/docs/redoc.standalone.js", apiDocs.ServeHTTP)

	r.Get("/", s.handle(s.home))

	r.Get("/auth/signup", s.handle(s.signUpForm))
	r.Post("/auth/signup", s.handle(s.signUp))
	r.Get("/auth/signin", s.handle(s.signInForm))
	r.Post("/auth/signin", s.handle(s.signIn))
	r.Get("/auth/signout", s.handle(s.signOutForm))
	r.Post("/auth/signout", s.handle(s.signOut))

	r.Get("/tickets/new", s.handle(s.newTicketForm))
	r.Post("/tickets/new", s.handle(s.createTicket))
	r.Get("/tickets/{id}", s.handle(s.ticket))
	r.Post("/tickets/{id}/purchase", s.handle(s.purchase))
	r.Get("/tickets/{id}/purchase", s.handle(seeOther(ticketPath)))
	r.Get("/tickets/{id}/edit", s.handle(s.editTicketForm))
	r.Post("/tickets/{id}/edit", s.handle(s.updateTicket))

	r.Get("/orders", s.handle(s.orders))
	r.Get("/orders/{id}", s.handle(s.order))
	r.Post("/orders/{id}/pay", s.handle(s.pay))
	r.Get("/orders/{id}/pay", s.handle(seeOther(orderPath)))
	r.Post("/orders/{id}/cancel", s.handle(s.cancel))
	r.Get("/orders/{id}/cancel", s.handle(seeOther(func(string) string { return "/orders" })))
}

// seeOther redirects to the page that to names for the request's id.
func seeOther(to func(id string) string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		http.Redirect(w, r, to(id), http.StatusSeeOther)
		return nil
	}
}

func ticketPath(id string) string { return "/tickets/" + id }
func orderPath(id string) string  { return "/orders/" + id }
