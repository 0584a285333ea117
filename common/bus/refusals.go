package bus

import (
	"errors"
	"regexp"
	"sync"

	"github.com/nats-io/nats.go"
)

// refusals hands the server's permission errors to the publishes waiting
// on the refused NATS subject.
type refusals struct {
	mu      sync.Mutex
	waiting map[string]map[chan error]struct{}
}

// wait returns a channel that receives the server's refusal of subject.
func (r *refusals) wait(subject string) chan error {
	ch := make(chan error, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.waiting == nil {
		r.waiting = make(map[string]map[chan error]struct{})
	}
	if r.waiting[subject] == nil {
		r.waiting[subject] = make(map[chan error]struct{})
	}
	r.waiting[subject][ch] = struct{}{}
	return ch
}

// done stops waiting on ch.
func (r *refusals) done(subject string, ch chan error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.waiting[subject], ch)
	if len(r.waiting[subject]) == 0 {
		delete(r.waiting, subject)
	}
}

// refuse hands err to everyone waiting on subject. The server names the
// subject, not the message, so every publish then in flight on it fails:
// the server refuses them all alike.
func (r *refusals) refuse(subject string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ch := range r.waiting[subject] {
		select {
		case ch <- err:
		default:
		}
	}
}

// refusedPublish finds the subject in the server's error, such as
// Permissions Violation for Publish to "_STAN.pub.ticketing.payment:created".
var refusedPublish = regexp.MustCompile(`(?i)publish to "([^"]+)"`)

// asyncError receives the errors the server reports apart from any call,
// such as a publish it does not permit.
func (c *Conn) asyncError(_ *nats.Conn, _ *nats.Subscription, err error) {
	c.log.Warn("nats server reported an error", "err", err)
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return
	}
	if m := refusedPublish.FindStringSubmatch(err.Error()); m != nil {
		c.refusals.refuse(m[1], err)
	}
}
