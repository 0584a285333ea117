package bench

import (
	"crypto/rand"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/events"
)

// The floor's copies of what the services' stores send: their documents,
// their indexes and their updates. A copy cannot drift unseen:
// TestFloor_SendsWhatTheStoresSend records the floor's commands and
// compares them with those each store's TestCommandShapes pinned in its
// testdata/commands.golden (docs/bench/method.md).

// floorCollection is one of the services' collections as the floor
// mirrors it.
type floorCollection struct {
	service, name string
	indexes       []mongo.IndexModel
	// grouped says that the store inserts through mongodb.Inserter, by
	// unordered insert commands, rather than by InsertOne.
	grouped bool
	// outbox says that the documents hold pending events: the store reads
	// them without (outbox.Without), and a relay removes them once
	// published.
	outbox bool
	// doc is a new document as the store inserts it, and the event it
	// holds pending, if any.
	doc func(id bson.ObjectID) (doc, event bson.D)
}

// pendingIndex is the outbox relay's index of the documents with pending
// events.
var pendingIndex = mongo.IndexModel{
	Keys:    bson.D{{Key: "outbox.id", Value: 1}},
	Options: options.Index().SetName("outbox_pending").SetSparse(true),
}

// message is a pending event as outbox.New makes it, with size bytes of
// JSON. One a request caused carries the request's id, 24 hex digits as
// the services make them; one an event caused carries none, as NATS
// Streaming, the bench's bus, brings none.
func message(subject events.Subject, size int, byRequest bool) bson.D {
	m := bson.D{{Key: "id", Value: rand.Text()}, {Key: "subject", Value: string(subject)}, {Key: "data", Value: make([]byte, size)},
		{Key: "at", Value: time.Now().UTC().Truncate(time.Millisecond)}}
	if byRequest {
		m = append(m, bson.E{Key: "requestId", Value: bson.NewObjectID().Hex()})
	}
	return m
}

var someUser = bson.NewObjectID().Hex()

// noEvent is the document of a collection whose new documents hold no
// event.
func noEvent(doc func(id bson.ObjectID) bson.D) func(bson.ObjectID) (bson.D, bson.D) {
	return func(id bson.ObjectID) (bson.D, bson.D) { return doc(id), nil }
}

