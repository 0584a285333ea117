package pages

import (
	"net/http"

	"ticketing.dev/client/internal/api"
)

// homeData is the content of the landing page.
type homeData struct {
	Tickets []api.Ticket
	Pager   pager
}

// home is the landing page: one page of the tickets on sale, oldest first,
// and a link to the next.
func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	cursor, err := pageCursor(r)
	if err != nil {
		return err
	}
	page, err := s.api.Tickets(r.Context(), s.caller(w, r), api.PageRequest{Limit: s.pageSize, Cursor: cursor})
	if err != nil {
		return err
	}
	data := homeData{Tickets: page.Items, Pager: newPager("/", cursor, page.Next)}
	return s.render(w, http.StatusOK, "home", view{Title: "Tickets on sale", User: s.currentUser(w, r), Path: r.URL.Path, Data: data})
}

func (s *Server) newTicketForm(w http.ResponseWriter, r *http.Request) error {
	user := s.currentUser(w, r)
	if user == nil {
		http.Redirect(w, r, signInPath(r.URL.Path), http.StatusSeeOther)
		return nil
	}
	return s.render(w, http.StatusOK, "ticket_new", view{Title: "Sell a ticket", User: user, Path: r.URL.Path, Form: newForm("title", "price")})
}

// createTicket puts the ticket on sale and shows it to its seller.
func (s *Server) createTicket(w http.ResponseWriter, r *http.Request) error {
	f, err := parseForm(w, r, "title", "price")
	if err != nil {
		return err
	}
	tk, err := s.api.CreateTicket(r.Context(), s.caller(w, r), api.TicketInput{Title: f.Value("title"), Price: f.Value("price")})
	if err != nil {
		f, status := f.withErrors(err)
		if status == 0 {
			return err
		}
		return s.render(w, status, "ticket_new", view{Title: "Sell a ticket", User: s.currentUser(w, r), Path: r.URL.Path, Form: f})
	}
	http.Redirect(w, r, ticketPath(tk.ID), http.StatusSeeOther)
	return nil
}

// ticketData is the content of a ticket's page.
type ticketData struct {
	Ticket api.Ticket
	// Mine is set for the ticket's seller, who may edit it while it is
	// not reserved.
	Mine bool
	// MyOrderID is the viewer's own order holding the ticket, if any.
	MyOrderID string
}

// ticket shows a ticket: to its seller with Edit, to a signed-in buyer with
// Purchase, or with what keeps them from buying it.
func (s *Server) ticket(w http.ResponseWriter, r *http.Request) error {
	return s.ticketPage(w, r, http.StatusOK, form{})
}

func (s *Server) ticketPage(w http.ResponseWriter, r *http.Request, status int, f form) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	who := s.caller(w, r)
	tk, err := s.api.Ticket(r.Context(), who, id)
	if err != nil {
		return err
	}
	user := s.currentUser(w, r)
	data := ticketData{Ticket: tk, Mine: user != nil && user.ID == tk.UserID}
	if user != nil && !data.Mine && tk.OrderID != "" {
		// A reserved ticket may be reserved by the viewer: lead them to
		// their order rather than tell them someone else has it. The API
		// answers another buyer's order with a 401.
		if o, err := s.api.Order(r.Context(), who, tk.OrderID); err == nil && o.UserID == user.ID {
			data.MyOrderID = o.ID
		}
	}
	return s.render(w, status, "ticket", view{Title: tk.Title, User: user, Path: r.URL.Path, Form: f, Data: data})
}

// purchase orders the ticket and opens the order, where the buyer pays; a
// ticket that is already reserved is said so on its page.
func (s *Server) purchase(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	o, err := s.api.CreateOrder(r.Context(), s.caller(w, r), id)
	switch {
	case err == nil:
		http.Redirect(w, r, orderPath(o.ID), http.StatusSeeOther)
		return nil
	case api.HasStatus(err, http.StatusNotFound):
		// The orders service learns of a new ticket from an event, a
		// moment after the tickets service shows it; the ticket page
		// itself reports a ticket that does not exist at all.
		return s.ticketPage(w, r, http.StatusConflict, newForm().withMessage(
			"This ticket cannot be bought just yet. Please try again in a moment."))
	}
	f, status := newForm().withErrors(err)
	if status == 0 {
		return err
	}
	return s.ticketPage(w, r, status, f)
}

// editData is the content of the edit page.
type editData struct {
	Ticket api.Ticket
}

// editTicketForm shows the seller's ticket in a form, unless an order holds
// it: a reserved ticket's price is what its buyer agreed to.
func (s *Server) editTicketForm(w http.ResponseWriter, r *http.Request) error {
	user, tk, err := s.ownTicket(w, r)
	if err != nil || user == nil {
		return err
	}
	f := newForm("title", "price").set("title", tk.Title).set("price", priceInput(tk.Price))
	return s.render(w, http.StatusOK, "ticket_edit", view{Title: "Edit " + tk.Title, User: user, Path: r.URL.Path, Form: f, Data: editData{Ticket: tk}})
}

func (s *Server) updateTicket(w http.ResponseWriter, r *http.Request) error {
	user, tk, err := s.ownTicket(w, r)
	if err != nil || user == nil {
		return err
	}
	f, err := parseForm(w, r, "title", "price")
	if err != nil {
		return err
	}
	updated, err := s.api.UpdateTicket(r.Context(), s.caller(w, r), tk.ID, api.TicketInput{Title: f.Value("title"), Price: f.Value("price")})
	if err != nil {
		f, status := f.withErrors(err)
		if status == 0 {
			return err
		}
		return s.render(w, status, "ticket_edit", view{Title: "Edit " + tk.Title, User: user, Path: r.URL.Path, Form: f, Data: editData{Ticket: tk}})
	}
	http.Redirect(w, r, ticketPath(updated.ID), http.StatusSeeOther)
	return nil
}

// ownTicket returns the signed-in user and the ticket of the path when the
// user sells it. A signed-out visitor is sent to sign in (nil user, nil
// error); anyone else is told the ticket is not theirs.
func (s *Server) ownTicket(w http.ResponseWriter, r *http.Request) (*api.User, api.Ticket, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, api.Ticket{}, err
	}
	user := s.currentUser(w, r)
	if user == nil {
		http.Redirect(w, r, signInPath(ticketPath(id)+"/edit"), http.StatusSeeOther)
		return nil, api.Ticket{}, nil
	}
	tk, err := s.api.Ticket(r.Context(), s.caller(w, r), id)
	if err != nil {
		return nil, api.Ticket{}, err
	}
	if tk.UserID != user.ID {
		return nil, api.Ticket{}, errForbidden
	}
	return user, tk, nil
}
