package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/outbox"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web/webtest"
	"ticketing.dev/orders/internal/orderdb"
	"ticketing.dev/orders/internal/ordertest"
)

// hostileAPI is the orders API with one ticket on sale, one order of
// buyer's for another ticket, and observers of every event it publishes.
type hostileAPI struct {
	*api
	onSale    string
	order     order
	created   *ordertest.Received[ordertest.WireOrderCreated]
	cancelled *ordertest.Received[ordertest.WireOrderCancelled]
}

func newHostileAPI(t *testing.T) *hostileAPI {
	t.Helper()
	h := &hostileAPI{api: newAPI(t)}
	h.created = ordertest.Subscribe[ordertest.WireOrderCreated](t, h.Env)
	h.cancelled = ordertest.Subscribe[ordertest.WireOrderCancelled](t, h.Env)
	h.onSale = h.Ticket(t, "on sale", 2000).ID
	h.order = h.place(t, buyer, h.Ticket(t, "ordered", 3000).ID)
	h.created.Next(t)
	testkit.Eventually(t, func() bool {
		n, err := h.DB.Collection(orderdb.OrdersCollection).CountDocuments(t.Context(),
			bson.D{{Key: outbox.Field + ".0", Value: bson.D{{Key: "$exists", Value: true}}}})
		require.NoError(t, err)
		return n == 0
	}, "order:created relayed")
	return h
}

func (h *hostileAPI) body(ticketID string) string { return `{"ticketId":"` + ticketID + `"}` }

// doCookie sends a request with the given session cookie, if any.
func (h *hostileAPI) doCookie(t *testing.T, method, target, body string, c *http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	return h.doWith(t, method, target, webtest.Headers{Header: http.Header{"Content-Type": {"application/json"}}, Body: body}, c)
}

// doWith sends hh's body with hh's headers in place of the JSON
// Content-Type, and the given session cookie, if any.
func (h *hostileAPI) doWith(t *testing.T, method, target string, hh webtest.Headers, c *http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(hh.Body))
	hh.Set(req)
	if c != nil {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return rec
}

func assertHostileError(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	webtest.AssertErrorResponse(t, rec.Code, rec.Header(), rec.Body.Bytes(), status)
}

// assertNothingWritten compares the database with before, then checks that
// no event was published, then that a genuine order is, so that the silence
// was not the observers'.
func (h *hostileAPI) assertNothingWritten(t *testing.T, before map[string][]byte) {
	t.Helper()
	assert.Equal(t, before, snapshot(t, h), "the database is as it was")
	h.created.None(t, 300*time.Millisecond)
	h.cancelled.None(t, 0)
	o := h.place(t, buyer, h.onSale)
	assert.Equal(t, o.ID, h.created.Next(t)["id"], "the first event since the hostile requests")
}

// snapshot is testkit.Snapshot as comparable JSON.
func snapshot(t *testing.T, h *hostileAPI) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for name, docs := range testkit.Snapshot(t, h.DB) {
		out[name] = []byte(ordertest.JSON(t, docs))
	}
	return out
}

func TestHostileBodies_AreClientErrorsAndWriteNothing(t *testing.T) {
	h := newHostileAPI(t)
	before := snapshot(t, h)
	fields := []webtest.Field{{Name: "ticketId", Valid: `"` + h.onSale + `"`}}
	for _, b := range webtest.HostileBodies(fields) {
		t.Run(b.Name, func(t *testing.T) {
			assertHostileError(t, h.do(t, http.MethodPost, "/api/orders", buyer, b.Body), b.Status)
		})
	}
	genuine := sessionOf(t, h, buyer)
	for _, hh := range webtest.HostileHeaders(fields) {
		t.Run(hh.Name, func(t *testing.T) {
			assertHostileError(t, h.doWith(t, http.MethodPost, "/api/orders", hh, genuine), hh.Status)
		})
	}
	t.Run("a cross-site cancel", func(t *testing.T) {
		assertHostileError(t, h.doWith(t, http.MethodDelete, "/api/orders/"+h.order.ID, webtest.Headers{Header: webtest.CrossSite()}, genuine), http.StatusForbidden)
	})
	t.Run("reads from another site are answered", func(t *testing.T) {
		crossSite := webtest.Headers{Header: webtest.CrossSite()}
		assert.Equal(t, http.StatusOK, h.doWith(t, http.MethodGet, "/api/orders", crossSite, genuine).Code)
		assert.Equal(t, http.StatusOK, h.doWith(t, http.MethodGet, "/api/orders/"+h.order.ID, crossSite, genuine).Code)
	})
	for _, id := range webtest.MalformedIDs() {
		t.Run("ticketId "+id[:min(len(id), 40)], func(t *testing.T) {
			assertHostileError(t, h.do(t, http.MethodPost, "/api/orders", buyer, h.body(id)), http.StatusBadRequest)
		})
	}
	h.assertNothingWritten(t, before)
}

