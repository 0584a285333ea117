// Package outboxtest records what a store hands the outbox relay, for the
// stores' own tests.
package outboxtest

import (
	"fmt"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/outbox"
)

// Handoff is an outbox.Handoff that records the messages handed over, by
// document, and counts the calls of Notify. It is safe for concurrent use;
// the zero value is ready.
type Handoff struct {
	mu       sync.Mutex
	stored   map[string][]outbox.Message
	notified int
}

var _ outbox.Handoff = (*Handoff)(nil)

// Stored records msgs as handed over for the document id.
func (h *Handoff) Stored(id any, msgs ...outbox.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stored == nil {
		h.stored = make(map[string][]outbox.Message)
	}
	k := key(id)
	h.stored[k] = append(h.stored[k], msgs...)
}

// Notify counts the call.
func (h *Handoff) Notify() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notified++
}

// Messages returns the messages handed over for the document whose _id
// is id, or whose ObjectID's hex is id, in the order they were handed.
func (h *Handoff) Messages(id string) []outbox.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]outbox.Message(nil), h.stored[id]...)
}

// Notified returns how many times Notify was called.
func (h *Handoff) Notified() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.notified
}

func key(id any) string {
	if oid, ok := id.(bson.ObjectID); ok {
		return oid.Hex()
	}
	return fmt.Sprint(id)
}
