package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"ticketing.dev/common/events"
	"ticketing.dev/tickets/internal/ticket"
)

// ticketRequest is the body of creating and editing a ticket. The price
// stays raw so that each way of getting it wrong gets its own message.
type ticketRequest struct {
	Title string          `json:"title"`
	Price json.RawMessage `json:"price"`
}

// ticketResponse is a ticket as clients see it. The price is a JSON number
// of dollars, written from whole cents without passing through floating
// point; orderId is left out while no order holds the ticket.
type ticketResponse struct {
	ID      string       `json:"id"`
	Title   string       `json:"title"`
	Price   events.Money `json:"price"`
	UserID  string       `json:"userId"`
	Version int64        `json:"version"`
	OrderID string       `json:"orderId,omitempty"`
}

func newTicketResponse(t ticket.Ticket) ticketResponse {
	return ticketResponse{ID: t.ID, Title: t.Title, Price: t.Price, UserID: t.UserID, Version: t.Version, OrderID: t.OrderID}
}

func newTicketsResponse(ts []ticket.Ticket) []ticketResponse {
	out := make([]ticketResponse, len(ts)) // never nil: an empty list is [], not null
	for i, t := range ts {
		out[i] = newTicketResponse(t)
	}
	return out
}

// parsePrice reads a price sent as a JSON number of dollars or, as the
// original client sends form input, a string holding one. It returns the
// message of the rule the price breaks, or "". Anything but a number —
// missing, null, an object, an array, a boolean — is not greater than zero,
// as the original's validator judged it.
func parsePrice(raw json.RawMessage) (events.Money, string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, ticket.MsgPricePositive
	}
	s := string(raw)
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, ticket.MsgPricePositive
		}
		s = strings.TrimSpace(s)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
	default:
		return 0, ticket.MsgPricePositive
	}
	if !isDecimal(s) {
		return 0, ticket.MsgPricePositive
	}
	m, err := events.ParseMoney(s)
	if err != nil {
		if !errors.Is(err, events.ErrMoneyFormat) {
			return 0, ticket.MsgPricePositive
		}
		// Only the magnitude of a refused amount is wanted here, to tell
		// which rule it breaks; no money is computed in floating point.
		f, _ := strconv.ParseFloat(s, 64)
		switch {
		case f <= 0:
			return 0, ticket.MsgPricePositive
		case f > float64(events.MaxPrice/100):
			return 0, ticket.MsgPriceTooHigh
		}
		return 0, ticket.MsgPriceCents
	}
	if msg := ticket.CheckPrice(m); msg != "" {
		return 0, msg
	}
	return m, ""
}

// isDecimal reports whether s is a number as JSON writes them, the only
// form of text ParseMoney is asked to read.
func isDecimal(s string) bool {
	return s != "" && json.Valid([]byte(s)) && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r == '.' || r == '-' || r == '+' || r == 'e' || r == 'E')
	}) < 0
}
