package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web"
	"ticketing.dev/common/web/webtest"
	"ticketing.dev/orders/internal/orderdb"
)

// Users as auth issues their ids; sessions naming anything else are refused.
var (
	buyer       = newID()
	firstBuyer  = newID()
	secondBuyer = newID()
	someoneElse = newID()
)

// orderBody is an order as the API returns it, decoded loosely to check
// the wire format rather than the API's models.
type orderBody struct {
	ID        string `json:"id"`
	UserID    string `json:"userId"`
	Status    string `json:"status"`
	ExpiresAt string `json:"expiresAt"`
	Version   int64  `json:"version"`
	Ticket    struct {
		ID      string  `json:"id"`
		Title   string  `json:"title"`
		Price   float64 `json:"price"`
		Version int64   `json:"version"`
	} `json:"ticket"`
}

// decoded requires r to have the status and returns its body as a T.
func decoded[T any](t *testing.T, r response, status int) T {
	t.Helper()
	require.Equal(t, status, r.status, r.body)
	var v T
	require.NoError(t, json.Unmarshal([]byte(r.body), &v))
	return v
}

// place orders the ticket as the user and requires a 201.
func (s *wired) place(t *testing.T, userID, ticketID string) orderBody {
	t.Helper()
	return decoded[orderBody](t, s.do(t, http.MethodPost, "/api/orders", userID, `{"ticketId":"`+ticketID+`"}`), http.StatusCreated)
}

func (s *wired) get(t *testing.T, userID, orderID string) orderBody {
	t.Helper()
	return decoded[orderBody](t, s.do(t, http.MethodGet, "/api/orders/"+orderID, userID, ""), http.StatusOK)
}

// list lists the user's orders and requires a 200.
func (s *wired) list(t *testing.T, userID string) []orderBody {
	t.Helper()
	return decoded[[]orderBody](t, s.do(t, http.MethodGet, "/api/orders", userID, ""), http.StatusOK)
}

// cancel cancels the order as the user and requires a 204.
func (s *wired) cancel(t *testing.T, userID, orderID string) {
	t.Helper()
	r := s.do(t, http.MethodDelete, "/api/orders/"+orderID, userID, "")
	require.Equal(t, http.StatusNoContent, r.status, r.body)
}

func errorBody(t *testing.T, r response) errs.Body {
	t.Helper()
	var b errs.Body
	require.NoError(t, json.Unmarshal([]byte(r.body), &b), r.body)
	return b
}

func assertError(t *testing.T, r response, status int, message string) {
	t.Helper()
	assert.Equal(t, status, r.status, r.body)
	assert.Equal(t, errs.Body{Errors: []errs.Detail{{Message: message}}}, errorBody(t, r))
}

// activeOrders counts the ticket's orders that hold it.
func (s *wired) activeOrders(t *testing.T, ticketID string) int64 {
	t.Helper()
	tid, err := bson.ObjectIDFromHex(ticketID)
	require.NoError(t, err)
	n, err := s.db.Collection(orderdb.OrdersCollection).CountDocuments(context.Background(), bson.D{
		{Key: "ticketId", Value: tid},
		{Key: "status", Value: bson.D{{Key: "$ne", Value: events.StatusCancelled}}},
	})
	require.NoError(t, err)
	return n
}

func TestRoutes_RequireSignIn(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	id := newID()
	for _, route := range []struct{ method, target string }{
		{http.MethodPost, "/api/orders"},
		{http.MethodGet, "/api/orders"},
		{http.MethodGet, "/api/orders/" + id},
		{http.MethodDelete, "/api/orders/" + id},
	} {
		r := s.do(t, route.method, route.target, "", `{"ticketId":"`+id+`"}`)
		assertError(t, r, http.StatusUnauthorized, "Not authorized")
	}
}

func TestCreateOrder_UnknownTicketIs404(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	r := s.do(t, http.MethodPost, "/api/orders", buyer, `{"ticketId":"`+newID()+`"}`)
	assertError(t, r, http.StatusNotFound, "Ticket not found")
}

func TestCreateOrder_TicketAlreadyReservedIs400(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	tk := s.ticket(t, "concert", 2000)
	s.place(t, firstBuyer, tk.ID)

	r := s.do(t, http.MethodPost, "/api/orders", secondBuyer, `{"ticketId":"`+tk.ID+`"}`)
	assertError(t, r, http.StatusBadRequest, "Ticket is already reserved")
	assert.EqualValues(t, 1, s.activeOrders(t, tk.ID))
}

