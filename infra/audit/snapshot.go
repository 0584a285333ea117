// Package audit checks that the services' databases agree with each other:
// the invariants of the design that no single service can see, such as one
// active order per ticket, a payment behind every complete order, replicas
// at their owner's version, and no event left unpublished.
//
// It reads the databases directly and only reads. The system is eventually
// consistent, so an audit is meaningful once events have stopped flowing:
// WaitQuiet polls until they have, then returns the audit. Every finding
// says whether events still in flight could explain it (Settling); one
// that remains once the system is quiet is a defect.
package audit

import (
	"context"
	"fmt"
	"maps"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/events"
)

// Databases are the databases the audit reads, one per service that owns
// data. In the local stack they share one server (see OnServer); in
// Kubernetes each service has its own.
type Databases struct {
	Auth, Tickets, Orders, Payments *mongo.Database
}

// OnServer returns the databases of a server that holds them all, each
// named after its service, as the local stack's FerretDB does.
func OnServer(client *mongo.Client) Databases {
	return Databases{
		Auth:     client.Database("auth"),
		Tickets:  client.Database("tickets"),
		Orders:   client.Database("orders"),
		Payments: client.Database("payments"),
	}
}

// Connect connects to the server at uri, such as the one the local stack
// prints at start, and returns its databases with the function that
// disconnects.
func Connect(uri string) (Databases, func(context.Context) error, error) {
	client, err := mongo.Connect(options.Client().
		ApplyURI(uri).
		SetServerSelectionTimeout(5 * time.Second).
		SetTimeout(30 * time.Second))
	if err != nil {
		return Databases{}, nil, fmt.Errorf("audit: connect: %w", err)
	}
	return OnServer(client), client.Disconnect, nil
}

// The collections the audit reads, as the services name them.
const (
	usersColl    = "users"    // auth
	ticketsColl  = "tickets"  // tickets; and orders' ticket replicas
	ordersColl   = "orders"   // orders; and payments' order replicas
	claimsColl   = "claims"   // orders
	paymentsColl = "payments" // payments
	// deadLettersColl holds the events a service gave up on, in tickets,
	// orders and payments.
	deadLettersColl = "deadletters"
)

// The statuses of a payment document.
const (
	paymentSucceeded = "succeeded"
	paymentPending   = "pending"
	paymentRefunding = "refunding"
	paymentRefunded  = "refunded"
)

// MaxReleased is how many released orders a ticket remembers, as the
// tickets service keeps them (ticket.MaxReleased).
const MaxReleased = 20

// User is a user of the auth service; only its id is read, never its
// password hash.
type User struct {
	ID string
}

// Ticket is a ticket as the tickets service stores it.
type Ticket struct {
	ID      string
	Title   string
	Price   int64 // cents
	UserID  string
	Version int64
	// OrderID is the order that locks the ticket, or "".
	OrderID string
	// Released are the last orders whose cancellation the ticket has
	// applied, oldest first, at most MaxReleased of them.
	Released []string
	// Pending counts the events stored with the ticket and not yet
	// published.
	Pending int
}

// Order is an order as the orders service stores it.
type Order struct {
	ID        string
	UserID    string
	Status    events.OrderStatus
	ExpiresAt time.Time
	TicketID  string
	Version   int64
	Pending   int
}

// TicketReplica is the orders service's copy of a ticket.
type TicketReplica struct {
	ID      string
	Title   string
	Price   int64
	Version int64
}

// Claim is the orders service's exclusive hold on a ticket for one order.
type Claim struct {
	TicketID  string
	OrderID   string
	CreatedAt time.Time
}

// Payment is a payment, or a claim to charge an order (status pending), as
// the payments service stores it.
type Payment struct {
	ID       string
	OrderID  string
	Status   string
	StripeID string
	RefundID string
	Pending  int
}

