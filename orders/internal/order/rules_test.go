package order_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"ticketing.dev/common/events"
	"ticketing.dev/orders/internal/order"
)

func TestRules(t *testing.T) {
	const buyer = "buyer"
	expiresAt := time.Date(2026, 11, 25, 14, 15, 0, 123_000_000, time.UTC)
	due, early := order.Expire(expiresAt), order.Expire(expiresAt.Add(-time.Millisecond))
	cases := []struct {
		name    string
		rule    order.Rule
		from    events.OrderStatus
		want    events.OrderStatus
		wantErr error
	}{
		{"buyer cancels a created order", order.CancelBy(buyer), events.StatusCreated, events.StatusCancelled, nil},
		{"buyer cancels an order awaiting payment", order.CancelBy(buyer), events.StatusAwaitingPayment, events.StatusCancelled, nil},
		{"buyer cancels a cancelled order: no change", order.CancelBy(buyer), events.StatusCancelled, events.StatusCancelled, nil},
		{"buyer cannot cancel a complete order", order.CancelBy(buyer), events.StatusComplete, events.StatusComplete, order.ErrCompleted},
		{"someone else cannot cancel", order.CancelBy("other"), events.StatusCreated, events.StatusCreated, order.ErrNotOwner},
		{"someone else hears 401 before 400", order.CancelBy("other"), events.StatusComplete, events.StatusComplete, order.ErrNotOwner},
		{"expiry cancels a created order", due, events.StatusCreated, events.StatusCancelled, nil},
		{"expiry cancels an order awaiting payment", due, events.StatusAwaitingPayment, events.StatusCancelled, nil},
		{"expiry leaves a complete order", due, events.StatusComplete, events.StatusComplete, nil},
		{"expiry leaves a cancelled order", due, events.StatusCancelled, events.StatusCancelled, nil},
		{"early expiry leaves a created order", early, events.StatusCreated, events.StatusCreated, order.ErrNotDue},
		{"early expiry leaves an order awaiting payment", early, events.StatusAwaitingPayment, events.StatusAwaitingPayment, order.ErrNotDue},
		{"early expiry leaves a complete order without error", early, events.StatusComplete, events.StatusComplete, nil},
		{"early expiry of a cancelled order: no change", early, events.StatusCancelled, events.StatusCancelled, nil},
		{"payment completes a created order", order.Pay, events.StatusCreated, events.StatusComplete, nil},
		{"payment completes an order awaiting payment", order.Pay, events.StatusAwaitingPayment, events.StatusComplete, nil},
		{"payment again: no change", order.Pay, events.StatusComplete, events.StatusComplete, nil},
		{"payment never revives a cancelled order", order.Pay, events.StatusCancelled, events.StatusCancelled, order.ErrPaidAfterCancel},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.rule(order.Order{ID: "o1", UserID: buyer, Status: c.from, ExpiresAt: expiresAt})
			assert.Equal(t, c.want, got)
			if c.wantErr == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, c.wantErr)
			}
		})
	}
}

func TestEvents_CarryTheOrder(t *testing.T) {
	o := order.Order{ID: "o1", UserID: "u1", Status: events.StatusCreated, Version: 0, TicketID: "t1"}
	o.ExpiresAt = time.Date(2026, 11, 25, 14, 15, 0, 123_000_000, time.UTC)
	assert.Equal(t, events.OrderCreated{
		ID: "o1", Version: 0, Status: events.StatusCreated, UserID: "u1",
		ExpiresAt: events.NewTime(o.ExpiresAt),
		Ticket:    events.OrderTicket{ID: "t1", Price: 1099},
	}, o.CreatedEvent(order.Ticket{ID: "t1", Title: "x", Price: 1099}))

	o.Status, o.Version = events.StatusCancelled, 1
	assert.Equal(t, events.OrderCancelled{ID: "o1", Version: 1, Ticket: events.TicketRef{ID: "t1"}}, o.CancelledEvent())
}
