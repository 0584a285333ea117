package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web/webtest"
	"ticketing.dev/tickets/internal/ticket"
	"ticketing.dev/tickets/internal/ticketdb"
)

var ticketFields = []webtest.Field{
	{Name: "title", Valid: `"concert"`},
	{Name: "price", Valid: `10.99`},
}

// hostileRun is a tickets service with one ticket listed by its owner, and
// observers of every event it publishes.
type hostileRun struct {
	s       *service
	owner   *http.Cookie
	ticket  ticketBody
	created <-chan events.TicketCreated
	updated <-chan events.TicketUpdated
	// before is the database once the ticket's event was relayed.
	before map[string][]bson.Raw
}

func startHostileRun(t *testing.T) *hostileRun {
	t.Helper()
	return startHostileRunWith(t, nil)
}

// startHostileRunWith is startHostileRun with the service's environment
// changed by vars.
func startHostileRunWith(t *testing.T, vars map[string]string) *hostileRun {
	t.Helper()
	n := testkit.NATS(t)
	e := testkit.ServiceEnv(testkit.MongoURI(t), n)
	for k, v := range vars {
		e[k] = v
	}
	s := startServiceOn(t, e, n)
	h := &hostileRun{s: s, owner: testkit.SignIn(t, newUserID())}
	h.created = testkit.Observe[events.TicketCreated](t, s.nats)
	h.updated = testkit.Observe[events.TicketUpdated](t, s.nats)
	h.ticket = s.create(t, h.owner, "concert", "20")
	testkit.Next(t, h.created)
	eventuallyPublished(t, s, h.ticket.ID)
	h.before = testkit.Snapshot(t, s.db)
	return h
}

// assertNothingWritten checks that no document was added, removed or
// changed: the one ticket is still alone, unchanged, with nothing pending.
func (h *hostileRun) assertNothingWritten(t *testing.T) {
	t.Helper()
	assert.Equal(t, h.before, testkit.Snapshot(t, h.s.db), "the database is as it was")
	n, err := h.s.db.Collection(ticketdb.Collection).CountDocuments(context.Background(), bson.D{})
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "no ticket created")
}

// assertNoEvents checks that nothing was published, then that a genuine
// edit is, so that the silence was not the observers'.
func (h *hostileRun) assertNoEvents(t *testing.T) {
	t.Helper()
	testkit.Quiet(t, h.created, 300*time.Millisecond)
	testkit.Quiet(t, h.updated, 0)
	r := h.s.do(t, http.MethodPut, "/api/tickets/"+h.ticket.ID, webtest.Object(ticketFields, nil), h.owner)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, int64(1), testkit.Next(t, h.updated).Version, "the first event since the hostile requests")
}

func (h *hostileRun) assertError(t *testing.T, r response, status int) {
	t.Helper()
	webtest.AssertErrorResponse(t, r.status, r.header, r.body, status)
}

