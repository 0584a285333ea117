// Package orderdb keeps orders, ticket replicas and ticket claims in
// MongoDB. It is the only package of the orders service that knows the
// driver: its errors are translated into the order package's before they
// leave.
//
// # No double sale
//
// FerretDB, the embedded server of the tests and the local stack, applies
// neither conditional updates nor a unique index hit by an update
// atomically, and has no transactions or partial indexes; what it does
// guarantee, even under concurrency, is that an insert violating a unique
// key fails with a duplicate key error. So an order claims its ticket by
// inserting a document into the claims collection whose _id is the ticket's
// id: of any number of racing buyers exactly one insert succeeds. The claim
// is deleted when its order is cancelled, which frees the ticket again.
//
// A crash can leave a claim behind: between cancelling an order and deleting
// its claim, or between claiming and inserting the order. Such a claim is
// stale — its order is cancelled, or still missing well after the claim was
// made — and a buyer who finds one deletes it and claims again.
//
// # Outbox
//
// Each order document carries its pending events in the outbox.Field array,
// written by the same single-document write as the change they announce; an
// outbox.Relay publishes them. Every write of an order, and the relay's
// removal of a published event, holds the order's lock from the keylock
// shared with the relay.
package orderdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
	"ticketing.dev/orders/internal/order"
)

// The collections of the orders database.
const (
	// OrdersCollection holds the orders and their pending events; the
	// outbox relay reads it.
	OrdersCollection = "orders"
	// TicketsCollection holds the replicas of the tickets service's tickets.
	TicketsCollection = "tickets"
	// ClaimsCollection holds one document per locked or sold ticket.
	ClaimsCollection = "claims"
)

// DefaultStaleClaim is how long a claim without an order is taken to be an
// order still being inserted, rather than one whose insertion died with its
// process. Inserting an order takes milliseconds.
const DefaultStaleClaim = time.Minute

// updateAttempts bounds how often Update re-reads an order that another
// process changed between the read and the write.
const updateAttempts = 3

// cleanupTimeout bounds clean-up writes that must happen even after the
// caller's context is done, such as giving up a claim whose order was
// never stored.
const cleanupTimeout = 5 * time.Second

// orderDoc is an order as stored.
type orderDoc struct {
	ID        bson.ObjectID      `bson:"_id"`
	UserID    string             `bson:"userId"`
	Status    events.OrderStatus `bson:"status"`
	ExpiresAt time.Time          `bson:"expiresAt"`
	TicketID  bson.ObjectID      `bson:"ticketId"`
	Version   int64              `bson:"version"`
	// Outbox is written on insert only; reads leave it out.
	Outbox []outbox.Message `bson:"outbox,omitempty"`
}

func (d orderDoc) order() order.Order {
	return order.Order{
		ID:        d.ID.Hex(),
		UserID:    d.UserID,
		Status:    d.Status,
		ExpiresAt: d.ExpiresAt.UTC(),
		Version:   d.Version,
		TicketID:  d.TicketID.Hex(),
	}
}

// ticketDoc is a ticket replica as stored; its _id is the ticket's id in
// the tickets service.
type ticketDoc struct {
	ID      bson.ObjectID `bson:"_id"`
	Title   string        `bson:"title"`
	Price   int64         `bson:"price"` // cents
	Version int64         `bson:"version"`
}

func (d ticketDoc) ticket() order.Ticket {
	return order.Ticket{ID: d.ID.Hex(), Title: d.Title, Price: events.Money(d.Price), Version: d.Version}
}

// claimDoc reserves the ticket named by its _id for one order.
type claimDoc struct {
	TicketID  bson.ObjectID `bson:"_id"`
	OrderID   bson.ObjectID `bson:"orderId"`
	CreatedAt time.Time     `bson:"createdAt"`
}

