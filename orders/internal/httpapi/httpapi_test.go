package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web"
	"ticketing.dev/orders/internal/httpapi"
	"ticketing.dev/orders/internal/orderdb"
	"ticketing.dev/orders/internal/ordertest"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// Users as auth issues their ids; sessions naming anything else are refused.
var (
	buyer       = ordertest.NewID()
	firstBuyer  = ordertest.NewID()
	secondBuyer = ordertest.NewID()
	someoneElse = ordertest.NewID()
)

// api is the orders API on a fresh database and NATS Streaming server.
type api struct {
	*ordertest.Env
	h http.Handler
}

func newAPI(t *testing.T, opts ...ordertest.Option) *api {
	t.Helper()
	env := ordertest.New(t, opts...)
	return &api{Env: env, h: httpapi.Routes(httpapi.Deps{
		Orders:   env.Orders,
		Sessions: env.Sessions,
		Log:      testkit.Logger(t),
		Checks:   map[string]web.Check{},
	})}
}

// do serves one request as the user (nobody when userID is empty).
func (a *api) do(t *testing.T, method, target, userID, body string) *httptest.ResponseRecorder {
	t.Helper()
	var req *http.Request
	if body == "" {
		req = httptest.NewRequest(method, target, nil)
	} else {
		req = httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	if userID != "" {
		req.Header.Set("Cookie", a.Cookie(t, userID))
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec
}

// order is an order as the API returns it, decoded loosely to check the
// wire format rather than this package's models.
type order struct {
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

// decoded requires rec to have the status and returns its body as a T.
func decoded[T any](t *testing.T, rec *httptest.ResponseRecorder, status int) T {
	t.Helper()
	require.Equal(t, status, rec.Code, rec.Body.String())
	var v T
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
	return v
}

// place orders the ticket as the user and requires a 201.
func (a *api) place(t *testing.T, userID, ticketID string) order {
	t.Helper()
	return decoded[order](t, a.do(t, http.MethodPost, "/api/orders", userID, `{"ticketId":"`+ticketID+`"}`), http.StatusCreated)
}

func (a *api) get(t *testing.T, userID, orderID string) order {
	t.Helper()
	return decoded[order](t, a.do(t, http.MethodGet, "/api/orders/"+orderID, userID, ""), http.StatusOK)
}

// list lists the user's orders and requires a 200.
func (a *api) list(t *testing.T, userID string) []order {
	t.Helper()
	return decoded[[]order](t, a.do(t, http.MethodGet, "/api/orders", userID, ""), http.StatusOK)
}

// cancel cancels the order as the user and requires a 204.
func (a *api) cancel(t *testing.T, userID, orderID string) {
	t.Helper()
	rec := a.do(t, http.MethodDelete, "/api/orders/"+orderID, userID, "")
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
}

func errorBody(t *testing.T, rec *httptest.ResponseRecorder) errs.Body {
	t.Helper()
	var b errs.Body
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &b), rec.Body.String())
	return b
}

func assertError(t *testing.T, rec *httptest.ResponseRecorder, status int, message string) {
	t.Helper()
	assert.Equal(t, status, rec.Code, rec.Body.String())
	assert.Equal(t, errs.Body{Errors: []errs.Detail{{Message: message}}}, errorBody(t, rec))
}

// activeOrders counts the ticket's orders that hold it.
func (a *api) activeOrders(t *testing.T, ticketID string) int64 {
	t.Helper()
	tid, err := bson.ObjectIDFromHex(ticketID)
	require.NoError(t, err)
	n, err := a.DB.Collection(orderdb.OrdersCollection).CountDocuments(context.Background(), bson.D{
		{Key: "ticketId", Value: tid},
		{Key: "status", Value: bson.D{{Key: "$ne", Value: events.StatusCancelled}}},
	})
	require.NoError(t, err)
	return n
}

func TestRoutes_RequireSignIn(t *testing.T) {
	a := newAPI(t)
	id := ordertest.NewID()
	for _, r := range []struct{ method, target string }{
		{http.MethodPost, "/api/orders"},
		{http.MethodGet, "/api/orders"},
		{http.MethodGet, "/api/orders/" + id},
		{http.MethodDelete, "/api/orders/" + id},
	} {
		rec := a.do(t, r.method, r.target, "", `{"ticketId":"`+id+`"}`)
		assertError(t, rec, http.StatusUnauthorized, "Not authorized")
	}
}

func TestCreateOrder_UnknownTicketIs404(t *testing.T) {
	a := newAPI(t)
	rec := a.do(t, http.MethodPost, "/api/orders", buyer, `{"ticketId":"`+ordertest.NewID()+`"}`)
	assertError(t, rec, http.StatusNotFound, "Ticket not found")
}

func TestCreateOrder_TicketAlreadyReservedIs400(t *testing.T) {
	a := newAPI(t)
	tk := a.Ticket(t, "concert", 2000)
	a.place(t, firstBuyer, tk.ID)

	rec := a.do(t, http.MethodPost, "/api/orders", secondBuyer, `{"ticketId":"`+tk.ID+`"}`)
	assertError(t, rec, http.StatusBadRequest, "Ticket is already reserved")
	assert.EqualValues(t, 1, a.activeOrders(t, tk.ID))
}

func TestCreateOrder_ReservesTheTicket(t *testing.T) {
	a := newAPI(t)
	tk := a.Ticket(t, "concert", 2050)

	o := a.place(t, buyer, tk.ID)

	assert.True(t, web.ValidID(o.ID), o.ID)
	assert.Equal(t, buyer, o.UserID)
	assert.Equal(t, "created", o.Status)
	assert.EqualValues(t, 0, o.Version)
	assert.Equal(t, tk.ID, o.Ticket.ID)
	assert.Equal(t, "concert", o.Ticket.Title)
	assert.Equal(t, 20.5, o.Ticket.Price)
	assert.EqualValues(t, 0, o.Ticket.Version)
	assert.EqualValues(t, 1, a.activeOrders(t, tk.ID))
	assert.Equal(t, o, a.get(t, buyer, o.ID))
}

func TestCreateOrder_ExpiresAtIsNowPlusTheWindow(t *testing.T) {
	a := newAPI(t)
	tk := a.Ticket(t, "concert", 2000)
	a.Clock.Advance(3 * time.Hour)

	o := a.place(t, buyer, tk.ID)

	// toISOString: UTC, exactly three fractional digits.
	want := ordertest.Start.Add(3*time.Hour + ordertest.Window)
	assert.Equal(t, "2026-11-25T17:15:00.123Z", o.ExpiresAt)
	assert.Equal(t, want.Format("2006-01-02T15:04:05.000Z"), o.ExpiresAt)
}

func TestCreateOrder_PublishesOrderCreated(t *testing.T) {
	a := newAPI(t)
	created := ordertest.Subscribe[ordertest.WireOrderCreated](t, a.Env)
	tk := a.Ticket(t, "concert", 1099)

	o := a.place(t, buyer, tk.ID)

	got := created.Next(t)
	want := fmt.Sprintf(`{"id":%q,"version":0,"status":"created","userId":%q,"expiresAt":"2026-11-25T14:15:00.123Z","ticket":{"id":%q,"price":10.99}}`, o.ID, buyer, tk.ID)
	assert.JSONEq(t, want, ordertest.JSON(t, got))
}

func TestCreateOrder_InvalidTicketIDIs400(t *testing.T) {
	a := newAPI(t)
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
		rec := a.do(t, http.MethodPost, "/api/orders", buyer, body)
		if assert.Equal(t, http.StatusBadRequest, rec.Code, body) {
			b := errorBody(t, rec)
			if assert.Len(t, b.Errors, 1, body) {
				assert.Equal(t, "ticketId", b.Errors[0].Field, body)
			}
		}
	}
}

