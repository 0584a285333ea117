package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
	"ticketing.dev/tickets/internal/ticket"
)

// The cases of the original app's new, update, show and index suites come
// first, then those of the faults it had.

func TestCreate_RouteExists(t *testing.T) {
	t.Parallel()
	s := startService(t)
	r := s.do(t, http.MethodPost, "/api/tickets", `{}`, nil)
	assert.NotEqual(t, http.StatusNotFound, r.status)
}

func TestCreate_SignedOutIs401(t *testing.T) {
	t.Parallel()
	s := startService(t)
	r := s.do(t, http.MethodPost, "/api/tickets", `{"title":"concert","price":10}`, nil)
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.JSONEq(t, `{"errors":[{"message":"Not authorized"}]}`, string(r.body))
}

func TestCreate_SignedInIsNot401(t *testing.T) {
	t.Parallel()
	s := startService(t)
	r := s.do(t, http.MethodPost, "/api/tickets", `{}`, testkit.SignIn(t, newUserID()))
	assert.NotEqual(t, http.StatusUnauthorized, r.status)
}

func TestCreate_InvalidTitleOrPriceIs400(t *testing.T) {
	t.Parallel()
	s := startService(t)
	cookie := testkit.SignIn(t, newUserID())
	tests := []struct {
		name   string
		bodies []string
		want   errs.Detail
	}{
		{"title required", []string{`{"title":"","price":10}`, `{"price":10}`, `{"title":"   ","price":10}`},
			errs.Detail{Message: ticket.MsgTitleRequired, Field: "title"}},
		{"price positive", []string{`{"title":"concert","price":-10}`, `{"title":"concert"}`, `{"title":"concert","price":0}`},
			errs.Detail{Message: ticket.MsgPricePositive, Field: "price"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, body := range tt.bodies {
				r := s.do(t, http.MethodPost, "/api/tickets", body, cookie)
				assert.Equal(t, http.StatusBadRequest, r.status, body)
				assert.Equal(t, []errs.Detail{tt.want}, r.errors(t), body)
			}
		})
	}
}

func TestCreate_ReportsEveryInvalidField(t *testing.T) {
	t.Parallel()
	s := startService(t)
	r := s.do(t, http.MethodPost, "/api/tickets", ``, testkit.SignIn(t, newUserID()))
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, []errs.Detail{
		{Message: ticket.MsgTitleRequired, Field: "title"},
		{Message: ticket.MsgPricePositive, Field: "price"},
	}, r.errors(t))
}

func TestCreate_ValidInputCreatesATicket(t *testing.T) {
	t.Parallel()
	s := startService(t)
	user := newUserID()
	n, err := s.db.Collection("tickets").CountDocuments(t.Context(), bson.D{})
	require.NoError(t, err)
	require.Zero(t, n)

	r := s.do(t, http.MethodPost, "/api/tickets", `{"title":"concert","price":20}`, testkit.SignIn(t, user))
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	tk := r.ticket(t)
	assert.Equal(t, "concert", tk.Title)
	assert.Equal(t, events.Money(2000), tk.Price)
	assert.Equal(t, user, tk.UserID)
	assert.Zero(t, tk.Version)
	assert.Nil(t, tk.OrderID, "orderId is left out while nobody holds the ticket")
	assert.JSONEq(t, `{"id":"`+tk.ID+`","title":"concert","price":20,"userId":"`+user+`","version":0}`, string(r.body))

	n, err = s.db.Collection("tickets").CountDocuments(t.Context(), bson.D{})
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	doc := s.stored(t, tk.ID)
	assert.Equal(t, "concert", doc.Title)
	assert.Equal(t, int64(2000), doc.Price)
}

func TestCreate_PublishesTicketCreated(t *testing.T) {
	t.Parallel()
	s := startService(t)
	created := testkit.Observe[events.TicketCreated](t, s.nats)
	user := newUserID()
	tk := s.create(t, testkit.SignIn(t, user), "concert", "20")

	e := testkit.Next(t, created)
	assert.Equal(t, events.TicketCreated{ID: tk.ID, Version: 0, Title: "concert", Price: 2000, UserID: user}, e)
	eventuallyPublished(t, s, tk.ID)
}