// Store is an order.Store on a MongoDB database.
type Store struct {
	orders, tickets, claims *mongo.Collection
	guard                   *mongodb.Guard
	// The inserts of orders, of their claims and of ticket replicas: many
	// arrive at once under load, and go into one command each.
	orderInserts, claimInserts, replicas *mongodb.Inserter

	// orderLocks serialise the writes of one order; they are shared with
	// the outbox relay, which takes them to remove published events.
	orderLocks *keylock.Locks
	// ticketLocks serialise the updates of one ticket replica.
	ticketLocks keylock.Locks
	// claimLocks serialise the deletions of one ticket's claim with the
	// checks before them: FerretDB's filtered deletes are not atomic either,
	// and one that read a stale claim must not delete its successor.
	claimLocks keylock.Locks

	relay      outbox.Handoff
	now        func() time.Time
	staleClaim time.Duration
}

var _ order.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithClock makes the Store read the time from now; tests use it.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// New returns a Store on db. locks must be the relay's (see
// outbox.NewRelay), and relay is told of every write that would store an
// event (see outbox.Handoff). Call EnsureIndexes before serving.
func New(db *mongo.Database, locks *keylock.Locks, relay outbox.Handoff, opts ...Option) *Store {
	orders, tickets, claims := db.Collection(OrdersCollection), db.Collection(TicketsCollection), db.Collection(ClaimsCollection)
	s := &Store{
		orders:       orders,
		guard:        mongodb.NewGuard(db),
		tickets:      tickets,
		claims:       claims,
		orderInserts: mongodb.NewInserter(orders),
		claimInserts: mongodb.NewInserter(claims),
		replicas:     mongodb.NewInserter(tickets),
		orderLocks:   locks,
		relay:        relay,
		now:          time.Now,
		staleClaim:   DefaultStaleClaim,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// EnsureIndexes creates, if missing, the index that lists a user's orders,
// and pages through them in id order, and the one that finds overdue
// orders by status and expiresAt; it drops the index on userId alone that
// the first replaces. The claims need no index of their own: their
// uniqueness is their _id's.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	err := mongodb.CreateIndexes(ctx, s.orders,
		mongo.IndexModel{
			Keys:    bson.D{{Key: "userId", Value: 1}, {Key: "_id", Value: 1}},
			Options: options.Index().SetName("userId_id"),
		},
		mongo.IndexModel{
			Keys:    bson.D{{Key: "status", Value: 1}, {Key: "expiresAt", Value: 1}},
			Options: options.Index().SetName("status_expiresAt"),
		},
	)
	if err != nil {
		return err
	}
	// Databases made before paging hold the narrower index; every query it
	// served is served by the new one.
	err = s.orders.Indexes().DropOne(ctx, "userId")
	var cmdErr mongo.CommandError
	if err != nil && !(errors.As(err, &cmdErr) && cmdErr.Code == codeIndexNotFound) {
		return fmt.Errorf("drop superseded orders index: %w", err)
	}
	return nil
}

// codeIndexNotFound is the server's error code for dropping an index that
// does not exist.
const codeIndexNotFound = 27

// Create claims t for o, then stores o under a new id with its
// order:created event. If the order cannot be stored, the claim is given up
// again.
func (s *Store) Create(ctx context.Context, o order.Order, t order.Ticket) (order.Order, error) {
	tid, err := mongodb.ParseID(t.ID, order.ErrInvalidID)
	if err != nil {
		return order.Order{}, err
	}
	id := bson.NewObjectID()
	o.ID, o.TicketID, o.Version = id.Hex(), t.ID, 0
	msg, err := outbox.New(ctx, o.CreatedEvent(t))
	if err != nil {
		return order.Order{}, err
	}
	if err := s.claim(ctx, tid, id); err != nil {
		return order.Order{}, err
	}
	doc := orderDoc{
		ID:        id,
		UserID:    o.UserID,
		Status:    o.Status,
		ExpiresAt: o.ExpiresAt,
		TicketID:  tid,
		Version:   0,
		Outbox:    []outbox.Message{msg},
	}
	unlock := s.orderLocks.Lock(o.ID)
	err = s.orderInserts.InsertOne(ctx, doc)
	outbox.HandOver(s.relay, err, id, msg)
	unlock()
	if err != nil {
		return order.Order{}, errors.Join(fmt.Errorf("insert order: %w", err), s.abandonClaim(ctx, tid, id))
	}
	return o, nil
}