func TestMalformedIDs_AreClientErrorsAndWriteNothing(t *testing.T) {
	h := newHostileAPI(t)
	before := snapshot(t, h)
	for _, id := range webtest.MalformedIDs() {
		t.Run(id[:min(len(id), 40)], func(t *testing.T) {
			assertHostileError(t, h.do(t, http.MethodGet, "/api/orders/"+id, buyer, ""), http.StatusBadRequest)
			assertHostileError(t, h.do(t, http.MethodDelete, "/api/orders/"+id, buyer, ""), http.StatusBadRequest)
		})
	}
	h.assertNothingWritten(t, before)
}

// TestForgedSessions_AreNotAuthorizedAndWriteNothing sends each forged
// session of the order's buyer with an otherwise valid request.
func TestForgedSessions_AreNotAuthorizedAndWriteNothing(t *testing.T) {
	h := newHostileAPI(t)
	before := snapshot(t, h)
	require.Equal(t, http.StatusOK, h.doCookie(t, http.MethodGet, "/api/orders/"+h.order.ID, "", sessionOf(t, h, buyer)).Code, "the genuine cookie works")
	for _, f := range webtest.ForgedSessions(t, ordertest.JWTKey, buyer) {
		t.Run(f.Name, func(t *testing.T) {
			assertHostileError(t, h.doCookie(t, http.MethodPost, "/api/orders", h.body(h.onSale), f.Cookie), http.StatusUnauthorized)
			assertHostileError(t, h.doCookie(t, http.MethodGet, "/api/orders", "", f.Cookie), http.StatusUnauthorized)
			assertHostileError(t, h.doCookie(t, http.MethodGet, "/api/orders/"+h.order.ID, "", f.Cookie), http.StatusUnauthorized)
			assertHostileError(t, h.doCookie(t, http.MethodDelete, "/api/orders/"+h.order.ID, "", f.Cookie), http.StatusUnauthorized)
		})
	}
	h.assertNothingWritten(t, before)
}

// TestBodilessRoutes_IgnoreHostileBodies: listing, showing and cancelling
// read no body, so none changes their answer.
func TestBodilessRoutes_IgnoreHostileBodies(t *testing.T) {
	h := newHostileAPI(t)
	before := snapshot(t, h)
	fields := []webtest.Field{{Name: "ticketId", Valid: `"` + h.onSale + `"`}}
	list := h.do(t, http.MethodGet, "/api/orders", buyer, "")
	for _, b := range webtest.HostileBodies(fields) {
		t.Run(b.Name, func(t *testing.T) {
			got := h.do(t, http.MethodGet, "/api/orders", buyer, b.Body)
			assert.Equal(t, http.StatusOK, got.Code)
			assert.JSONEq(t, list.Body.String(), got.Body.String())
			assert.Equal(t, http.StatusOK, h.do(t, http.MethodGet, "/api/orders/"+h.order.ID, buyer, b.Body).Code)
		})
	}
	h.assertNothingWritten(t, before)
}

// sessionOf is the genuine session cookie of userID.
func sessionOf(t *testing.T, h *hostileAPI, userID string) *http.Cookie {
	t.Helper()
	name, value, _ := strings.Cut(h.Cookie(t, userID), "=")
	return &http.Cookie{Name: name, Value: value}
}