func TestCreate_OperatorObjectsAndWrongTypesAre400(t *testing.T) {
	t.Parallel()
	s := startService(t)
	cookie := testkit.SignIn(t, newUserID())
	cases := []struct{ body, field string }{
		{`{"title":{"$gt":""},"price":10}`, "title"},
		{`{"title":["concert"],"price":10}`, "title"},
		{`{"title":42,"price":10}`, "title"},
		{`{"title":"concert","price":{"$gt":0}}`, "price"},
		{`{"title":"concert","price":[10]}`, "price"},
		{`{"title":"concert","price":true}`, "price"},
		{`{"title":"concert","price":"ten"}`, "price"},
	}
	for _, c := range cases {
		r := s.do(t, http.MethodPost, "/api/tickets", c.body, cookie)
		assert.Equal(t, http.StatusBadRequest, r.status, c.body)
		errs := r.errors(t)
		if assert.Len(t, errs, 1, c.body) {
			assert.Equal(t, c.field, errs[0].Field, c.body)
		}
	}
	for _, body := range []string{`{"title":`, `[1]`, `{"title":"a","price":1} {}`} {
		r := s.do(t, http.MethodPost, "/api/tickets", body, cookie)
		assert.Equal(t, http.StatusBadRequest, r.status, body)
	}
	list := s.do(t, http.MethodGet, "/api/tickets", "", nil)
	assert.JSONEq(t, `[]`, string(list.body), "nothing was stored")
}

func TestPrice_RoundTripsExactly(t *testing.T) {
	t.Parallel()
	s := startService(t)
	created := testkit.Observe[events.TicketCreated](t, s.nats)
	updated := testkit.Observe[events.TicketUpdated](t, s.nats)
	cookie := testkit.SignIn(t, newUserID())

	r := s.do(t, http.MethodPost, "/api/tickets", `{"title":"concert","price":10.99}`, cookie)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	assert.Contains(t, string(r.body), `"price":10.99,`)
	id := r.ticket(t).ID
	assert.Equal(t, int64(1099), s.stored(t, id).Price)
	show := s.do(t, http.MethodGet, "/api/tickets/"+id, "", nil)
	assert.Contains(t, string(show.body), `"price":10.99,`)
	assert.Equal(t, events.Money(1099), testkit.Next(t, created).Price)

	r = s.do(t, http.MethodPut, "/api/tickets/"+id, `{"title":"concert","price":"20.05"}`, cookie)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Contains(t, string(r.body), `"price":20.05,`)
	assert.Equal(t, events.Money(2005), testkit.Next(t, updated).Price)

	for _, price := range []string{`10.999`, `"10.999"`, `0.001`} {
		r = s.do(t, http.MethodPost, "/api/tickets", `{"title":"concert","price":`+price+`}`, cookie)
		assert.Equal(t, http.StatusBadRequest, r.status, price)
		assert.Equal(t, []errs.Detail{{Message: ticket.MsgPriceCents, Field: "price"}}, r.errors(t), price)
	}
	r = s.do(t, http.MethodPost, "/api/tickets", `{"title":"concert","price":1000000.01}`, cookie)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, []errs.Detail{{Message: ticket.MsgPriceTooHigh, Field: "price"}}, r.errors(t))
	r = s.do(t, http.MethodPost, "/api/tickets", `{"title":"concert","price":1000000}`, cookie)
	assert.Equal(t, http.StatusCreated, r.status, "one million dollars is allowed")
}

func TestUpdate_UnknownIDIs404(t *testing.T) {
	t.Parallel()
	s := startService(t)
	r := s.do(t, http.MethodPut, "/api/tickets/"+bson.NewObjectID().Hex(), `{"title":"concert","price":20}`, testkit.SignIn(t, newUserID()))
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.JSONEq(t, `{"errors":[{"message":"Ticket not found"}]}`, string(r.body))
}

func TestUpdate_SignedOutIs401(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tk := s.create(t, testkit.SignIn(t, newUserID()), "concert", "20")
	r := s.do(t, http.MethodPut, "/api/tickets/"+tk.ID, `{"title":"changed","price":30}`, nil)
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.Equal(t, "concert", s.stored(t, tk.ID).Title)
}

func TestUpdate_NotTheOwnerIs401(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tk := s.create(t, testkit.SignIn(t, newUserID()), "concert", "20")
	r := s.do(t, http.MethodPut, "/api/tickets/"+tk.ID, `{"title":"changed","price":1000}`, testkit.SignIn(t, newUserID()))
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.JSONEq(t, `{"errors":[{"message":"Not authorized"}]}`, string(r.body))
	doc := s.stored(t, tk.ID)
	assert.Equal(t, "concert", doc.Title)
	assert.Equal(t, int64(2000), doc.Price)
	assert.Zero(t, doc.Version)
}

