// Package ticketdb keeps tickets in MongoDB, each with its pending events
// in the same document. It is the only package of the tickets service that
// knows the driver: its errors are translated into the ticket package's
// before they leave.
package ticketdb

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
	"ticketing.dev/tickets/internal/ticket"
)

// Collection is where tickets live, the name the original app's mongoose
// model gave it.
const Collection = "tickets"

// document is a ticket as stored: the original app's field names, plus the
// pending events and the orders that released the ticket.
type document struct {
	ID               bson.ObjectID    `bson:"_id"`
	Title            string           `bson:"title"`
	Price            int64            `bson:"price"` // cents
	UserID           string           `bson:"userId"`
	Version          int64            `bson:"version"`
	OrderID          string           `bson:"orderId,omitempty"`
	Outbox           []outbox.Message `bson:"outbox"`
	ReleasedOrderIDs []string         `bson:"releasedOrderIds,omitempty"`
}

func (d document) ticket() ticket.Ticket {
	if len(d.ReleasedOrderIDs) == 0 {
		d.ReleasedOrderIDs = nil // stored as [] once set, absent before
	}
	return ticket.Ticket{
		ID:               d.ID.Hex(),
		Title:            d.Title,
		Price:            events.Money(d.Price),
		UserID:           d.UserID,
		Version:          d.Version,
		OrderID:          d.OrderID,
		ReleasedOrderIDs: d.ReleasedOrderIDs,
	}
}

// Store is a ticket.Store on a MongoDB collection.
//
// Every write of a ticket happens under the ticket's lock in locks, which
// the outbox relay of the collection shares, and names the version it
// replaces in its filter. The lock is what makes concurrent writes of one
// document safe on FerretDB, which does not apply conditional updates
// atomically; the version filter keeps them safe on MongoDB across
// processes.
type Store struct {
	coll    *mongo.Collection
	inserts *mongodb.Inserter
	guard   *mongodb.Guard
	locks   *keylock.Locks
	relay   outbox.Handoff

	// sellerLocks are the sellers' create locks (see LockSeller), which
	// lapse after lease by now.
	sellerLocks *mongo.Collection
	lease       time.Duration
	now         func() time.Time
}

var _ ticket.Store = (*Store)(nil)

// New returns a Store on db's tickets collection. locks must be the
// relay's (see outbox.NewRelay), and relay is told of every write that
// would leave an event pending (see outbox.Handoff). Call EnsureIndexes
// before serving.
func New(db *mongo.Database, locks *keylock.Locks, relay outbox.Handoff, opts ...Option) *Store {
	coll := db.Collection(Collection)
	s := &Store{
		coll: coll, inserts: mongodb.NewInserter(coll), guard: mongodb.NewGuard(db), locks: locks, relay: relay,
		sellerLocks: db.Collection(SellerLocks), lease: DefaultSellerLease, now: time.Now,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// EnsureIndexes creates the indexes that are missing: the listing of
// available tickets and its pages, and the count of a seller's tickets for
// sale.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	return mongodb.CreateIndexes(ctx, s.coll,
		mongo.IndexModel{
			Keys:    bson.D{{Key: "orderId", Value: 1}, {Key: "_id", Value: 1}},
			Options: options.Index().SetName("orderId_id"),
		},
		mongo.IndexModel{
			Keys:    bson.D{{Key: "userId", Value: 1}, {Key: "orderId", Value: 1}},
			Options: options.Index().SetName("userId_orderId"),
		},
	)
}

// Insert stores t under a new ObjectID at version 0, with its
// ticket:created event pending.
func (s *Store) Insert(ctx context.Context, t ticket.Ticket) (ticket.Ticket, error) {
	id := bson.NewObjectID()
	t.ID, t.Version, t.OrderID, t.ReleasedOrderIDs = id.Hex(), 0, "", nil
	msg, err := outbox.New(ctx, t.Created())
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("insert ticket: %w", err)
	}
	doc := document{
		ID:      id,
		Title:   t.Title,
		Price:   t.Price.Cents(),
		UserID:  t.UserID,
		Version: t.Version,
		Outbox:  []outbox.Message{msg},
	}
	unlock := s.locks.Lock(t.ID)
	err = s.inserts.InsertOne(ctx, doc)
	outbox.HandOver(s.relay, err, id, msg)
	unlock()
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("insert ticket: %w", err)
	}
	return t, nil
}

// Get returns the ticket with the id, ticket.ErrNotFound, or
// ticket.ErrInvalidID when id is no ObjectID.
func (s *Store) Get(ctx context.Context, id string) (ticket.Ticket, error) {
	oid, err := mongodb.ParseID(id, ticket.ErrInvalidID)
	if err != nil {
		return ticket.Ticket{}, err
	}
	return s.get(ctx, oid)
}