// floorCollections are the collections of the services' stores, with the
// fields of their documents and the indexes their stores and relays
// create.
var floorCollections = []floorCollection{
	{service: "auth", name: "users", // userdb.Insert
		indexes: []mongo.IndexModel{{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true).SetName("email_unique")}},
		doc: noEvent(func(id bson.ObjectID) bson.D {
			return bson.D{{Key: "_id", Value: id}, {Key: "email", Value: id.Hex() + "@example.com"}, {Key: "password", Value: encodeHash(make([]byte, 16), make([]byte, 64))}}
		})},
	{service: "tickets", name: "tickets", grouped: true, outbox: true, // ticketdb.Insert
		indexes: []mongo.IndexModel{
			{Keys: bson.D{{Key: "orderId", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("orderId_id")},
			{Keys: bson.D{{Key: "userId", Value: 1}, {Key: "orderId", Value: 1}}, Options: options.Index().SetName("userId_orderId")},
			pendingIndex,
		},
		doc: func(id bson.ObjectID) (bson.D, bson.D) {
			created := message(events.SubjectTicketCreated, 130, true)
			return bson.D{{Key: "_id", Value: id}, {Key: "title", Value: "load test concert"}, {Key: "price", Value: int64(2000)},
				{Key: "userId", Value: someUser}, {Key: "version", Value: int64(0)}, {Key: "outbox", Value: bson.A{created}}}, created
		}},
	{service: "orders", name: "tickets", grouped: true, // orderdb.AddTicket
		doc: noEvent(func(id bson.ObjectID) bson.D {
			return bson.D{{Key: "_id", Value: id}, {Key: "title", Value: "load test concert"}, {Key: "price", Value: int64(2000)}, {Key: "version", Value: int64(0)}}
		})},
	{service: "orders", name: "claims", grouped: true, // orderdb.Create's claim
		doc: noEvent(func(id bson.ObjectID) bson.D {
			return bson.D{{Key: "_id", Value: id}, {Key: "orderId", Value: bson.NewObjectID()}, {Key: "createdAt", Value: time.Now()}}
		})},
	{service: "orders", name: "orders", grouped: true, outbox: true, // orderdb.Create's order
		indexes: []mongo.IndexModel{
			{Keys: bson.D{{Key: "userId", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("userId_id")},
			{Keys: bson.D{{Key: "status", Value: 1}, {Key: "expiresAt", Value: 1}}, Options: options.Index().SetName("status_expiresAt")},
			pendingIndex,
		},
		doc: func(id bson.ObjectID) (bson.D, bson.D) {
			created := message(events.SubjectOrderCreated, 220, true)
			return bson.D{{Key: "_id", Value: id}, {Key: "userId", Value: someUser}, {Key: "status", Value: string(events.StatusCreated)},
				{Key: "expiresAt", Value: time.Now().Add(15 * time.Minute)}, {Key: "ticketId", Value: bson.NewObjectID()},
				{Key: "version", Value: int64(0)}, {Key: "outbox", Value: bson.A{created}}}, created
		}},
	{service: "payments", name: "orders", // paymentdb.AddOrder
		doc: noEvent(func(id bson.ObjectID) bson.D {
			return bson.D{{Key: "_id", Value: id}, {Key: "userId", Value: someUser}, {Key: "status", Value: string(events.StatusCreated)},
				{Key: "price", Value: int64(2000)}, {Key: "version", Value: int64(0)}, {Key: "expiresAt", Value: time.Now().Add(15 * time.Minute)}}
		})},
	{service: "payments", name: "payments", outbox: true, // paymentdb.Claim
		indexes: []mongo.IndexModel{{Keys: bson.D{{Key: "orderId", Value: 1}}, Options: options.Index().SetUnique(true).SetName("orderId_unique")}, pendingIndex},
		doc: noEvent(func(id bson.ObjectID) bson.D {
			return bson.D{{Key: "_id", Value: id}, {Key: "orderId", Value: bson.NewObjectID().Hex()}, {Key: "status", Value: "pending"},
				{Key: "createdAt", Value: time.Now()}, {Key: "token", Value: "tok_visa"}, {Key: "claimedAt", Value: time.Now()}}
		})},
}

func floorCollectionOf(service, collection string) (floorCollection, bool) {
	for _, fc := range floorCollections {
		if fc.service == service && fc.name == collection {
			return fc, true
		}
	}
	return floorCollection{}, false
}

// storeUpdate is the floor's copy of a store's update of one document,
// found by _id alone, as mongodb.Guard writes on FerretDB: the update, and
// the event it pushes, if any.
type storeUpdate func(version int64) (update, event bson.D)

// storeUpdates are the updates of the budgets' stories, by story and by
// service and collection, but for the relay's removals, which are the same
// in every story (removeEvent).
var storeUpdates = map[string]map[string]storeUpdate{
	"order": {
		"tickets.tickets": reserveTicket,
		"orders.tickets":  updateReplica,
	},
	"pay": {
		"payments.payments": completePayment,
		"orders.orders":     completeOrder,
	},
	"expire": {
		"orders.orders":   cancelOrder,
		"tickets.tickets": releaseTicket,
		"orders.tickets":  updateReplica,
		"payments.orders": cancelOrderReplica,
	},
}

func set(fields ...bson.E) bson.E { return bson.E{Key: "$set", Value: bson.D(fields)} }

func push(event bson.D) bson.E {
	return bson.E{Key: "$push", Value: bson.D{{Key: "outbox", Value: event}}}
}

func unset(fields ...string) bson.E {
	d := make(bson.D, len(fields))
	for i, f := range fields {
		d[i] = bson.E{Key: f, Value: ""}
	}
	return bson.E{Key: "$unset", Value: d}
}

// ticketFields are the fields ticketdb.Update sets whatever the change.
func ticketFields(version int64, released bson.A) []bson.E {
	return []bson.E{{Key: "title", Value: "load test concert"}, {Key: "price", Value: int64(2000)}, {Key: "userId", Value: someUser},
		{Key: "version", Value: version}, {Key: "releasedOrderIds", Value: released}}
}

// reserveTicket is ticketdb.Update on order:created: the ticket held by
// the order, ticket:updated pending.
func reserveTicket(version int64) (bson.D, bson.D) {
	updated := message(events.SubjectTicketUpdated, 160, false)
	fields := append(ticketFields(version, bson.A{}), bson.E{Key: "orderId", Value: bson.NewObjectID().Hex()})
	return bson.D{push(updated), set(fields...)}, updated
}

// releaseTicket is ticketdb.Update on order:cancelled: the ticket free
// again, the order remembered as released, ticket:updated pending.
func releaseTicket(version int64) (bson.D, bson.D) {
	updated := message(events.SubjectTicketUpdated, 130, false)
	return bson.D{push(updated), unset("orderId"), set(ticketFields(version, bson.A{bson.NewObjectID().Hex()})...)}, updated
}

// updateReplica is orderdb.UpdateTicket on ticket:updated.
func updateReplica(version int64) (bson.D, bson.D) {
	return bson.D{set(bson.E{Key: "title", Value: "load test concert"}, bson.E{Key: "price", Value: int64(2000)}, bson.E{Key: "version", Value: version})}, nil
}

// completePayment is paymentdb.Complete: the claim charged,
// payment:created pending.
func completePayment(int64) (bson.D, bson.D) {
	created := message(events.SubjectPaymentCreated, 110, true)
	return bson.D{
		set(bson.E{Key: "status", Value: "succeeded"}, bson.E{Key: "stripeId", Value: "ch_" + rand.Text()}),
		unset("token", "claimedAt", "abandoned"),
		push(created),
	}, created
}

// completeOrder is orderdb.Update on payment:created.
func completeOrder(version int64) (bson.D, bson.D) {
	return bson.D{set(bson.E{Key: "status", Value: string(events.StatusComplete)}, bson.E{Key: "version", Value: version})}, nil
}

// cancelOrder is orderdb.Update on expiration:complete: the order
// cancelled, order:cancelled pending.
func cancelOrder(version int64) (bson.D, bson.D) {
	cancelled := message(events.SubjectOrderCancelled, 100, false)
	return bson.D{set(bson.E{Key: "status", Value: string(events.StatusCancelled)}, bson.E{Key: "version", Value: version}), push(cancelled)}, cancelled
}

// cancelOrderReplica is paymentdb.CancelOrder on order:cancelled.
func cancelOrderReplica(version int64) (bson.D, bson.D) {
	return bson.D{set(bson.E{Key: "status", Value: string(events.StatusCancelled)}, bson.E{Key: "version", Value: version},
		bson.E{Key: "cancelledAt", Value: time.Now().UTC()})}, nil
}