// DeadLetter is an event a service gave up on (see package deadletter).
type DeadLetter struct {
	// Service is the database it was found in.
	Service, ID, Subject, Group, Err string
}

// OrderReplica is the payments service's copy of an order.
type OrderReplica struct {
	ID        string
	UserID    string
	Status    events.OrderStatus
	Price     int64
	Version   int64
	ExpiresAt time.Time
}

// Snapshot is everything the audit reads, keyed by id (claims by ticket id).
// The collections are read one after the other, not at one instant: a
// snapshot of a system that is not quiet may look inconsistent.
type Snapshot struct {
	Users          map[string]User
	Tickets        map[string]Ticket
	Orders         map[string]Order
	TicketReplicas map[string]TicketReplica
	Claims         map[string]Claim
	Payments       map[string]Payment
	OrderReplicas  map[string]OrderReplica
	// DeadLetters are those of tickets, orders and payments, by service
	// and id.
	DeadLetters map[string]DeadLetter
}

// The documents as stored. Ids are read raw, so that an id of an
// unexpected type is reported rather than failing the whole read.
type (
	userDoc struct {
		ID bson.RawValue `bson:"_id"`
	}
	ticketDoc struct {
		ID      bson.RawValue `bson:"_id"`
		Title   string        `bson:"title"`
		Price   int64         `bson:"price"`
		UserID  string        `bson:"userId"`
		Version int64         `bson:"version"`
		OrderID string        `bson:"orderId"`
		// Released is releasedOrderIds, in tickets only.
		Released []string   `bson:"releasedOrderIds"`
		Outbox   []bson.Raw `bson:"outbox"`
	}
	orderDoc struct {
		ID        bson.RawValue `bson:"_id"`
		UserID    string        `bson:"userId"`
		Status    string        `bson:"status"`
		ExpiresAt time.Time     `bson:"expiresAt"`
		TicketID  bson.RawValue `bson:"ticketId"`
		Version   int64         `bson:"version"`
		Price     int64         `bson:"price"` // replicas only
		Outbox    []bson.Raw    `bson:"outbox"`
	}
	claimDoc struct {
		ID        bson.RawValue `bson:"_id"`
		OrderID   bson.RawValue `bson:"orderId"`
		CreatedAt time.Time     `bson:"createdAt"`
	}
	paymentDoc struct {
		ID       bson.RawValue `bson:"_id"`
		OrderID  string        `bson:"orderId"`
		Status   string        `bson:"status"`
		StripeID string        `bson:"stripeId"`
		RefundID string        `bson:"refundId"`
		Outbox   []bson.Raw    `bson:"outbox"`
	}
	deadLetterDoc struct {
		ID      string `bson:"_id"`
		Subject string `bson:"subject"`
		Group   string `bson:"group"`
		Err     string `bson:"error"`
	}
)

