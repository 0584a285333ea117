package httpapi

import (
	"ticketing.dev/common/events"
	"ticketing.dev/orders/internal/order"
)

// msgTicketID is the original app's message for a missing or malformed
// ticketId.
const msgTicketID = "ticketId must be provided"

// createOrderRequest is the body of POST /api/orders.
type createOrderRequest struct {
	TicketID string `json:"ticketId"`
}

// orderResponse is an order as clients see it, its ticket embedded as the
// original app populates it.
type orderResponse struct {
	ID        string             `json:"id"`
	UserID    string             `json:"userId"`
	Status    events.OrderStatus `json:"status"`
	ExpiresAt events.Time        `json:"expiresAt"`
	Version   int64              `json:"version"`
	Ticket    ticketResponse     `json:"ticket"`
}

// ticketResponse is the ticket inside an order.
type ticketResponse struct {
	ID      string       `json:"id"`
	Title   string       `json:"title"`
	Price   events.Money `json:"price"`
	Version int64        `json:"version"`
}

func newOrderResponse(v order.View) orderResponse {
	return orderResponse{
		ID:        v.ID,
		UserID:    v.UserID,
		Status:    v.Status,
		ExpiresAt: events.NewTime(v.ExpiresAt),
		Version:   v.Version,
		Ticket: ticketResponse{
			ID:      v.Ticket.ID,
			Title:   v.Ticket.Title,
			Price:   v.Ticket.Price,
			Version: v.Ticket.Version,
		},
	}
}
