package events

// OrderStatus is the life-cycle state of an order.
type OrderStatus string

// The order statuses, as the original app names them.
const (
	// StatusCreated: the ticket is locked, the order is not yet paid.
	StatusCreated OrderStatus = "created"
	// StatusCancelled: cancelled by the buyer or expired; the ticket is released.
	StatusCancelled OrderStatus = "cancelled"
	// StatusAwaitingPayment: kept for wire compatibility; the original never sets it.
	StatusAwaitingPayment OrderStatus = "awaiting:payment"
	// StatusComplete: paid; the ticket is sold.
	StatusComplete OrderStatus = "complete"
)

// Active reports whether an order in this status holds its ticket.
func (s OrderStatus) Active() bool {
	return s == StatusCreated || s == StatusAwaitingPayment || s == StatusComplete
}

// Valid reports whether s is one of the known statuses.
func (s OrderStatus) Valid() bool {
	return s.Active() || s == StatusCancelled
}
