package httpapi

import (
	"net/http"

	"ticketing.dev/common/events"
	"ticketing.dev/common/session"
	"ticketing.dev/common/web"
	"ticketing.dev/tickets/internal/ticket"
)

type handlers struct {
	tickets *ticket.Service
}

func (h *handlers) create(w http.ResponseWriter, r *http.Request) error {
	u, err := session.Current(r.Context())
	if err != nil {
		return err
	}
	title, price, err := decodeTicket(w, r)
	if err != nil {
		return err
	}
	t, err := h.tickets.Create(r.Context(), u.ID, title, price)
	if err != nil {
		return err
	}
	return web.Respond(w, r, http.StatusCreated, newTicketResponse(t))
}

// list answers the whole listing unless the query asks for a page; a full
// page that more tickets follow links to the next one.
func (h *handlers) list(w http.ResponseWriter, r *http.Request) error {
	page, err := web.ParsePage(r)
	if err != nil {
		return err
	}
	ts, more, err := h.tickets.Available(r.Context(), ticket.Page(page))
	if err != nil {
		return err
	}
	if more {
		web.SetNextPage(w, "/api/tickets", page, ts[len(ts)-1].ID)
	}
	return web.Respond(w, r, http.StatusOK, newTicketsResponse(ts))
}

func (h *handlers) show(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !web.ValidID(id) {
		return ticket.ErrInvalidID
	}
	t, err := h.tickets.Get(r.Context(), id)
	if err != nil {
		return err
	}
	return web.Respond(w, r, http.StatusOK, newTicketResponse(t))
}

// update checks the request before it looks the ticket up, so a client
// learns of a bad body before it learns whether the ticket exists, as the
// original app answers.
func (h *handlers) update(w http.ResponseWriter, r *http.Request) error {
	u, err := session.Current(r.Context())
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if !web.ValidID(id) {
		return ticket.ErrInvalidID
	}
	title, price, err := decodeTicket(w, r)
	if err != nil {
		return err
	}
	t, err := h.tickets.Edit(r.Context(), u.ID, id, title, price)
	if err != nil {
		return err
	}
	return web.Respond(w, r, http.StatusOK, newTicketResponse(t))
}

// decodeTicket reads and validates a ticket body, reporting every broken
// rule at once.
func decodeTicket(w http.ResponseWriter, r *http.Request) (string, events.Money, error) {
	var req ticketRequest
	if err := web.Decode(w, r, &req); err != nil {
		return "", 0, err
	}
	title := ticket.NormalizeTitle(req.Title)
	price, priceMsg := parsePrice(req.Price)
	var v web.Validator
	v.Check(ticket.CheckTitle(title) == "", "title", ticket.CheckTitle(title))
	v.Check(priceMsg == "", "price", priceMsg)
	return title, price, v.Err()
}
