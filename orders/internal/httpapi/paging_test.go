package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web/webtest"
	"ticketing.dev/orders/internal/orderdb"
)

// nextLinkRE is the Link header of a page that more orders follow.
var nextLinkRE = regexp.MustCompile(`^<(/api/orders\?limit=(\d+)&cursor=([0-9a-f]{24}))>; rel="next"$`)

// listed reads one answer of the user's listing at target and returns its
// orders' ids and the target its Link header names, "" when it has none.
func (a *api) listed(t *testing.T, userID, target string) (ids []string, next string) {
	t.Helper()
	rec := a.do(t, http.MethodGet, target, userID, "")
	require.Equal(t, http.StatusOK, rec.Code, "%s: %s", target, rec.Body.String())
	var list []order
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &list))
	ids = make([]string, len(list))
	for i, o := range list {
		assert.Equal(t, userID, o.UserID, "only the caller's orders")
		ids[i] = o.ID
	}
	if link := rec.Header().Values("Link"); len(link) > 0 {
		require.Len(t, link, 1, target)
		m := nextLinkRE.FindStringSubmatch(link[0])
		require.NotNil(t, m, "Link of %s: %q", target, link[0])
		require.NotEmpty(t, ids, "a page with a next one holds orders")
		assert.Equal(t, ids[len(ids)-1], m[3], "the cursor is the page's last order")
		next = m[1]
	}
	return ids, next
}

// pages follows the Link headers from target to the last page and returns
// the ids of every page.
func (a *api) pages(t *testing.T, userID, target string) [][]string {
	t.Helper()
	var pages [][]string
	for target != "" {
		require.Less(t, len(pages), 100, "the pages end")
		var ids []string
		ids, target = a.listed(t, userID, target)
		pages = append(pages, ids)
	}
	return pages
}

func TestListOrders_PagesAddUpToTheCallersOrders(t *testing.T) {
	a := newAPI(t)
	var mine, theirs []string
	for i := range 7 {
		mine = append(mine, a.place(t, buyer, a.Ticket(t, fmt.Sprint("mine ", i), 100).ID).ID)
		if i%2 == 0 {
			theirs = append(theirs, a.place(t, someoneElse, a.Ticket(t, fmt.Sprint("theirs ", i), 100).ID).ID)
		}
	}
	whole, next := a.listed(t, buyer, "/api/orders")
	require.ElementsMatch(t, mine, whole)
	assert.Empty(t, next, "no Link without limit")

	pages := a.pages(t, buyer, "/api/orders?limit=3")

	require.Len(t, pages, 3)
	assert.Len(t, pages[0], 3)
	assert.Len(t, pages[1], 3)
	assert.Len(t, pages[2], 1)
	assert.Equal(t, whole, append(append(pages[0], pages[1]...), pages[2]...))

	other, _ := a.listed(t, someoneElse, "/api/orders")
	require.ElementsMatch(t, theirs, other)
	assert.Equal(t, [][]string{other[:2], other[2:]}, a.pages(t, someoneElse, "/api/orders?limit=2"))
	assert.Equal(t, [][]string{whole}, a.pages(t, buyer, "/api/orders?limit=7"), "a full last page has no Link")
	after, next := a.listed(t, buyer, "/api/orders?cursor="+whole[4])
	assert.Equal(t, whole[5:], after, "a cursor without limit lists everything after it")
	assert.Empty(t, next)
	// Another user's order id is only a position: what follows it is the
	// caller's own orders.
	fromTheirs, _ := a.listed(t, buyer, "/api/orders?limit=1000&cursor="+other[1])
	assert.Subset(t, whole, fromTheirs)
	assert.Equal(t, whole[len(whole)-len(fromTheirs):], fromTheirs)
	upper, _ := a.listed(t, buyer, "/api/orders?limit=2&cursor="+strings.ToUpper(whole[1]))
	assert.Equal(t, whole[2:4], upper, "an id in upper-case hex is the same id")
}

func TestListOrders_PagesShowOrdersInTheirCurrentState(t *testing.T) {
	a := newAPI(t)
	var ids []string
	for i := range 4 {
		ids = append(ids, a.place(t, buyer, a.Ticket(t, fmt.Sprint("ticket ", i), 100).ID).ID)
	}
	whole, _ := a.listed(t, buyer, "/api/orders")
	require.ElementsMatch(t, ids, whole)
	first, next := a.listed(t, buyer, "/api/orders?limit=2")
	require.Equal(t, whole[:2], first)
	require.Equal(t, http.StatusNoContent, a.do(t, http.MethodDelete, "/api/orders/"+whole[2], buyer, "").Code)

	rec := a.do(t, http.MethodGet, next, buyer, "")

	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var page []order
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
	require.Len(t, page, 2, "a cancelled order is still the buyer's order")
	assert.Equal(t, "cancelled", page[0].Status)
	assert.Equal(t, "created", page[1].Status)
	assert.Empty(t, rec.Header().Values("Link"))
}

func TestListOrders_BadPageParametersAre400AndChangeNothing(t *testing.T) {
	a := newAPI(t)
	a.place(t, buyer, a.Ticket(t, "concert", 100).ID)
	testkit.Eventually(t, func() bool { return a.pending(t) == 0 }, "order:created relayed")
	before := testkit.Snapshot(t, a.DB)
	for _, bad := range webtest.BadPageQueries() {
		rec := a.do(t, http.MethodGet, "/api/orders?"+bad.Query, buyer, "")
		assert.Equal(t, http.StatusBadRequest, rec.Code, "%s: %s", bad.Query, rec.Body.String())
		assert.Equal(t, errs.Body{Errors: bad.Want}, errorBody(t, rec), bad.Query)
		assert.Empty(t, rec.Header().Values("Link"), bad.Query)
	}
	assertError(t, a.do(t, http.MethodGet, "/api/orders?limit=0", "", ""), http.StatusUnauthorized, "Not authorized")
	assert.Equal(t, before, testkit.Snapshot(t, a.DB), "the database is as it was")
}

// pending counts the orders with events not yet relayed.
func (a *api) pending(t *testing.T) int64 {
	t.Helper()
	n, err := a.DB.Collection(orderdb.OrdersCollection).CountDocuments(t.Context(),
		bson.D{{Key: outbox.Field + ".0", Value: bson.D{{Key: "$exists", Value: true}}}})
	require.NoError(t, err)
	return n
}
