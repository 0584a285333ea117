// Package order is the orders service's domain: what an order and the
// replica of a ticket are, the rules that move an order from status to
// status, and what a Store must guarantee. It knows nothing of HTTP,
// MongoDB or NATS; it speaks the wire types of package events only where an
// order becomes an event.
package order

import (
	"context"
	"errors"
	"time"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/events"
)

// Order is a buyer's lock on a ticket, and later its purchase.
type Order struct {
	ID        string
	UserID    string
	Status    events.OrderStatus
	ExpiresAt time.Time
	// Version rises by exactly one with every change to the order.
	Version  int64
	TicketID string
}

// Ticket is the orders service's replica of a ticket of the tickets
// service, kept up to date from ticket:created and ticket:updated only.
type Ticket struct {
	ID    string
	Title string
	Price events.Money
	// Version is the version of the last event applied to the replica.
	Version int64
}

// View is an order together with the ticket it is for, as its buyer sees it.
type View struct {
	Order
	Ticket Ticket
}

// Errors of the order domain. The messages of those with a kind are what a
// client is shown.
var (
	// ErrNotFound is an unknown order.
	ErrNotFound = errs.New(errs.NotFound, "Order not found")
	// ErrTicketNotFound is an order for a ticket the replica does not hold.
	ErrTicketNotFound = errs.New(errs.NotFound, "Ticket not found")
	// ErrReserved is an order for a ticket that another active order holds.
	ErrReserved = errs.New(errs.Invalid, "Ticket is already reserved")
	// ErrNotOwner is a request about someone else's order.
	ErrNotOwner = errs.New(errs.Unauthorized, "Not authorized")
	// ErrCompleted is the cancellation of a paid order.
	ErrCompleted = errs.New(errs.Invalid, "Cannot cancel a completed order")
	// ErrInvalidID is an id that is not a MongoDB ObjectID in hex. Clients
	// meet it for an order id in a path; the store's also wraps
	// mongodb.ErrBadID, the one malformed id of every store.
	ErrInvalidID = errs.New(errs.Invalid, "Order id must be valid")

	// ErrPaidAfterCancel is a payment for an order that was already
	// cancelled: the order stays cancelled, and the charge must be refunded.
	ErrPaidAfterCancel = errors.New("order: payment for a cancelled order")
	// ErrTicketBehind is a ticket:updated event whose previous version the
	// replica does not hold yet; it must wait for the events before it.
	ErrTicketBehind = errors.New("order: ticket replica is behind the event")
	// ErrNotDue is the expiry of an order whose expiresAt has not come yet
	// by the orders service's clock: the order stays as it is, and the
	// expiry must be asked for again once it is due.
	ErrNotDue = errors.New("order: lock has not run out yet")
	// ErrConflict is an order changed by someone else between reading and
	// writing it, more often than a Store retries.
	ErrConflict = errors.New("order: changed concurrently")
)

// Page selects part of a listing in ascending id order, which is oldest
// first: the items whose id is greater than After ("" for the start), at
// most Limit of them (0 for all).
type Page struct {
	After string
	Limit int
}

// Rule decides an order's next status from its current state. Returning
// the current status changes nothing; returning an error refuses the change.
type Rule func(Order) (events.OrderStatus, error)

// Store keeps orders and ticket replicas.
//
// A Store guarantees by itself that at most one active order holds a ticket,
// even when buyers race, and that every change it makes to an order is
// stored together with the event announcing it, so that the event is
// published eventually even if the process dies right after the write.
type Store interface {
	// Create stores o, a new order for ticket t, under a new id, together
	// with its order:created event, and returns it with that id. It fails
	// with ErrReserved when another active order holds the ticket.
	Create(ctx context.Context, o Order, t Ticket) (Order, error)
	// Order returns the order with its ticket, or ErrNotFound.
	Order(ctx context.Context, id string) (View, error)
	// OrdersOf returns the user's orders with their tickets, oldest first,
	// within page, and whether more follow the page.
	OrdersOf(ctx context.Context, userID string, page Page) (vs []View, more bool, err error)
	// Update applies rule to the order while no one else in the process
	// changes it, and stores the status the rule returns with the version
	// raised by one. A change to cancelled stores order:cancelled with it and
	// releases the ticket. It returns the order as it is afterwards, the
	// rule's error, or ErrNotFound.
	Update(ctx context.Context, id string, rule Rule) (Order, error)
	// Overdue returns the ids of up to limit orders still unpaid and active
	// (created or awaiting:payment) whose expiresAt is before t, the
	// earliest expiresAt first.
	Overdue(ctx context.Context, t time.Time, limit int) ([]string, error)

	// Ticket returns the replica of a ticket, or ErrTicketNotFound.
	Ticket(ctx context.Context, id string) (Ticket, error)
	// AddTicket stores a new replica. A ticket already stored is left as it
	// is, so that a redelivered ticket:created changes nothing.
	AddTicket(ctx context.Context, t Ticket) error
	// UpdateTicket applies version t.Version of a ticket when the replica
	// holds the version before it. A version already applied changes nothing;
	// one whose predecessor is missing fails with ErrTicketBehind.
	UpdateTicket(ctx context.Context, t Ticket) error
}

// CreatedEvent is the order:created event announcing o, a new order for
// ticket t.
func (o Order) CreatedEvent(t Ticket) events.OrderCreated {
	return events.OrderCreated{
		ID:        o.ID,
		Version:   o.Version,
		Status:    o.Status,
		UserID:    o.UserID,
		ExpiresAt: events.NewTime(o.ExpiresAt),
		Ticket:    events.OrderTicket{ID: t.ID, Price: t.Price},
	}
}

// CancelledEvent is the order:cancelled event announcing that o, as it is
// after its cancellation, released its ticket.
func (o Order) CancelledEvent() events.OrderCancelled {
	return events.OrderCancelled{
		ID:      o.ID,
		Version: o.Version,
		Ticket:  events.TicketRef{ID: o.TicketID},
	}
}
