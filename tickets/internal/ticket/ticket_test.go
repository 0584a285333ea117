package ticket_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/events"
	"ticketing.dev/tickets/internal/ticket"
)

func TestEdit_OnlyTheSellerMayEditAnUnreservedTicket(t *testing.T) {
	tk := ticket.Ticket{ID: "t1", Title: "concert", Price: 1000, UserID: "seller"}

	assert.ErrorIs(t, tk.Edit("someone", "new", 2000), ticket.ErrNotOwner)
	require.NoError(t, tk.Edit("seller", "new", 2000))
	assert.Equal(t, "new", tk.Title)
	assert.Equal(t, events.Money(2000), tk.Price)

	tk.OrderID = "o1"
	assert.ErrorIs(t, tk.Edit("seller", "newer", 3000), ticket.ErrReserved)
	assert.ErrorIs(t, tk.Edit("someone", "newer", 3000), ticket.ErrNotOwner, "ownership is checked before the lock")
	assert.Equal(t, "new", tk.Title)
}

func TestReserve_SetsTheOrderOnce(t *testing.T) {
	tk := ticket.Ticket{ID: "t1"}
	changed, err := tk.Reserve("o1")
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, "o1", tk.OrderID)
	assert.True(t, tk.Reserved())

	changed, err = tk.Reserve("o1")
	require.NoError(t, err, "a redelivered order:created is acknowledged")
	assert.False(t, changed)
}

func TestReserve_TicketHeldByAnotherOrderWaits(t *testing.T) {
	tk := ticket.Ticket{ID: "t1", OrderID: "o1"}
	changed, err := tk.Reserve("o2")
	assert.ErrorIs(t, err, ticket.ErrHeldByOtherOrder)
	assert.False(t, changed)
	assert.Equal(t, "o1", tk.OrderID)
}

func TestReserve_ReleasedOrderChangesNothing(t *testing.T) {
	tk := ticket.Ticket{ID: "t1", ReleasedOrderIDs: []string{"o1"}}
	changed, err := tk.Reserve("o1")
	require.NoError(t, err)
	assert.False(t, changed)
	assert.False(t, tk.Reserved())
}

func TestRelease_UnlocksAndRemembersTheOrder(t *testing.T) {
	tk := ticket.Ticket{ID: "t1", OrderID: "o1"}
	changed, err := tk.Release("o1")
	require.NoError(t, err)
	assert.True(t, changed)
	assert.False(t, tk.Reserved())
	assert.Equal(t, []string{"o1"}, tk.ReleasedOrderIDs)

	changed, err = tk.Release("o1")
	require.NoError(t, err, "a redelivered order:cancelled is acknowledged")
	assert.False(t, changed)
}

func TestRelease_BeforeTheOrdersReservationWaitsWhileTheTicketIsFree(t *testing.T) {
	tk := ticket.Ticket{ID: "t1"}
	changed, err := tk.Release("o1")
	assert.ErrorIs(t, err, ticket.ErrOrderNotApplied)
	assert.False(t, changed)
	_, err = tk.Release("")
	assert.ErrorIs(t, err, ticket.ErrOrderNotApplied, "no order id releases nothing")
	held := ticket.Ticket{ID: "t1", OrderID: "o2"}
	_, err = held.Release("")
	assert.ErrorIs(t, err, ticket.ErrOrderNotApplied, "no order id releases nothing")
}

func TestRelease_WhileAnotherOrderHoldsTheTicketRemembersTheOrder(t *testing.T) {
	tk := ticket.Ticket{ID: "t1", OrderID: "o2"}
	changed, err := tk.Release("o1")
	require.NoError(t, err, "the order cannot reserve the ticket before o2 is released, maybe never: no waiting")
	assert.True(t, changed)
	assert.Equal(t, "o2", tk.OrderID, "o2 keeps the ticket")
	assert.Equal(t, []string{"o1"}, tk.ReleasedOrderIDs)

	changed, err = tk.Reserve("o1")
	require.NoError(t, err, "its late order:created is acknowledged")
	assert.False(t, changed)
	assert.Equal(t, "o2", tk.OrderID)
}

func TestRelease_RemembersABoundedNumberOfOrders(t *testing.T) {
	var tk ticket.Ticket
	for i := range ticket.MaxReleased + 5 {
		order := fmt.Sprint("o", i)
		_, err := tk.Reserve(order)
		require.NoError(t, err)
		_, err = tk.Release(order)
		require.NoError(t, err)
	}
	require.Len(t, tk.ReleasedOrderIDs, ticket.MaxReleased)
	assert.Equal(t, "o5", tk.ReleasedOrderIDs[0], "the oldest are forgotten")
	assert.Equal(t, fmt.Sprint("o", ticket.MaxReleased+4), tk.ReleasedOrderIDs[ticket.MaxReleased-1])
}

func TestValidate(t *testing.T) {
	cases := []struct {
		title  string
		price  events.Money
		fields []errs.FieldError
	}{
		{"concert", 1099, nil},
		{"concert", events.MaxPrice, nil},
		{"", 1099, []errs.FieldError{{Field: "title", Message: ticket.MsgTitleRequired}}},
		{strings.Repeat("é", ticket.MaxTitleLen), 1099, nil},
		{strings.Repeat("a", ticket.MaxTitleLen+1), 1099, []errs.FieldError{{Field: "title", Message: ticket.MsgTitleTooLong}}},
		{"concert", 0, []errs.FieldError{{Field: "price", Message: ticket.MsgPricePositive}}},
		{"concert", -10, []errs.FieldError{{Field: "price", Message: ticket.MsgPricePositive}}},
		{"concert", events.MaxPrice + 1, []errs.FieldError{{Field: "price", Message: ticket.MsgPriceTooHigh}}},
		{"", 0, []errs.FieldError{
			{Field: "title", Message: ticket.MsgTitleRequired},
			{Field: "price", Message: ticket.MsgPricePositive},
		}},
	}
	for _, c := range cases {
		err := ticket.Validate(c.title, c.price)
		if c.fields == nil {
			assert.NoError(t, err, "%q %d", c.title, c.price)
			continue
		}
		var verr *errs.ValidationError
		if assert.ErrorAs(t, err, &verr, "%q %d", c.title, c.price) {
			assert.Equal(t, c.fields, verr.Fields)
		}
	}
}

func TestNormalizeTitle_SpacesAloneAreNoTitle(t *testing.T) {
	assert.Equal(t, "concert", ticket.NormalizeTitle("  concert \n"))
	assert.Equal(t, ticket.MsgTitleRequired, ticket.CheckTitle(ticket.NormalizeTitle("   ")))
}

func TestEvents_CarryTheTicket(t *testing.T) {
	tk := ticket.Ticket{ID: "t1", Title: "concert", Price: 1099, UserID: "u1", Version: 3, OrderID: "o1"}
	assert.Equal(t, events.TicketCreated{ID: "t1", Version: 3, Title: "concert", Price: 1099, UserID: "u1"}, tk.Created())
	assert.Equal(t, events.TicketUpdated{ID: "t1", Version: 3, Title: "concert", Price: 1099, UserID: "u1", OrderID: "o1"}, tk.Updated())
}