func (s *Store) get(ctx context.Context, oid bson.ObjectID) (ticket.Ticket, error) {
	var doc document
	if err := mongodb.FindByID(ctx, s.coll, oid, &doc, ticket.ErrNotFound, options.FindOne().SetProjection(outbox.Without)); err != nil {
		return ticket.Ticket{}, err
	}
	return doc.ticket(), nil
}

// Available returns the tickets no order holds, oldest first, within page,
// and whether more follow the page: it reads one ticket more than the page
// holds to tell. A page's After that is no ObjectID is ticket.ErrInvalidID.
func (s *Store) Available(ctx context.Context, page ticket.Page) ([]ticket.Ticket, bool, error) {
	filter := bson.D{{Key: "orderId", Value: bson.D{{Key: "$exists", Value: false}}}}
	docs, more, err := mongodb.FindPage[document](ctx, s.coll, filter, outbox.Without, mongodb.Page(page), ticket.ErrInvalidID)
	if err != nil {
		return nil, false, fmt.Errorf("find available tickets: %w", err)
	}
	ts := make([]ticket.Ticket, len(docs))
	for i, d := range docs {
		ts[i] = d.ticket()
	}
	return ts, more, nil
}

// CountForSale counts the tickets of userID without an orderId, stopping
// at upTo (0: no stop). On MongoDB the index (userId, orderId) takes the
// count straight to the seller's tickets that no order holds (a missing
// orderId is indexed as null), and the limit bounds the work by upTo
// however many the seller has sold or has reserved.
func (s *Store) CountForSale(ctx context.Context, userID string, upTo int) (int, error) {
	filter := bson.D{
		{Key: "userId", Value: userID},
		{Key: "orderId", Value: bson.D{{Key: "$exists", Value: false}}},
	}
	opts := options.Count()
	if upTo > 0 {
		opts.SetLimit(int64(upTo))
	}
	n, err := s.coll.CountDocuments(ctx, filter, opts)
	if err != nil {
		return 0, fmt.Errorf("count tickets for sale: %w", err)
	}
	return int(n), nil
}

// updateAttempts bounds how often Update re-reads a ticket that another
// process wrote between its read and its write.
const updateAttempts = 3

// Update applies change to the ticket id under the ticket's lock, which
// the relay shares, and stores the result as the next version with its
// ticket:updated event pending, in one write that only matches while the
// stored version is still the one read (see mongodb.Guard). A write by
// another process in between makes it read and apply change again; after
// updateAttempts such races it fails with ticket.ErrConflict.
func (s *Store) Update(ctx context.Context, id string, change ticket.Change) (ticket.Ticket, bool, error) {
	oid, err := mongodb.ParseID(id, ticket.ErrInvalidID)
	if err != nil {
		return ticket.Ticket{}, false, err
	}
	unlock := s.locks.Lock(oid.Hex())
	defer unlock()
	for range updateAttempts {
		t, err := s.get(ctx, oid)
		if err != nil {
			return ticket.Ticket{}, false, err
		}
		changed, err := change(&t)
		if err != nil || !changed {
			return t, false, err
		}
		ok, err := s.write(ctx, oid, &t)
		if err != nil {
			return ticket.Ticket{}, false, fmt.Errorf("update ticket: %w", err)
		}
		if ok {
			return t, true, nil
		}
	}
	return ticket.Ticket{}, false, fmt.Errorf("update ticket %s: %w", id, ticket.ErrConflict)
}

// write stores t, read at t.Version under its lock, as version
// t.Version+1 with its ticket:updated pending, unless another process
// wrote it since the read; it reports whether it stored it.
func (s *Store) write(ctx context.Context, oid bson.ObjectID, t *ticket.Ticket) (bool, error) {
	read := t.Version
	t.Version++
	msg, err := outbox.New(ctx, t.Updated())
	if err != nil {
		return false, err
	}
	set := bson.D{
		{Key: "title", Value: t.Title},
		{Key: "price", Value: t.Price.Cents()},
		{Key: "userId", Value: t.UserID},
		{Key: "version", Value: t.Version},
		{Key: "releasedOrderIds", Value: nonNil(t.ReleasedOrderIDs)},
	}
	update := bson.D{{Key: "$push", Value: bson.D{{Key: outbox.Field, Value: msg}}}}
	if t.OrderID != "" {
		set = append(set, bson.E{Key: "orderId", Value: t.OrderID})
	} else {
		update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "orderId", Value: ""}}})
	}
	update = append(update, bson.E{Key: "$set", Value: set})

	ok, err := s.guard.UpdateLocked(ctx, s.coll, oid, bson.D{{Key: "version", Value: read}}, update)
	switch {
	case ok:
		s.relay.Stored(oid, msg)
	case err != nil:
		s.relay.Notify()
	}
	return ok, err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
