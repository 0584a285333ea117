package testkit

import (
	"sync"
	"testing"

	"ticketing.dev/common/events"
)

// Handled records what a service's event handlers returned, for the tests
// that wrap its listener.Subjects to see each result: nil acks the event,
// an error leaves it to be redelivered. A wrapper's method is one line:
//
//	func (r recording) OrderCreated(ctx context.Context, e events.OrderCreated) error {
//		return r.handled.Record(e.Subject(), e.ID, r.Handlers.OrderCreated(ctx, e))
//	}
type Handled struct {
	mu  sync.Mutex
	all []Handling
}

// Handling is one call of a handler.
type Handling struct {
	Subject events.Subject
	ID      string // what the event is about, such as its order's id
	Err     error
}

// Record records that the handler of subject returned err for an event
// about id, and returns err.
func (h *Handled) Record(subject events.Subject, id string, err error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.all = append(h.all, Handling{subject, id, err})
	return err
}

// Of returns the handlings of the events about id, in the order they
// ended: those of subject, or of every subject when subject is "".
func (h *Handled) Of(subject events.Subject, id string) []Handling {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Handling
	for _, r := range h.all {
		if r.ID == id && (subject == "" || r.Subject == subject) {
			out = append(out, r)
		}
	}
	return out
}

// Errs returns what the handler of subject returned for the events about
// id, in the order they ended.
func (h *Handled) Errs(subject events.Subject, id string) []error {
	var errs []error
	for _, r := range h.Of(subject, id) {
		errs = append(errs, r.Err)
	}
	return errs
}

// Wait waits until the handler of subject has returned for n events about
// id at least, and returns what it returned.
func (h *Handled) Wait(t testing.TB, subject events.Subject, id string, n int) []error {
	t.Helper()
	Eventually(t, func() bool { return len(h.Of(subject, id)) >= n }, "%s about %s handled %d times", subject, id, n)
	return h.Errs(subject, id)
}
