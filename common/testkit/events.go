package testkit

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/events"
)

// observerSeq names each observer's queue group apart, so that two
// observers of one subject both see every event.
var observerSeq atomic.Int64

// Observe returns every event of type E published on n, before and from
// now on, in the order the bus delivers them, as a queue group of the
// test's own sees them. Past 1024 unread events it drops the rest: a test
// that reads so few does not care about them.
func Observe[E events.Event](t testing.TB, n embedded.Bus) <-chan E {
	t.Helper()
	conn := Bus(t, n)
	ch := make(chan E, 1024)
	group := fmt.Sprint("test-observer-", observerSeq.Add(1))
	err := bus.NewListener(conn, group, func(_ context.Context, e E) error {
		select {
		case ch <- e:
		default:
		}
		return nil
	}).Listen(context.Background())
	if err != nil {
		t.Fatalf("testkit: observe %s: %v", (*new(E)).Subject(), err)
	}
	return ch
}

// Next returns the next event from ch, failing the test after 15 s with
// every goroutine's stack: a missing event means a relay or a listener is
// stuck or gave up, and where each stands tells which.
func Next[E events.Event](t testing.TB, ch <-chan E) E {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(15 * time.Second):
		var zero E
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Logf("goroutines:\n%s", buf)
		t.Fatalf("testkit: no %s event within 15 s", zero.Subject())
		return zero
	}
}

// Quiet checks that ch delivers nothing within d.
func Quiet[E events.Event](t testing.TB, ch <-chan E, d time.Duration) {
	t.Helper()
	select {
	case e := <-ch:
		t.Errorf("testkit: unexpected %s event: %+v", e.Subject(), e)
	case <-time.After(d):
	}
}

// Publish sends e over conn as the service that owns its subject would.
func Publish[E events.Event](t testing.TB, conn *bus.Conn, e E) {
	t.Helper()
	if err := bus.NewPublisher[E](conn).Publish(context.Background(), e); err != nil {
		t.Fatalf("testkit: publish %s: %v", e.Subject(), err)
	}
}

// Inbox records the events its Handle receives, for a test to read while
// handlers still run.
type Inbox[E events.Event] struct {
	mu  sync.Mutex
	got []E
}

// Handle is a bus.Handler that accepts every event into b.
func (b *Inbox[E]) Handle(_ context.Context, e E) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, e)
	return nil
}

// Events returns the events received so far, in the order they came.
func (b *Inbox[E]) Events() []E {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got)
}

// Len is how many events have been received so far.
func (b *Inbox[E]) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.got)
}