func TestHostileBodies_AreClientErrorsAndWriteNothing(t *testing.T) {
	t.Parallel()
	h := startHostileRun(t)
	for _, b := range webtest.HostileBodies(ticketFields) {
		t.Run(b.Name, func(t *testing.T) {
			h.assertError(t, h.s.do(t, http.MethodPost, "/api/tickets", b.Body, h.owner), b.Status)
			h.assertError(t, h.s.do(t, http.MethodPut, "/api/tickets/"+h.ticket.ID, b.Body, h.owner), b.Status)
		})
	}
	for _, hh := range webtest.HostileHeaders(ticketFields) {
		t.Run(hh.Name, func(t *testing.T) {
			h.assertError(t, h.s.doWith(t, http.MethodPost, "/api/tickets", hh, h.owner), hh.Status)
			h.assertError(t, h.s.doWith(t, http.MethodPut, "/api/tickets/"+h.ticket.ID, hh, h.owner), hh.Status)
		})
	}
	t.Run("reads from another site are answered", func(t *testing.T) {
		crossSite := webtest.Headers{Header: webtest.CrossSite()}
		assert.Equal(t, http.StatusOK, h.s.doWith(t, http.MethodGet, "/api/tickets", crossSite, h.owner).status)
		assert.Equal(t, http.StatusOK, h.s.doWith(t, http.MethodGet, "/api/tickets/"+h.ticket.ID, crossSite, h.owner).status)
	})
	for _, c := range []struct{ name, body string }{
		{"a title of 201 characters", `{"title":"` + longTitle(201) + `","price":10}`},
		{"a title that escapes to over a megabyte of event", `{"title":"` + longTitle(1<<19) + `","price":10}`},
		{"a price of a tenth of a cent", `{"title":"concert","price":10.001}`},
		{"a price over a million", `{"title":"concert","price":1000000.01}`},
		{"a price of 1e400", `{"title":"concert","price":1e400}`},
		{"a price as a string with an operator", `{"title":"concert","price":"{\"$gt\":0}"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			h.assertError(t, h.s.do(t, http.MethodPost, "/api/tickets", c.body, h.owner), http.StatusBadRequest)
			h.assertError(t, h.s.do(t, http.MethodPut, "/api/tickets/"+h.ticket.ID, c.body, h.owner), http.StatusBadRequest)
		})
	}
	h.assertNothingWritten(t)
	h.assertNoEvents(t)
}

// TestSellerAtTheLimit_CreateIs400AndWritesNothing lets a seller have one
// ticket for sale, the one the run lists: every further listing, however
// well formed, is refused in the common shape and writes nothing, while
// the seller may still edit the ticket they have (assertNoEvents does).
func TestSellerAtTheLimit_CreateIs400AndWritesNothing(t *testing.T) {
	t.Parallel()
	h := startHostileRunWith(t, map[string]string{"MAX_UNSOLD_TICKETS": "1"})
	want := []errs.Detail{{Message: fmt.Sprintf(ticket.MsgTooManyForSale, 1)}}
	for _, c := range []struct{ name, body string }{
		{"a valid ticket", webtest.Object(ticketFields, nil)},
		{"a title of 200 characters that JSON escapes", `{"title":"` + longTitle(ticket.MaxTitleLen) + `","price":10}`},
		{"the price as a string", `{"title":"concert","price":"10.50"}`},
		{"the highest price", `{"title":"concert","price":1000000}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := h.s.do(t, http.MethodPost, "/api/tickets", c.body, h.owner)
			h.assertError(t, r, http.StatusBadRequest)
			assert.Equal(t, want, r.errors(t))
		})
	}
	t.Run("a broken rule is reported before the limit", func(t *testing.T) {
		r := h.s.do(t, http.MethodPost, "/api/tickets", `{"title":"","price":10}`, h.owner)
		h.assertError(t, r, http.StatusBadRequest)
		assert.Equal(t, []errs.Detail{{Message: ticket.MsgTitleRequired, Field: "title"}}, r.errors(t))
	})
	h.assertNothingWritten(t)
	h.assertNoEvents(t)
}

// longTitle is n characters that JSON escapes to six bytes each.
func longTitle(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '<'
	}
	return string(b)
}

func TestMalformedIDs_AreClientErrorsAndWriteNothing(t *testing.T) {
	t.Parallel()
	h := startHostileRun(t)
	for _, id := range webtest.MalformedIDs() {
		t.Run(id[:min(len(id), 40)], func(t *testing.T) {
			h.assertError(t, h.s.do(t, http.MethodGet, "/api/tickets/"+id, "", nil), http.StatusBadRequest)
			h.assertError(t, h.s.do(t, http.MethodPut, "/api/tickets/"+id, webtest.Object(ticketFields, nil), h.owner), http.StatusBadRequest)
		})
	}
	h.assertError(t, h.s.do(t, http.MethodGet, "/api/tickets/"+bson.NewObjectID().Hex(), "", nil), http.StatusNotFound)
	h.assertNothingWritten(t)
	h.assertNoEvents(t)
}

// TestForgedSessions_AreNotAuthorizedAndWriteNothing sends each forged
// session with an otherwise valid request: the routes that need a user
// answer 401, the public ones answer as to anybody.
func TestForgedSessions_AreNotAuthorizedAndWriteNothing(t *testing.T) {
	t.Parallel()
	h := startHostileRun(t)
	list := h.s.do(t, http.MethodGet, "/api/tickets", "", nil)
	show := h.s.do(t, http.MethodGet, "/api/tickets/"+h.ticket.ID, "", nil)
	for _, f := range webtest.ForgedSessions(t, []byte(testkit.JWTKey), h.ticket.UserID) {
		t.Run(f.Name, func(t *testing.T) {
			h.assertError(t, h.s.do(t, http.MethodPost, "/api/tickets", webtest.Object(ticketFields, nil), f.Cookie), http.StatusUnauthorized)
			h.assertError(t, h.s.do(t, http.MethodPut, "/api/tickets/"+h.ticket.ID, webtest.Object(ticketFields, nil), f.Cookie), http.StatusUnauthorized)
			for _, want := range []struct {
				path string
				r    response
			}{{"/api/tickets", list}, {"/api/tickets/" + h.ticket.ID, show}} {
				got := h.s.do(t, http.MethodGet, want.path, "", f.Cookie)
				assert.Equal(t, want.r.status, got.status, want.path)
				assert.JSONEq(t, string(want.r.body), string(got.body), want.path)
			}
		})
	}
	h.assertNothingWritten(t)
	h.assertNoEvents(t)
}
