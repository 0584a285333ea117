package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web/webtest"
)

// hostileRun is the orders service with one ticket on sale, one order of
// buyer's for another ticket, and observers of every event it publishes.
type hostileRun struct {
	*wired
	onSale    string
	order     orderBody
	created   <-chan wireOrderCreated
	cancelled <-chan wireOrderCancelled
}

func startHostileRun(t *testing.T) *hostileRun {
	t.Helper()
	h := &hostileRun{wired: startWired(t)}
	h.created = testkit.Observe[wireOrderCreated](t, h.nats)
	h.cancelled = testkit.Observe[wireOrderCancelled](t, h.nats)
	h.onSale = h.ticket(t, "on sale", 2000).ID
	h.order = h.place(t, buyer, h.ticket(t, "ordered", 3000).ID)
	testkit.Next(t, h.created)
	testkit.Eventually(t, func() bool { return h.pending(t) == 0 }, "order:created relayed")
	return h
}

func (h *hostileRun) body(ticketID string) string { return `{"ticketId":"` + ticketID + `"}` }

// doCookie sends a request with the given session cookie, if any.
func (h *hostileRun) doCookie(t *testing.T, method, target, body string, c *http.Cookie) response {
	t.Helper()
	return h.doWith(t, method, target, webtest.Headers{Header: http.Header{"Content-Type": {"application/json"}}, Body: body}, c)
}

func assertHostileError(t *testing.T, r response, status int) {
	t.Helper()
	webtest.AssertErrorResponse(t, r.status, r.header, []byte(r.body), status)
}

// assertNothingWritten compares the database with before, then checks that
// no event was published, then that a genuine order is, so that the silence
// was not the observers'.
func (h *hostileRun) assertNothingWritten(t *testing.T, before map[string][]byte) {
	t.Helper()
	assert.Equal(t, before, snapshot(t, h), "the database is as it was")
	testkit.Quiet(t, h.created, 300*time.Millisecond)
	testkit.Quiet(t, h.cancelled, 0)
	o := h.place(t, buyer, h.onSale)
	assert.Equal(t, o.ID, testkit.Next(t, h.created)["id"], "the first event since the hostile requests")
}

// snapshot is testkit.Snapshot as comparable JSON.
func snapshot(t *testing.T, h *hostileRun) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for name, docs := range testkit.Snapshot(t, h.db) {
		out[name] = []byte(jsonText(t, docs))
	}
	return out
}

func TestHostileBodies_AreClientErrorsAndWriteNothing(t *testing.T) {
	t.Parallel()
	h := startHostileRun(t)
	before := snapshot(t, h)
	fields := []webtest.Field{{Name: "ticketId", Valid: `"` + h.onSale + `"`}}
	for _, b := range webtest.HostileBodies(fields) {
		t.Run(b.Name, func(t *testing.T) {
			assertHostileError(t, h.do(t, http.MethodPost, "/api/orders", buyer, b.Body), b.Status)
		})
	}
	genuine := testkit.SignIn(t, buyer)
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
		assert.Equal(t, http.StatusOK, h.doWith(t, http.MethodGet, "/api/orders", crossSite, genuine).status)
		assert.Equal(t, http.StatusOK, h.doWith(t, http.MethodGet, "/api/orders/"+h.order.ID, crossSite, genuine).status)
	})
	for _, id := range webtest.MalformedIDs() {
		t.Run("ticketId "+id[:min(len(id), 40)], func(t *testing.T) {
			assertHostileError(t, h.do(t, http.MethodPost, "/api/orders", buyer, h.body(id)), http.StatusBadRequest)
		})
	}
	h.assertNothingWritten(t, before)
}

func TestMalformedIDs_AreClientErrorsAndWriteNothing(t *testing.T) {
	t.Parallel()
	h := startHostileRun(t)
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
	t.Parallel()
	h := startHostileRun(t)
	before := snapshot(t, h)
	require.Equal(t, http.StatusOK, h.doCookie(t, http.MethodGet, "/api/orders/"+h.order.ID, "", testkit.SignIn(t, buyer)).status, "the genuine cookie works")
	for _, f := range webtest.ForgedSessions(t, []byte(testkit.JWTKey), buyer) {
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
	t.Parallel()
	h := startHostileRun(t)
	before := snapshot(t, h)
	fields := []webtest.Field{{Name: "ticketId", Valid: `"` + h.onSale + `"`}}
	list := h.do(t, http.MethodGet, "/api/orders", buyer, "")
	genuine := testkit.SignIn(t, buyer)
	for _, b := range webtest.HostileBodies(fields) {
		t.Run(b.Name, func(t *testing.T) {
			// A route that reads no body answers before it has all
			// arrived, and the server then closes the connection rather
			// than read a large body to its end: a client still sending it
			// may fail its write before it reads the answer. Asking to
			// continue first has a body sent only as far as the service
			// reads it, here not at all.
			hh := webtest.Headers{Header: http.Header{"Content-Type": {"application/json"}, "Expect": {"100-continue"}}, Body: b.Body}
			got := h.doWith(t, http.MethodGet, "/api/orders", hh, genuine)
			assert.Equal(t, http.StatusOK, got.status)
			assert.JSONEq(t, list.body, got.body)
			assert.Equal(t, http.StatusOK, h.doWith(t, http.MethodGet, "/api/orders/"+h.order.ID, hh, genuine).status)
		})
	}
	h.assertNothingWritten(t, before)
}