func TestUpdate_InvalidTitleOrPriceIs400(t *testing.T) {
	t.Parallel()
	s := startService(t)
	cookie := testkit.SignIn(t, newUserID())
	tk := s.create(t, cookie, "concert", "20")
	cases := []struct{ body, field string }{
		{`{"title":"","price":20}`, "title"},
		{`{"price":20}`, "title"},
		{`{"title":"concert","price":-10}`, "price"},
		{`{"title":"concert"}`, "price"},
		{`{"title":"concert","price":10.999}`, "price"},
	}
	for _, c := range cases {
		r := s.do(t, http.MethodPut, "/api/tickets/"+tk.ID, c.body, cookie)
		assert.Equal(t, http.StatusBadRequest, r.status, c.body)
		errs := r.errors(t)
		if assert.Len(t, errs, 1, c.body) {
			assert.Equal(t, c.field, errs[0].Field, c.body)
		}
	}
	assert.Zero(t, s.stored(t, tk.ID).Version)
}

func TestUpdate_ValidInputUpdatesTheTicket(t *testing.T) {
	t.Parallel()
	s := startService(t)
	user := newUserID()
	cookie := testkit.SignIn(t, user)
	tk := s.create(t, cookie, "concert", "20")

	r := s.do(t, http.MethodPut, "/api/tickets/"+tk.ID, `{"title":"new title","price":100}`, cookie)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.JSONEq(t, `{"id":"`+tk.ID+`","title":"new title","price":100,"userId":"`+user+`","version":1}`, string(r.body))

	show := s.do(t, http.MethodGet, "/api/tickets/"+tk.ID, "", nil)
	assert.Equal(t, http.StatusOK, show.status)
	assert.JSONEq(t, string(r.body), string(show.body))
}

func TestUpdate_PublishesTicketUpdated(t *testing.T) {
	t.Parallel()
	s := startService(t)
	updated := testkit.Observe[events.TicketUpdated](t, s.nats)
	user := newUserID()
	cookie := testkit.SignIn(t, user)
	tk := s.create(t, cookie, "concert", "20")

	r := s.do(t, http.MethodPut, "/api/tickets/"+tk.ID, `{"title":"new title","price":100}`, cookie)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, events.TicketUpdated{ID: tk.ID, Version: 1, Title: "new title", Price: 10000, UserID: user}, testkit.Next(t, updated))
}

func TestUpdate_ReservedTicketIsRefused(t *testing.T) {
	t.Parallel()
	s := startService(t)
	cookie := testkit.SignIn(t, newUserID())
	tk := s.create(t, cookie, "concert", "20")
	reserve(t, s, tk.ID, bson.NewObjectID().Hex())

	r := s.do(t, http.MethodPut, "/api/tickets/"+tk.ID, `{"title":"new title","price":100}`, cookie)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.JSONEq(t, `{"errors":[{"message":"Cannot edit a reserved ticket"}]}`, string(r.body))
	doc := s.stored(t, tk.ID)
	assert.Equal(t, "concert", doc.Title)
	assert.Equal(t, int64(1), doc.Version)
}

func TestUpdate_ChecksInTheContractsOrder(t *testing.T) {
	t.Parallel()
	s := startService(t)
	owner := testkit.SignIn(t, newUserID())
	stranger := testkit.SignIn(t, newUserID())
	tk := s.create(t, owner, "concert", "20")
	reserve(t, s, tk.ID, bson.NewObjectID().Hex())
	unknown := bson.NewObjectID().Hex()

	cases := []struct {
		name, id, body string
		cookie         *http.Cookie
		status         int
		message        string
	}{
		{"signed out before anything", "nonsense", `{}`, nil, 401, "Not authorized"},
		{"validation before missing", unknown, `{"title":""}`, owner, 400, ticket.MsgTitleRequired},
		{"missing before not owner", unknown, `{"title":"a","price":1}`, stranger, 404, "Ticket not found"},
		{"not owner before reserved", tk.ID, `{"title":"a","price":1}`, stranger, 401, "Not authorized"},
		{"reserved", tk.ID, `{"title":"a","price":1}`, owner, 400, "Cannot edit a reserved ticket"},
	}
	for _, c := range cases {
		r := s.do(t, http.MethodPut, "/api/tickets/"+c.id, c.body, c.cookie)
		assert.Equal(t, c.status, r.status, c.name)
		errs := r.errors(t)
		if assert.NotEmpty(t, errs, c.name) {
			assert.Equal(t, c.message, errs[0].Message, c.name)
		}
	}
}