// claim reserves ticket for orderID, or fails with order.ErrReserved.
func (s *Store) claim(ctx context.Context, ticket, orderID bson.ObjectID) error {
	err := s.insertClaim(ctx, ticket, orderID)
	if !mongo.IsDuplicateKeyError(err) {
		return err
	}
	// The ticket is claimed. Most of the time that is the answer; look
	// closer only to recover from a claim a crash left behind.
	unlock := s.claimLocks.Lock(ticket.Hex())
	defer unlock()
	var c claimDoc
	err = s.claims.FindOne(ctx, bson.D{{Key: "_id", Value: ticket}}).Decode(&c)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		// Released since our attempt: try once more.
	case err != nil:
		return fmt.Errorf("find claim: %w", err)
	default:
		stale, err := s.stale(ctx, c)
		if err != nil {
			return err
		}
		if !stale {
			return order.ErrReserved
		}
		if _, err := s.guard.DeleteOne(ctx, s.claims, ticket, bson.D{{Key: "orderId", Value: c.OrderID}}); err != nil {
			return fmt.Errorf("delete stale claim: %w", err)
		}
	}
	err = s.insertClaim(ctx, ticket, orderID)
	if mongo.IsDuplicateKeyError(err) {
		return order.ErrReserved
	}
	return err
}

func (s *Store) insertClaim(ctx context.Context, ticket, orderID bson.ObjectID) error {
	err := s.claimInserts.InsertOne(ctx, claimDoc{TicketID: ticket, OrderID: orderID, CreatedAt: s.now().UTC()})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("insert claim: %w", err)
	}
	return err
}

// stale reports whether c was left behind by a crash: its order was
// cancelled without the claim being deleted, or its order was never stored.
func (s *Store) stale(ctx context.Context, c claimDoc) (bool, error) {
	var o orderDoc
	err := s.orders.FindOne(ctx, bson.D{{Key: "_id", Value: c.OrderID}}, options.FindOne().SetProjection(outbox.Without)).Decode(&o)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return s.now().Sub(c.CreatedAt) > s.staleClaim, nil
	case err != nil:
		return false, fmt.Errorf("find claiming order: %w", err)
	}
	return o.Status == events.StatusCancelled, nil
}

// abandonClaim gives up the claim of an order whose insert failed, unless
// the order turns out to be stored after all (the insert may have failed
// after the server applied it). When in doubt the claim stays: a claim
// without an order becomes stale and is recovered, whereas deleting the
// claim of a stored order could sell its ticket twice.
func (s *Store) abandonClaim(ctx context.Context, ticket, orderID bson.ObjectID) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	n, err := s.orders.CountDocuments(ctx, bson.D{{Key: "_id", Value: orderID}})
	if err != nil {
		return fmt.Errorf("abandon claim: %w", err)
	}
	if n > 0 {
		return nil
	}
	return s.releaseClaim(ctx, ticket, orderID)
}

// releaseClaim deletes orderID's claim of ticket, if it still holds it.
func (s *Store) releaseClaim(ctx context.Context, ticket, orderID bson.ObjectID) error {
	unlock := s.claimLocks.Lock(ticket.Hex())
	defer unlock()
	if _, err := s.guard.DeleteOne(ctx, s.claims, ticket, bson.D{{Key: "orderId", Value: orderID}}); err != nil {
		return fmt.Errorf("release claim: %w", err)
	}
	return nil
}

// Order returns the order with its ticket.
func (s *Store) Order(ctx context.Context, id string) (order.View, error) {
	oid, err := mongodb.ParseID(id, order.ErrInvalidID)
	if err != nil {
		return order.View{}, err
	}
	o, err := s.order(ctx, oid)
	if err != nil {
		return order.View{}, err
	}
	tickets, err := s.ticketsByID(ctx, []bson.ObjectID{o.TicketID})
	if err != nil {
		return order.View{}, err
	}
	return view(o, tickets)
}

