// Package ticket is the tickets service's domain: what a ticket is, who may
// change it and when, how orders lock and release it, and the Store that
// keeps it. It knows nothing of HTTP, MongoDB or NATS.
package ticket

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/events"
)

// Ticket is a ticket listed for sale.
type Ticket struct {
	ID     string
	Title  string
	Price  events.Money
	UserID string
	// Version rises by exactly one on every change; replicas in other
	// services apply events in version order.
	Version int64
	// OrderID is the order that holds the ticket; empty while it is for sale.
	OrderID string
	// ReleasedOrderIDs are the most recent orders that held the ticket and
	// were cancelled, oldest first, at most MaxReleased of them. They let a
	// redelivered order:created or order:cancelled be recognised as done.
	ReleasedOrderIDs []string
}

// MaxReleased bounds ReleasedOrderIDs. NATS Streaming redelivers an
// unacknowledged event within seconds, long before a ticket could be
// locked and released this many more times.
const MaxReleased = 20

// Errors of the ticket domain. Their messages are what a client is shown.
var (
	// ErrNotFound is an unknown ticket.
	ErrNotFound = errs.New(errs.NotFound, "Ticket not found")
	// ErrInvalidID is a ticket id that is not an ObjectID in hex; the
	// store's also wraps mongodb.ErrBadID, the one malformed id of every
	// store.
	ErrInvalidID = errs.New(errs.Invalid, "Ticket id must be valid")
	// ErrNotOwner is an edit by someone other than the seller.
	ErrNotOwner = errs.New(errs.Unauthorized, "Not authorized")
	// ErrReserved is an edit of a ticket that an order holds.
	ErrReserved = errs.New(errs.Invalid, "Cannot edit a reserved ticket")
	// ErrConflict is a write based on a version that is no longer the
	// stored one: another write won the race. The errs package has no
	// conflict kind, so a client that sees it is told to try again.
	ErrConflict = errs.New(errs.Invalid, "Ticket was changed by another request, please try again")
)

// MsgTooManyForSale is the message of a create by a seller who already has
// the most tickets for sale allowed; %d is that number.
const MsgTooManyForSale = "You already have %d tickets for sale, the most one seller may have: wait until some are sold"

// TooManyForSale is the error of a create by a seller who already has max
// tickets for sale: a 400 in the common shape, with no field.
func TooManyForSale(max int) error {
	return errs.New(errs.Invalid, fmt.Sprintf(MsgTooManyForSale, max))
}

// Errors of the order listeners. Both mean "not yet": the event is left
// unacknowledged so that it is delivered again once the event it waits
// for has been applied.
var (
	// ErrHeldByOtherOrder is an order:created for a ticket that another
	// order still holds; that order's cancellation has not arrived yet.
	ErrHeldByOtherOrder = errors.New("ticket is held by another order")
	// ErrOrderNotApplied is an order:cancelled whose order:created has not
	// been applied yet.
	ErrOrderNotApplied = errors.New("order has not reserved the ticket yet")
)

// Reserved reports whether an order holds the ticket, so that it can be
// neither bought by anyone else nor edited.
func (t Ticket) Reserved() bool { return t.OrderID != "" }

// Edit changes the title and price on behalf of userID. Only the seller may
// edit, and only while no order holds the ticket.
func (t *Ticket) Edit(userID, title string, price events.Money) error {
	if t.UserID != userID {
		return ErrNotOwner
	}
	if t.Reserved() {
		return ErrReserved
	}
	t.Title, t.Price = title, price
	return nil
}

// Reserve locks the ticket for orderID. It reports false, with no change,
// when the order already holds the ticket or has already released it: the
// event is a redelivery. A ticket held by another order cannot be reserved
// until that order's cancellation has been applied.
func (t *Ticket) Reserve(orderID string) (changed bool, err error) {
	switch {
	case t.OrderID == orderID, slices.Contains(t.ReleasedOrderIDs, orderID):
		return false, nil
	case t.Reserved():
		return false, ErrHeldByOtherOrder
	}
	t.OrderID = orderID
	return true, nil
}