func TestShow_UnknownTicketIs404(t *testing.T) {
	t.Parallel()
	s := startService(t)
	r := s.do(t, http.MethodGet, "/api/tickets/"+bson.NewObjectID().Hex(), "", nil)
	assert.Equal(t, http.StatusNotFound, r.status)
}

func TestShow_ReturnsTheTicket(t *testing.T) {
	t.Parallel()
	s := startService(t)
	user := newUserID()
	tk := s.create(t, testkit.SignIn(t, user), "concert", "20")
	r := s.do(t, http.MethodGet, "/api/tickets/"+tk.ID, "", nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, ticketBody{ID: tk.ID, Title: "concert", Price: 2000, UserID: user}, r.ticket(t))
}

func TestShow_MalformedIDIs400NeverA500(t *testing.T) {
	t.Parallel()
	s := startService(t)
	cookie := testkit.SignIn(t, newUserID())
	for _, id := range []string{"abc", "123", "zzzzzzzzzzzzzzzzzzzzzzzz", "507f1f77bcf86cd7994390111", "%7B%22%24gt%22%3A%22%22%7D", "null", strings.Repeat("a", 300)} {
		r := s.do(t, http.MethodGet, "/api/tickets/"+id, "", nil)
		assert.Equal(t, http.StatusBadRequest, r.status, id)
		assert.JSONEq(t, `{"errors":[{"message":"Ticket id must be valid"}]}`, string(r.body), id)
		r = s.do(t, http.MethodPut, "/api/tickets/"+id, `{"title":"a","price":1}`, cookie)
		assert.Equal(t, http.StatusBadRequest, r.status, id)
	}
	upper := s.create(t, cookie, "concert", "20")
	r := s.do(t, http.MethodGet, "/api/tickets/"+strings.ToUpper(upper.ID), "", nil)
	assert.Equal(t, http.StatusOK, r.status, "an id in upper-case hex is the same id")
}

func TestList_ListsTheTicketsForSale(t *testing.T) {
	t.Parallel()
	s := startService(t)
	r := s.do(t, http.MethodGet, "/api/tickets", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "[]\n", string(r.body), "an empty list is [], never null")

	cookie := testkit.SignIn(t, newUserID())
	a := s.create(t, cookie, "one", "10")
	b := s.create(t, cookie, "two", "20")
	c := s.create(t, cookie, "three", "30")
	reserve(t, s, b.ID, bson.NewObjectID().Hex())

	r = s.do(t, http.MethodGet, "/api/tickets", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `[`+
		`{"id":"`+a.ID+`","title":"one","price":10,"userId":"`+a.UserID+`","version":0},`+
		`{"id":"`+c.ID+`","title":"three","price":30,"userId":"`+c.UserID+`","version":0}]`, string(r.body))
}

func TestUnknownRoutesAre404(t *testing.T) {
	t.Parallel()
	s := startService(t)
	for _, c := range []struct{ method, path string }{
		{http.MethodDelete, "/api/tickets/" + bson.NewObjectID().Hex()},
		{http.MethodGet, "/api/nothing"},
	} {
		r := s.do(t, c.method, c.path, "", nil)
		assert.Equal(t, http.StatusNotFound, r.status, c.path)
	}
}

// reserve reserves a ticket as an order:created from the orders service
// does, and waits until it is applied.
func reserve(t *testing.T, s *service, ticketID, orderID string) {
	t.Helper()
	publish(t, s, events.OrderCreated{
		ID:        orderID,
		Status:    events.StatusCreated,
		UserID:    newUserID(),
		ExpiresAt: events.NewTime(time.Now().Add(15 * time.Minute)),
		Ticket:    events.OrderTicket{ID: ticketID, Price: 2000},
	})
	eventuallyStored(t, s, ticketID, func(d stored) bool { return d.OrderID != nil && *d.OrderID == orderID })
}

// eventuallyStored waits until the ticket's document satisfies cond.
func eventuallyStored(t *testing.T, s *service, id string, cond func(stored) bool) stored {
	t.Helper()
	var doc stored
	testkit.Eventually(t, func() bool {
		doc = s.stored(t, id)
		return cond(doc)
	}, "ticket %s in the expected state", id)
	return doc
}

// eventuallyPublished waits until nothing of the ticket is pending.
func eventuallyPublished(t *testing.T, s *service, id string) {
	t.Helper()
	eventuallyStored(t, s, id, func(d stored) bool { return len(d.Outbox) == 0 })
}