func (s *Store) order(ctx context.Context, id bson.ObjectID) (orderDoc, error) {
	var o orderDoc
	err := mongodb.FindByID(ctx, s.orders, id, &o, order.ErrNotFound, options.FindOne().SetProjection(outbox.Without))
	return o, err
}

// OrdersOf returns the user's orders, oldest first, within page, with
// their tickets, read by one query for all the tickets, and whether more
// orders follow the page: it reads one order more than the page holds to
// tell. A page's After that is no ObjectID is order.ErrInvalidID.
func (s *Store) OrdersOf(ctx context.Context, userID string, page order.Page) ([]order.View, bool, error) {
	docs, more, err := mongodb.FindPage[orderDoc](ctx, s.orders, bson.D{{Key: "userId", Value: userID}}, outbox.Without, mongodb.Page(page), order.ErrInvalidID)
	if errors.Is(err, mongodb.ErrBadID) {
		return nil, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("find orders: %w", err)
	}
	views := make([]order.View, 0, len(docs))
	if len(docs) == 0 {
		return views, more, nil
	}
	ids := make([]bson.ObjectID, 0, len(docs))
	seen := make(map[bson.ObjectID]bool, len(docs))
	for _, d := range docs {
		if !seen[d.TicketID] {
			seen[d.TicketID] = true
			ids = append(ids, d.TicketID)
		}
	}
	tickets, err := s.ticketsByID(ctx, ids)
	if err != nil {
		return nil, false, err
	}
	for _, d := range docs {
		v, err := view(d, tickets)
		if err != nil {
			return nil, false, err
		}
		views = append(views, v)
	}
	return views, more, nil
}

// ticketsByID reads the tickets of ids by one query. One ticket is read by
// {_id: id} rather than {_id: {$in: [id]}}: FerretDB passes only an
// equality down to its backend, and reads and decodes every document of
// the collection for an $in (with 25,000 tickets, an order's page timed
// out under load).
func (s *Store) ticketsByID(ctx context.Context, ids []bson.ObjectID) (map[bson.ObjectID]ticketDoc, error) {
	var filter bson.D
	if len(ids) == 1 {
		filter = bson.D{{Key: "_id", Value: ids[0]}}
	} else {
		filter = bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}
	}
	cur, err := s.tickets.Find(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("find tickets: %w", err)
	}
	var docs []ticketDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("find tickets: %w", err)
	}
	byID := make(map[bson.ObjectID]ticketDoc, len(docs))
	for _, d := range docs {
		byID[d.ID] = d
	}
	return byID, nil
}

// view joins an order with its ticket. An order is only ever placed for a
// ticket in the replica, and replicas are never deleted, so a missing one
// is a fault of the server.
func view(o orderDoc, tickets map[bson.ObjectID]ticketDoc) (order.View, error) {
	t, ok := tickets[o.TicketID]
	if !ok {
		return order.View{}, fmt.Errorf("order %s: ticket %s missing from the replica", o.ID.Hex(), o.TicketID.Hex())
	}
	return order.View{Order: o.order(), Ticket: t.ticket()}, nil
}

