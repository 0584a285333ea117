package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

// listenFunc is a listener whose Listen is a function.
type listenFunc func(context.Context) error

func (f listenFunc) Listen(ctx context.Context) error { return f(ctx) }

func TestListenAll_SubscribesEveryListener(t *testing.T) {
	n := testkit.NATS(t)
	conn := testkit.Bus(t, n)
	created, cancelled := make(chan events.OrderCreated, 1), make(chan events.OrderCancelled, 1)

	require.NoError(t, bus.ListenAll(t.Context(),
		bus.NewListener(conn, "group", func(_ context.Context, e events.OrderCreated) error { created <- e; return nil }),
		bus.NewListener(conn, "group", func(_ context.Context, e events.OrderCancelled) error { cancelled <- e; return nil }),
	))

	publisher := testkit.Bus(t, n)
	require.NoError(t, bus.NewPublisher[events.OrderCreated](publisher).Publish(t.Context(), events.OrderCreated{ID: "o1"}))
	require.NoError(t, bus.NewPublisher[events.OrderCancelled](publisher).Publish(t.Context(), events.OrderCancelled{ID: "o2"}))
	assert.Equal(t, "o1", receive(t, created).ID)
	assert.Equal(t, "o2", receive(t, cancelled).ID)
}

func TestListenAll_StopsAtTheFirstFailure(t *testing.T) {
	refused := errors.New("refused")
	var called []int
	listen := func(i int, err error) listenFunc {
		return func(context.Context) error { called = append(called, i); return err }
	}

	err := bus.ListenAll(t.Context(), listen(1, nil), listen(2, refused), listen(3, nil))

	assert.ErrorIs(t, err, refused)
	assert.Equal(t, []int{1, 2}, called)
}

// receive waits for the next value on ch.
func receive[E any](t *testing.T, ch <-chan E) E {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received within 10 s")
	}
	var zero E
	return zero
}