func TestCreateOrder_ConcurrentBuyersOfOneTicketGetOneOrder(t *testing.T) {
	a := newAPI(t)
	const rounds, buyers = 5, 20
	for round := range rounds {
		tk := a.Ticket(t, fmt.Sprintf("round %d", round), 1000)
		cookies := make([]string, buyers)
		for i := range cookies {
			cookies[i] = a.Cookie(t, ordertest.NewID())
		}
		recs := make([]*httptest.ResponseRecorder, buyers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range buyers {
			wg.Go(func() {
				req := httptest.NewRequest(http.MethodPost, "/api/orders", strings.NewReader(`{"ticketId":"`+tk.ID+`"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Cookie", cookies[i])
				recs[i] = httptest.NewRecorder()
				<-start
				a.h.ServeHTTP(recs[i], req)
			})
		}
		close(start)
		wg.Wait()

		var created, reserved int
		for _, rec := range recs {
			switch rec.Code {
			case http.StatusCreated:
				created++
			case http.StatusBadRequest:
				assertError(t, rec, http.StatusBadRequest, "Ticket is already reserved")
				reserved++
			default:
				t.Errorf("round %d: unexpected %d %s", round, rec.Code, rec.Body.String())
			}
		}
		assert.Equal(t, 1, created, "round %d", round)
		assert.Equal(t, buyers-1, reserved, "round %d", round)
		assert.EqualValues(t, 1, a.activeOrders(t, tk.ID), "round %d", round)
	}
}

func TestCreateOrder_TicketCanBeOrderedAgainAfterACancel(t *testing.T) {
	a := newAPI(t)
	tk := a.Ticket(t, "concert", 2000)
	first := a.place(t, firstBuyer, tk.ID)
	a.cancel(t, firstBuyer, first.ID)

	second := a.place(t, secondBuyer, tk.ID)

	assert.NotEqual(t, first.ID, second.ID)
	assert.EqualValues(t, 1, a.activeOrders(t, tk.ID))
}

func TestListOrders_ReturnsOnlyTheCallersOrders(t *testing.T) {
	a := newAPI(t)
	t1 := a.Ticket(t, "one", 100)
	t2 := a.Ticket(t, "two", 200)
	t3 := a.Ticket(t, "three", 300)
	a.place(t, firstBuyer, t1.ID)
	o2 := a.place(t, secondBuyer, t2.ID)
	o3 := a.place(t, secondBuyer, t3.ID)

	got := a.list(t, secondBuyer)

	assert.Equal(t, []order{o2, o3}, got)
}

func TestListOrders_NoOrdersIsAnEmptyArray(t *testing.T) {
	a := newAPI(t)
	rec := a.do(t, http.MethodGet, "/api/orders", buyer, "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "[]", strings.TrimSpace(rec.Body.String()))
}

func TestListOrders_ReadsAllTicketsInOneQuery(t *testing.T) {
	var ticketFinds atomic.Int64
	monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "find" && e.Command.Lookup("find").StringValue() == orderdb.TicketsCollection {
			ticketFinds.Add(1)
		}
	}}
	// A database of the shared server, reached by a client of our own
	// that counts the commands.
	uri := testkit.MongoURI(t)
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetMonitor(monitor))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	a := newAPI(t, ordertest.WithDB(client.Database(uri[strings.LastIndex(uri, "/")+1:])))
	for i := range 4 {
		a.place(t, buyer, a.Ticket(t, fmt.Sprint("ticket ", i), 100).ID)
	}

	ticketFinds.Store(0)
	got := a.list(t, buyer)

	assert.Len(t, got, 4)
	assert.EqualValues(t, 1, ticketFinds.Load())
}

func TestShowOrder_ReturnsTheCallersOrder(t *testing.T) {
	a := newAPI(t)
	tk := a.Ticket(t, "concert", 2000)
	o := a.place(t, buyer, tk.ID)

	got := a.get(t, buyer, o.ID)

	assert.Equal(t, o.ID, got.ID)
	assert.Equal(t, tk.ID, got.Ticket.ID)
}

func TestShowOrder_AnotherUsersOrderIs401(t *testing.T) {
	a := newAPI(t)
	o := a.place(t, buyer, a.Ticket(t, "concert", 2000).ID)

	rec := a.do(t, http.MethodGet, "/api/orders/"+o.ID, someoneElse, "")

	assertError(t, rec, http.StatusUnauthorized, "Not authorized")
}

func TestShowOrder_UnknownOrderIs404(t *testing.T) {
	a := newAPI(t)
	rec := a.do(t, http.MethodGet, "/api/orders/"+ordertest.NewID(), buyer, "")
	assertError(t, rec, http.StatusNotFound, "Order not found")
}

func TestOrderRoutes_MalformedIDIs400(t *testing.T) {
	a := newAPI(t)
	for _, id := range []string{"abc", strings.Repeat("z", 24), "%24gt", "123456789012", strings.Repeat("a", 25)} {
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			rec := a.do(t, method, "/api/orders/"+id, buyer, "")
			assertError(t, rec, http.StatusBadRequest, "Order id must be valid")
		}
	}
}

func TestCancelOrder_MarksTheOrderCancelled(t *testing.T) {
	a := newAPI(t)
	tk := a.Ticket(t, "concert", 2000)
	o := a.place(t, buyer, tk.ID)

	rec := a.do(t, http.MethodDelete, "/api/orders/"+o.ID, buyer, "")

	assert.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	assert.Empty(t, rec.Body.String())
	got := a.get(t, buyer, o.ID)
	assert.Equal(t, "cancelled", got.Status)
	assert.EqualValues(t, 1, got.Version)
	assert.EqualValues(t, 0, a.activeOrders(t, tk.ID))
}

func TestCancelOrder_PublishesOrderCancelled(t *testing.T) {
	a := newAPI(t)
	cancelled := ordertest.Subscribe[ordertest.WireOrderCancelled](t, a.Env)
	tk := a.Ticket(t, "concert", 2000)
	o := a.place(t, buyer, tk.ID)

	a.cancel(t, buyer, o.ID)

	got := cancelled.Next(t)
	assert.JSONEq(t, fmt.Sprintf(`{"id":%q,"version":1,"ticket":{"id":%q}}`, o.ID, tk.ID), ordertest.JSON(t, got))
}

func TestCancelOrder_AlreadyCancelledIs204WithoutASecondEvent(t *testing.T) {
	a := newAPI(t)
	cancelled := ordertest.Subscribe[events.OrderCancelled](t, a.Env)
	o := a.place(t, buyer, a.Ticket(t, "concert", 2000).ID)
	a.cancel(t, buyer, o.ID)
	cancelled.Next(t)

	rec := a.do(t, http.MethodDelete, "/api/orders/"+o.ID, buyer, "")

	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.EqualValues(t, 1, a.get(t, buyer, o.ID).Version)
	cancelled.None(t, 300*time.Millisecond)
}

func TestCancelOrder_CompletedOrderIs400(t *testing.T) {
	a := newAPI(t)
	o := a.place(t, buyer, a.Ticket(t, "concert", 2000).ID)
	_, err := a.Orders.Pay(t.Context(), o.ID)
	require.NoError(t, err)

	rec := a.do(t, http.MethodDelete, "/api/orders/"+o.ID, buyer, "")

	assertError(t, rec, http.StatusBadRequest, "Cannot cancel a completed order")
	assert.Equal(t, "complete", a.get(t, buyer, o.ID).Status)
}

func TestCancelOrder_AnotherUsersOrderIs401(t *testing.T) {
	a := newAPI(t)
	o := a.place(t, buyer, a.Ticket(t, "concert", 2000).ID)

	rec := a.do(t, http.MethodDelete, "/api/orders/"+o.ID, someoneElse, "")

	assertError(t, rec, http.StatusUnauthorized, "Not authorized")
	assert.Equal(t, "created", a.get(t, buyer, o.ID).Status)
}

func TestCancelOrder_UnknownOrderIs404(t *testing.T) {
	a := newAPI(t)
	rec := a.do(t, http.MethodDelete, "/api/orders/"+ordertest.NewID(), buyer, "")
	assertError(t, rec, http.StatusNotFound, "Order not found")
}
