package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/session"
	"ticketing.dev/common/web"
	"ticketing.dev/orders/internal/order"
)

type handlers struct {
	orders *order.Service
}

func (h *handlers) create(w http.ResponseWriter, r *http.Request) error {
	u, err := session.Current(r.Context())
	if err != nil {
		return err
	}
	req, err := decodeCreateOrder(w, r)
	if err != nil {
		return err
	}
	o, err := h.orders.Place(r.Context(), u.ID, req.TicketID)
	if err != nil {
		return err
	}
	return web.Respond(w, r, http.StatusCreated, newOrderResponse(o))
}

// decodeCreateOrder reads the body of POST /api/orders; its ticketId must
// be an id as the API hands them out.
func decodeCreateOrder(w http.ResponseWriter, r *http.Request) (createOrderRequest, error) {
	var req createOrderRequest
	if err := web.Decode(w, r, &req); err != nil {
		return createOrderRequest{}, err
	}
	var v web.Validator
	v.Check(web.ValidID(req.TicketID), "ticketId", msgTicketID)
	if err := v.Err(); err != nil {
		return createOrderRequest{}, err
	}
	return req, nil
}

// list answers all the caller's orders unless the query asks for a page; a
// full page that more orders follow links to the next one.
func (h *handlers) list(w http.ResponseWriter, r *http.Request) error {
	u, err := session.Current(r.Context())
	if err != nil {
		return err
	}
	page, err := web.ParsePage(r)
	if err != nil {
		return err
	}
	orders, more, err := h.orders.OrdersOf(r.Context(), u.ID, order.Page(page))
	if err != nil {
		return err
	}
	if more {
		web.SetNextPage(w, "/api/orders", page, orders[len(orders)-1].ID)
	}
	body := make([]orderResponse, len(orders)) // [] rather than null when empty
	for i, o := range orders {
		body[i] = newOrderResponse(o)
	}
	return web.Respond(w, r, http.StatusOK, body)
}

func (h *handlers) show(w http.ResponseWriter, r *http.Request) error {
	u, err := session.Current(r.Context())
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	o, err := h.orders.Order(r.Context(), u.ID, id)
	if err != nil {
		return err
	}
	return web.Respond(w, r, http.StatusOK, newOrderResponse(o))
}

// cancel answers 204 also for an order that was already cancelled: the
// buyer gets what they asked for, and no second order:cancelled is sent.
func (h *handlers) cancel(w http.ResponseWriter, r *http.Request) error {
	u, err := session.Current(r.Context())
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if _, err := h.orders.Cancel(r.Context(), u.ID, id); err != nil {
		return err
	}
	return web.NoContent(w, http.StatusNoContent)
}

// pathID returns the {id} of the route, refusing anything that is not an
// ObjectID before it reaches the database.
func pathID(r *http.Request) (string, error) {
	id := chi.URLParam(r, "id")
	if !web.ValidID(id) {
		return "", order.ErrInvalidID
	}
	return id, nil
}
