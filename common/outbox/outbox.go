// Package outbox makes sure that every change a service stores is followed by
// its event, even when NATS Streaming is down or the service crashes in
// between.
//
// MongoDB standalone and FerretDB have no multi-document transactions, so a
// pending event is stored in the same document as the change it announces,
// in the array field named by Field, by the same single-document write; the
// store then hands the message to the Relay while it still holds the
// document's lock:
//
//	unlock := locks.Lock(id.Hex())
//	_, err := coll.UpdateOne(ctx,
//		bson.M{"_id": id, "version": v},
//		bson.M{"$set": bson.M{"version": v + 1}, "$push": bson.M{outbox.Field: msg}})
//	if err == nil {
//		relay.Stored(id, msg)
//	} else {
//		relay.Notify() // the server may have applied it all the same
//	}
//	unlock()
//
// The relay publishes the message at once, from memory, and then removes it
// from the document once NATS Streaming has stored it, many documents' at
// a time by one bulk write of updates by _id. The document stays the truth:
// at start, after a write that failed, on a poll that backs off while it
// finds nothing, and whenever its memory is exhausted, the relay also
// looks for pending messages in the collection, which finds those a
// crashed process left behind and those of a write that failed in the
// client after the server applied it. It
// publishes them a batch of documents at a time, and between batches the
// messages handed over meanwhile, so that new events do not wait for a
// whole backlog. Delivery is at least once: a crash between the publish
// and the removal publishes the message again, which consumers ignore
// because they apply each version only once.
//
// The files hold one concern each: this one the message, relay.go the
// relay and its publishing, look.go the look in the collection, remove.go
// the removal of published messages.
package outbox

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/requestid"
)

// Field is the array field of an entity's document that holds its pending
// messages, oldest first.
const Field = "outbox"

// Without is the projection that leaves the pending messages, which only
// the relay reads, out of the documents a store loads.
var Without = bson.D{{Key: Field, Value: 0}}

// Message is one pending event stored inside its entity's document.
type Message struct {
	ID      string `bson:"id"` // random, unique
	Subject string `bson:"subject"`
	Data    []byte `bson:"data"` // the JSON payload as events encode it
	// At is when the message was made, for the age of the oldest pending
	// event; messages stored before it existed have none.
	At time.Time `bson:"at,omitempty"`
	// RequestID is the request that caused the event, if any, so that it
	// travels with the event (see package requestid).
	RequestID string `bson:"requestId,omitempty"`
}

// New returns the pending message that will publish e, caused by the
// request that ctx names, if any.
func New[E events.Event](ctx context.Context, e E) (Message, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return Message{}, fmt.Errorf("outbox: encode %s: %w", e.Subject(), err)
	}
	return Message{
		ID: rand.Text(), Subject: string(e.Subject()), Data: data,
		At: time.Now().UTC().Truncate(time.Millisecond), RequestID: requestid.From(ctx),
	}, nil
}

// Publisher is what the relay publishes through; *bus.Conn satisfies it.
// PublishID must return only once the message is stored by the server; the
// relay gives each message's ID, which a server that de-duplicates (NATS
// JetStream) uses to store a message published again after a crash once.
// The relay's context carries the message's request id (package requestid).
type Publisher interface {
	PublishID(ctx context.Context, id, subject string, data []byte) error
}

// Handoff is what a store tells the relay after each write that would
// store pending messages in a document, under the document's lock; *Relay
// is one. After a write that succeeded, Stored hands the messages over;
// after one that failed, Notify, since the server may have applied it all
// the same.
type Handoff interface {
	Stored(id any, msgs ...Message)
	Notify()
}

var _ Handoff = (*Relay)(nil)

// HandOver tells h how an insert that stored msgs in document id went:
// Stored when err is nil, Notify when it is not.
func HandOver(h Handoff, err error, id any, msgs ...Message) {
	if err != nil {
		h.Notify()
		return
	}
	h.Stored(id, msgs...)
}