// Update applies rule to the order under its lock and stores the result,
// filtering on the version read so that a write by another process in
// between is noticed and the rule applied again to what it wrote.
func (s *Store) Update(ctx context.Context, id string, rule order.Rule) (order.Order, error) {
	oid, err := mongodb.ParseID(id, order.ErrInvalidID)
	if err != nil {
		return order.Order{}, err
	}
	unlock := s.orderLocks.Lock(oid.Hex())
	defer unlock()
	for range updateAttempts {
		doc, err := s.order(ctx, oid)
		if err != nil {
			return order.Order{}, err
		}
		o := doc.order()
		next, err := rule(o)
		if err != nil {
			return o, err
		}
		if next == o.Status {
			if o.Status == events.StatusCancelled {
				// A crash may have come between cancelling and releasing:
				// whoever cancels again finishes the job.
				return o, s.releaseClaim(ctx, doc.TicketID, doc.ID)
			}
			return o, nil
		}
		changed := o
		changed.Status, changed.Version = next, o.Version+1
		set := bson.D{{Key: "status", Value: next}, {Key: "version", Value: changed.Version}}
		update := bson.D{{Key: "$set", Value: set}}
		cancelled := next == events.StatusCancelled
		var msg outbox.Message
		if cancelled {
			if msg, err = outbox.New(ctx, changed.CancelledEvent()); err != nil {
				return o, err
			}
			update = append(update, bson.E{Key: "$push", Value: bson.D{{Key: outbox.Field, Value: msg}}})
		}
		ok, err := s.guard.UpdateLocked(ctx, s.orders, oid, bson.D{{Key: "version", Value: o.Version}}, update)
		if err != nil {
			if cancelled {
				s.relay.Notify()
			}
			return o, fmt.Errorf("update order: %w", err)
		}
		if !ok {
			continue // changed by another process since we read it
		}
		if !cancelled {
			return changed, nil
		}
		s.relay.Stored(oid, msg)
		return changed, s.releaseClaim(ctx, doc.TicketID, doc.ID)
	}
	return order.Order{}, fmt.Errorf("update order %s: %w", id, order.ErrConflict)
}

// Overdue returns the ids of up to limit orders created or awaiting payment
// whose expiresAt is before t, earliest first. MongoDB answers it from the
// status_expiresAt index; FerretDB's SQLite backend reads the whole
// collection, which the sweep's interval of tens of seconds affords.
func (s *Store) Overdue(ctx context.Context, t time.Time, limit int) ([]string, error) {
	filter := bson.D{
		{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{events.StatusCreated, events.StatusAwaitingPayment}}}},
		{Key: "expiresAt", Value: bson.D{{Key: "$lt", Value: t}}},
	}
	opts := options.Find().
		SetProjection(bson.D{{Key: "_id", Value: 1}}).
		SetSort(bson.D{{Key: "expiresAt", Value: 1}, {Key: "_id", Value: 1}}).
		SetLimit(int64(limit))
	cur, err := s.orders.Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("find overdue orders: %w", err)
	}
	var docs []struct {
		ID bson.ObjectID `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("find overdue orders: %w", err)
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID.Hex()
	}
	return ids, nil
}

// Ticket returns the replica of a ticket.
func (s *Store) Ticket(ctx context.Context, id string) (order.Ticket, error) {
	tid, err := mongodb.ParseID(id, order.ErrInvalidID)
	if err != nil {
		return order.Ticket{}, err
	}
	var d ticketDoc
	if err := mongodb.FindByID(ctx, s.tickets, tid, &d, order.ErrTicketNotFound); err != nil {
		return order.Ticket{}, err
	}
	return d.ticket(), nil
}

// AddTicket inserts a new replica; a duplicate key means it is there already.
func (s *Store) AddTicket(ctx context.Context, t order.Ticket) error {
	tid, err := mongodb.ParseID(t.ID, order.ErrInvalidID)
	if err != nil {
		return err
	}
	err = s.replicas.InsertOne(ctx, ticketDoc{ID: tid, Title: t.Title, Price: t.Price.Cents(), Version: t.Version})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("insert ticket: %w", err)
	}
	return nil
}

// UpdateTicket applies version t.Version when the replica holds the one
// before it (mongodb.Guard.ApplyVersion).
func (s *Store) UpdateTicket(ctx context.Context, t order.Ticket) error {
	tid, err := mongodb.ParseID(t.ID, order.ErrInvalidID)
	if err != nil {
		return err
	}
	unlock := s.ticketLocks.Lock(tid.Hex())
	defer unlock()
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "title", Value: t.Title},
		{Key: "price", Value: t.Price.Cents()},
		{Key: "version", Value: t.Version},
	}}}
	if err := s.guard.ApplyVersion(ctx, s.tickets, tid, t.Version, update, order.ErrTicketBehind); err != nil {
		return fmt.Errorf("update ticket: %w", err)
	}
	return nil
}