// Load reads every collection the audit checks.
func Load(ctx context.Context, dbs Databases) (*Snapshot, error) {
	s := &Snapshot{}
	var err error
	if s.Users, err = load(ctx, dbs.Auth.Collection(usersColl), bson.D{{Key: "_id", Value: 1}},
		func(d userDoc) (string, User) { id := idString(d.ID); return id, User{ID: id} }); err != nil {
		return nil, err
	}
	if s.Tickets, err = load(ctx, dbs.Tickets.Collection(ticketsColl), nil, func(d ticketDoc) (string, Ticket) {
		id := idString(d.ID)
		return id, Ticket{ID: id, Title: d.Title, Price: d.Price, UserID: d.UserID, Version: d.Version, OrderID: d.OrderID,
			Released: d.Released, Pending: len(d.Outbox)}
	}); err != nil {
		return nil, err
	}
	// The claims before the orders: the collections are read one after
	// the other, not as one snapshot, and while overdue orders are being
	// cancelled, an order read as active whose claim was released before
	// the claims were read would look like one no claim protects. Read in
	// this order, the same cancellation shows as a claim its cancelled
	// order has not released yet, which the audit only warns of.
	if s.Claims, err = load(ctx, dbs.Orders.Collection(claimsColl), nil, func(d claimDoc) (string, Claim) {
		id := idString(d.ID)
		return id, Claim{TicketID: id, OrderID: idString(d.OrderID), CreatedAt: d.CreatedAt.UTC()}
	}); err != nil {
		return nil, err
	}
	if s.Orders, err = load(ctx, dbs.Orders.Collection(ordersColl), nil, func(d orderDoc) (string, Order) {
		id := idString(d.ID)
		return id, Order{ID: id, UserID: d.UserID, Status: events.OrderStatus(d.Status), ExpiresAt: d.ExpiresAt.UTC(),
			TicketID: idString(d.TicketID), Version: d.Version, Pending: len(d.Outbox)}
	}); err != nil {
		return nil, err
	}
	if s.TicketReplicas, err = load(ctx, dbs.Orders.Collection(ticketsColl), nil, func(d ticketDoc) (string, TicketReplica) {
		id := idString(d.ID)
		return id, TicketReplica{ID: id, Title: d.Title, Price: d.Price, Version: d.Version}
	}); err != nil {
		return nil, err
	}
	if s.Payments, err = load(ctx, dbs.Payments.Collection(paymentsColl), nil, func(d paymentDoc) (string, Payment) {
		id := idString(d.ID)
		return id, Payment{ID: id, OrderID: d.OrderID, Status: d.Status, StripeID: d.StripeID, RefundID: d.RefundID, Pending: len(d.Outbox)}
	}); err != nil {
		return nil, err
	}
	if s.OrderReplicas, err = load(ctx, dbs.Payments.Collection(ordersColl), nil, func(d orderDoc) (string, OrderReplica) {
		id := idString(d.ID)
		return id, OrderReplica{ID: id, UserID: d.UserID, Status: events.OrderStatus(d.Status), Price: d.Price,
			Version: d.Version, ExpiresAt: d.ExpiresAt.UTC()}
	}); err != nil {
		return nil, err
	}
	s.DeadLetters = make(map[string]DeadLetter)
	for _, db := range []*mongo.Database{dbs.Tickets, dbs.Orders, dbs.Payments} {
		letters, err := load(ctx, db.Collection(deadLettersColl), bson.D{{Key: "data", Value: 0}}, func(d deadLetterDoc) (string, DeadLetter) {
			return db.Name() + " " + d.ID, DeadLetter{Service: db.Name(), ID: d.ID, Subject: d.Subject, Group: d.Group, Err: d.Err}
		})
		if err != nil {
			return nil, err
		}
		maps.Copy(s.DeadLetters, letters)
	}
	return s, nil
}

// load reads a whole collection, projected when projection is not nil, and
// keys each document as conv does.
func load[D, T any](ctx context.Context, coll *mongo.Collection, projection any, conv func(D) (string, T)) (map[string]T, error) {
	opts := options.Find()
	if projection != nil {
		opts.SetProjection(projection)
	}
	cur, err := coll.Find(ctx, bson.D{}, opts)
	if err != nil {
		return nil, fmt.Errorf("audit: read %s.%s: %w", coll.Database().Name(), coll.Name(), err)
	}
	var docs []D
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("audit: read %s.%s: %w", coll.Database().Name(), coll.Name(), err)
	}
	out := make(map[string]T, len(docs))
	for _, d := range docs {
		id, v := conv(d)
		out[id] = v
	}
	return out, nil
}

// idString returns an id as the services write it in events and other
// documents: an ObjectID in hex, a string as it is.
func idString(v bson.RawValue) string {
	if oid, ok := v.ObjectIDOK(); ok {
		return oid.Hex()
	}
	if s, ok := v.StringValueOK(); ok {
		return s
	}
	if v.Type == 0 {
		return ""
	}
	return v.String()
}