// Release unlocks the ticket held by orderID and remembers the order, so
// that its redelivered events change nothing. It reports false, with no
// change, when the order has already released the ticket. A cancellation
// that arrives before its order's reservation fails with
// ErrOrderNotApplied while the ticket is free, so that the reservation and
// its release are applied in order.
//
// While another order holds the ticket, the order's reservation cannot be
// applied before that one is released, and never if that one is paid:
// waiting for it would redeliver both of the order's events forever. The
// order is then only remembered as released, so that its order:created,
// whenever it comes, changes nothing.
func (t *Ticket) Release(orderID string) (changed bool, err error) {
	switch {
	case t.OrderID == orderID && orderID != "":
		t.OrderID = ""
		t.rememberReleased(orderID)
		return true, nil
	case slices.Contains(t.ReleasedOrderIDs, orderID):
		return false, nil
	case t.Reserved() && orderID != "":
		t.rememberReleased(orderID)
		return true, nil
	}
	return false, ErrOrderNotApplied
}

// rememberReleased adds orderID to the released orders, keeping the last
// MaxReleased.
func (t *Ticket) rememberReleased(orderID string) {
	t.ReleasedOrderIDs = append(t.ReleasedOrderIDs, orderID)
	if n := len(t.ReleasedOrderIDs); n > MaxReleased {
		t.ReleasedOrderIDs = slices.Clone(t.ReleasedOrderIDs[n-MaxReleased:])
	}
}

// Created is the event announcing the ticket.
func (t Ticket) Created() events.TicketCreated {
	return events.TicketCreated{ID: t.ID, Version: t.Version, Title: t.Title, Price: t.Price, UserID: t.UserID}
}

// Updated is the event announcing the ticket's current state.
func (t Ticket) Updated() events.TicketUpdated {
	return events.TicketUpdated{ID: t.ID, Version: t.Version, Title: t.Title, Price: t.Price, UserID: t.UserID, OrderID: t.OrderID}
}

// Page selects part of a listing in ascending id order, which is oldest
// first: the items whose id is greater than After ("" for the start), at
// most Limit of them (0 for all).
type Page struct {
	After string
	Limit int
}

// Store keeps tickets together with the events that announce their changes:
// a change and its event are stored in one write, and published afterwards,
// so that neither can be kept without the other.
type Store interface {
	// Insert stores t under a new id at version 0 with its ticket:created
	// event and returns it with that id and version.
	Insert(ctx context.Context, t Ticket) (Ticket, error)
	// Get returns the ticket, ErrNotFound, or ErrInvalidID.
	Get(ctx context.Context, id string) (Ticket, error)
	// Available returns the tickets no order holds, oldest first, within
	// page, and whether more follow the page.
	Available(ctx context.Context, page Page) (ts []Ticket, more bool, err error)
	// CountForSale returns how many tickets of userID no order holds,
	// counting no further than upTo: the caller only asks whether the
	// seller has reached a bound.
	CountForSale(ctx context.Context, userID string, upTo int) (int, error)
	// LockSeller holds userID's create lock, which every process on the
	// store shares, until unlock is called, waiting for it until ctx is
	// done: a count of the seller's tickets and an insert under it cannot
	// interleave with another create's, whichever replica runs it. A lock
	// whose holder died lapses after a while.
	LockSeller(ctx context.Context, userID string) (unlock func(context.Context) error, err error)
	// Update applies change to ticket id as stored, and when change reports
	// a change, stores the result as the next version with its
	// ticket:updated event. It returns the ticket as it stands and whether
	// it changed. A write by another process in between is noticed, and
	// change applied again to what that write stored, a few times at most
	// before ErrConflict. It fails with ErrNotFound or ErrInvalidID, and
	// with change's error, which leaves the ticket as it was.
	Update(ctx context.Context, id string, change Change) (Ticket, bool, error)
}

// Change changes a ticket in place by the rules of its methods (Edit,
// Reserve, Release) and reports whether it changed anything.
type Change func(*Ticket) (bool, error)