func TestCreateOrder_ReservesTheTicket(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	tk := s.ticket(t, "concert", 2050)

	o := s.place(t, buyer, tk.ID)

	assert.True(t, web.ValidID(o.ID), o.ID)
	assert.Equal(t, buyer, o.UserID)
	assert.Equal(t, "created", o.Status)
	assert.EqualValues(t, 0, o.Version)
	assert.Equal(t, tk.ID, o.Ticket.ID)
	assert.Equal(t, "concert", o.Ticket.Title)
	assert.Equal(t, 20.5, o.Ticket.Price)
	assert.EqualValues(t, 0, o.Ticket.Version)
	assert.EqualValues(t, 1, s.activeOrders(t, tk.ID))
	assert.Equal(t, o, s.get(t, buyer, o.ID))
}

func TestCreateOrder_ExpiresAtIsNowPlusTheWindow(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	tk := s.ticket(t, "concert", 2000)
	s.clock.Advance(3 * time.Hour)

	o := s.place(t, buyer, tk.ID)

	// toISOString: UTC, exactly three fractional digits.
	want := clockStart.Add(3*time.Hour + window)
	assert.Equal(t, "2026-11-25T17:15:00.123Z", o.ExpiresAt)
	assert.Equal(t, want.Format("2006-01-02T15:04:05.000Z"), o.ExpiresAt)
}

func TestCreateOrder_PublishesOrderCreated(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	created := testkit.Observe[wireOrderCreated](t, s.nats)
	tk := s.ticket(t, "concert", 1099)

	o := s.place(t, buyer, tk.ID)

	got := testkit.Next(t, created)
	want := fmt.Sprintf(`{"id":%q,"version":0,"status":"created","userId":%q,"expiresAt":"2026-11-25T14:15:00.123Z","ticket":{"id":%q,"price":10.99}}`, o.ID, buyer, tk.ID)
	assert.JSONEq(t, want, jsonText(t, got))
}

func TestCreateOrder_InvalidTicketIDIs400(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	for _, body := range []string{
		``,
		`{}`,
		`{"ticketId":""}`,
		`{"ticketId":"not-an-id"}`,
		`{"ticketId":"` + strings.Repeat("z", 24) + `"}`,
		`{"ticketId":{"$gt":""}}`,
		`{"ticketId":123}`,
		`{"ticketId":null}`,
	} {
		r := s.do(t, http.MethodPost, "/api/orders", buyer, body)
		if assert.Equal(t, http.StatusBadRequest, r.status, body) {
			b := errorBody(t, r)
			if assert.Len(t, b.Errors, 1, body) {
				assert.Equal(t, "ticketId", b.Errors[0].Field, body)
			}
		}
	}
}

func TestCreateOrder_ConcurrentBuyersOfOneTicketGetOneOrder(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	const rounds, buyers = 5, 20
	for round := range rounds {
		tk := s.ticket(t, fmt.Sprintf("round %d", round), 1000)
		cookies := make([]*http.Cookie, buyers)
		for i := range cookies {
			cookies[i] = testkit.SignIn(t, newID())
		}
		body := webtest.Headers{Header: http.Header{"Content-Type": {"application/json"}}, Body: `{"ticketId":"` + tk.ID + `"}`}
		rs := make([]response, buyers)
		failed := make([]error, buyers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range buyers {
			wg.Go(func() {
				<-start
				rs[i], failed[i] = s.send(http.MethodPost, "/api/orders", body, cookies[i])
			})
		}
		close(start)
		wg.Wait()

		var created, reserved int
		for i, r := range rs {
			if !assert.NoError(t, failed[i], "round %d", round) {
				continue
			}
			switch r.status {
			case http.StatusCreated:
				created++
			case http.StatusBadRequest:
				assertError(t, r, http.StatusBadRequest, "Ticket is already reserved")
				reserved++
			default:
				t.Errorf("round %d: unexpected %d %s", round, r.status, r.body)
			}
		}
		assert.Equal(t, 1, created, "round %d", round)
		assert.Equal(t, buyers-1, reserved, "round %d", round)
		assert.EqualValues(t, 1, s.activeOrders(t, tk.ID), "round %d", round)
	}
}

func TestCreateOrder_TicketCanBeOrderedAgainAfterACancel(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	tk := s.ticket(t, "concert", 2000)
	first := s.place(t, firstBuyer, tk.ID)
	s.cancel(t, firstBuyer, first.ID)

	second := s.place(t, secondBuyer, tk.ID)

	assert.NotEqual(t, first.ID, second.ID)
	assert.EqualValues(t, 1, s.activeOrders(t, tk.ID))
}

func TestListOrders_ReturnsOnlyTheCallersOrders(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	t1 := s.ticket(t, "one", 100)
	t2 := s.ticket(t, "two", 200)
	t3 := s.ticket(t, "three", 300)
	s.place(t, firstBuyer, t1.ID)
	o2 := s.place(t, secondBuyer, t2.ID)
	o3 := s.place(t, secondBuyer, t3.ID)

	got := s.list(t, secondBuyer)

	assert.Equal(t, []orderBody{o2, o3}, got)
}

func TestListOrders_NoOrdersIsAnEmptyArray(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	r := s.do(t, http.MethodGet, "/api/orders", buyer, "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "[]", strings.TrimSpace(r.body))
}

// TestListOrders_ReadsAllTicketsInOneQuery counts the service's finds in
// the replica's collection as its metrics do.
func TestListOrders_ReadsAllTicketsInOneQuery(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	for i := range 4 {
		s.place(t, buyer, s.ticket(t, fmt.Sprint("ticket ", i), 100).ID)
	}
	ticketFinds := prometheus.Labels{"collection": orderdb.TicketsCollection, "command": "find"}
	before := metricstest.Gather(t, s.reg).Value(metrics.MongoCommands, ticketFinds)

	got := s.list(t, buyer)

	assert.Len(t, got, 4)
	assert.EqualValues(t, 1, metricstest.Gather(t, s.reg).Value(metrics.MongoCommands, ticketFinds)-before)
}

func TestShowOrder_ReturnsTheCallersOrder(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	tk := s.ticket(t, "concert", 2000)
	o := s.place(t, buyer, tk.ID)

	got := s.get(t, buyer, o.ID)

	assert.Equal(t, o.ID, got.ID)
	assert.Equal(t, tk.ID, got.Ticket.ID)
}

// TestOrderRoutes_AnotherUsersOrderIs401: another user's order is neither
// shown nor cancelled, and stays as it was.
func TestOrderRoutes_AnotherUsersOrderIs401(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	o := s.place(t, buyer, s.ticket(t, "concert", 2000).ID)
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		t.Run(method, func(t *testing.T) {
			r := s.do(t, method, "/api/orders/"+o.ID, someoneElse, "")

			assertError(t, r, http.StatusUnauthorized, "Not authorized")
			assert.Equal(t, "created", s.get(t, buyer, o.ID).Status)
		})
	}
}

func TestOrderRoutes_UnknownOrderIs404(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		t.Run(method, func(t *testing.T) {
			r := s.do(t, method, "/api/orders/"+newID(), buyer, "")
			assertError(t, r, http.StatusNotFound, "Order not found")
		})
	}
}

