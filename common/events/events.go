// Package events is the wire contract between the services: every subject on
// the bus (a NATS Streaming channel, or a subject of the JetStream stream)
// and the one payload type that travels on it. The JSON is the
// same as the original Node.js app's, so services of either can share a bus.
package events

// Subject names a NATS Streaming channel, or a subject of the JetStream
// stream.
type Subject string

// The subjects on the wire.
const (
	SubjectTicketCreated      Subject = "ticket:created"
	SubjectTicketUpdated      Subject = "ticket:updated"
	SubjectOrderCreated       Subject = "order:created"
	SubjectOrderCancelled     Subject = "order:cancelled"
	SubjectExpirationComplete Subject = "expiration:complete"
	SubjectPaymentCreated     Subject = "payment:created"
)

// Subjects returns every subject on the wire.
func Subjects() []Subject {
	return []Subject{
		SubjectTicketCreated, SubjectTicketUpdated, SubjectOrderCreated,
		SubjectOrderCancelled, SubjectExpirationComplete, SubjectPaymentCreated,
	}
}

// Event is implemented by every payload type; it ties the type to its subject
// so that publishers and listeners are typed by payload alone.
type Event interface {
	Subject() Subject
}

// TicketCreated is published by tickets when a ticket is listed.
type TicketCreated struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
	Title   string `json:"title"`
	Price   Money  `json:"price"`
	UserID  string `json:"userId"`
}

// TicketUpdated is published by tickets on every change to a ticket,
// including its reservation (OrderID set) and release (OrderID empty).
type TicketUpdated struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
	Title   string `json:"title"`
	Price   Money  `json:"price"`
	UserID  string `json:"userId"`
	OrderID string `json:"orderId,omitempty"`
}

// OrderCreated is published by orders when a ticket is locked for a buyer.
type OrderCreated struct {
	ID        string      `json:"id"`
	Version   int64       `json:"version"`
	Status    OrderStatus `json:"status"`
	UserID    string      `json:"userId"`
	ExpiresAt Time        `json:"expiresAt"`
	Ticket    OrderTicket `json:"ticket"`
}

// OrderTicket is the ticket as order:created carries it.
type OrderTicket struct {
	ID    string `json:"id"`
	Price Money  `json:"price"`
}

// OrderCancelled is published by orders when an order is cancelled by its
// buyer or by expiration.
type OrderCancelled struct {
	ID      string    `json:"id"`
	Version int64     `json:"version"`
	Ticket  TicketRef `json:"ticket"`
}

// TicketRef identifies a ticket inside another event.
type TicketRef struct {
	ID string `json:"id"`
}

// ExpirationComplete is published by expiration when an order's lock runs out.
type ExpirationComplete struct {
	OrderID string `json:"orderId"`
}

// PaymentCreated is published by payments when an order has been charged.
type PaymentCreated struct {
	ID       string `json:"id"`
	OrderID  string `json:"orderId"`
	StripeID string `json:"stripeId"`
}

// Subject implements Event.
func (TicketCreated) Subject() Subject { return SubjectTicketCreated }

// Subject implements Event.
func (TicketUpdated) Subject() Subject { return SubjectTicketUpdated }

// Subject implements Event.
func (OrderCreated) Subject() Subject { return SubjectOrderCreated }

// Subject implements Event.
func (OrderCancelled) Subject() Subject { return SubjectOrderCancelled }

// Subject implements Event.
func (ExpirationComplete) Subject() Subject { return SubjectExpirationComplete }

// Subject implements Event.
func (PaymentCreated) Subject() Subject { return SubjectPaymentCreated }