func TestOrderRoutes_MalformedIDIs400(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	for _, id := range []string{"abc", strings.Repeat("z", 24), "%24gt", "123456789012", strings.Repeat("a", 25)} {
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			r := s.do(t, method, "/api/orders/"+id, buyer, "")
			assertError(t, r, http.StatusBadRequest, "Order id must be valid")
		}
	}
}

func TestCancelOrder_MarksTheOrderCancelled(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	tk := s.ticket(t, "concert", 2000)
	o := s.place(t, buyer, tk.ID)

	r := s.do(t, http.MethodDelete, "/api/orders/"+o.ID, buyer, "")

	assert.Equal(t, http.StatusNoContent, r.status, r.body)
	assert.Empty(t, r.body)
	got := s.get(t, buyer, o.ID)
	assert.Equal(t, "cancelled", got.Status)
	assert.EqualValues(t, 1, got.Version)
	assert.EqualValues(t, 0, s.activeOrders(t, tk.ID))
}

func TestCancelOrder_PublishesOrderCancelled(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	cancelled := testkit.Observe[wireOrderCancelled](t, s.nats)
	tk := s.ticket(t, "concert", 2000)
	o := s.place(t, buyer, tk.ID)

	s.cancel(t, buyer, o.ID)

	got := testkit.Next(t, cancelled)
	assert.JSONEq(t, fmt.Sprintf(`{"id":%q,"version":1,"ticket":{"id":%q}}`, o.ID, tk.ID), jsonText(t, got))
}

func TestCancelOrder_AlreadyCancelledIs204WithoutASecondEvent(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	cancelled := testkit.Observe[events.OrderCancelled](t, s.nats)
	o := s.place(t, buyer, s.ticket(t, "concert", 2000).ID)
	s.cancel(t, buyer, o.ID)
	testkit.Next(t, cancelled)

	r := s.do(t, http.MethodDelete, "/api/orders/"+o.ID, buyer, "")

	assert.Equal(t, http.StatusNoContent, r.status)
	assert.EqualValues(t, 1, s.get(t, buyer, o.ID).Version)
	testkit.Quiet(t, cancelled, 300*time.Millisecond)
}

func TestCancelOrder_CompletedOrderIs400(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	o := s.place(t, buyer, s.ticket(t, "concert", 2000).ID)
	_, err := s.orders.Pay(t.Context(), o.ID)
	require.NoError(t, err)

	r := s.do(t, http.MethodDelete, "/api/orders/"+o.ID, buyer, "")

	assertError(t, r, http.StatusBadRequest, "Cannot cancel a completed order")
	assert.Equal(t, "complete", s.get(t, buyer, o.ID).Status)
}
