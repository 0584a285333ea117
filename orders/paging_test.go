package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web/webtest"
)

// nextLinkRE is the Link header of a page that more orders follow.
var nextLinkRE = regexp.MustCompile(`^<(/api/orders\?limit=(\d+)&cursor=([0-9a-f]{24}))>; rel="next"$`)

// listed reads one answer of the user's listing at target and returns its
// orders' ids and the target its Link header names, "" when it has none.
func (s *wired) listed(t *testing.T, userID, target string) (ids []string, next string) {
	t.Helper()
	r := s.do(t, http.MethodGet, target, userID, "")
	require.Equal(t, http.StatusOK, r.status, "%s: %s", target, r.body)
	var list []orderBody
	require.NoError(t, json.Unmarshal([]byte(r.body), &list))
	ids = make([]string, len(list))
	for i, o := range list {
		assert.Equal(t, userID, o.UserID, "only the caller's orders")
		ids[i] = o.ID
	}
	if link := r.header.Values("Link"); len(link) > 0 {
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
func (s *wired) pages(t *testing.T, userID, target string) [][]string {
	t.Helper()
	var pages [][]string
	for target != "" {
		require.Less(t, len(pages), 100, "the pages end")
		var ids []string
		ids, target = s.listed(t, userID, target)
		pages = append(pages, ids)
	}
	return pages
}

func TestListOrders_PagesAddUpToTheCallersOrders(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	var mine, theirs []string
	for i := range 7 {
		mine = append(mine, s.place(t, buyer, s.ticket(t, fmt.Sprint("mine ", i), 100).ID).ID)
		if i%2 == 0 {
			theirs = append(theirs, s.place(t, someoneElse, s.ticket(t, fmt.Sprint("theirs ", i), 100).ID).ID)
		}
	}
	whole, next := s.listed(t, buyer, "/api/orders")
	require.ElementsMatch(t, mine, whole)
	assert.Empty(t, next, "no Link without limit")

	pages := s.pages(t, buyer, "/api/orders?limit=3")

	require.Len(t, pages, 3)
	assert.Len(t, pages[0], 3)
	assert.Len(t, pages[1], 3)
	assert.Len(t, pages[2], 1)
	assert.Equal(t, whole, append(append(pages[0], pages[1]...), pages[2]...))

	other, _ := s.listed(t, someoneElse, "/api/orders")
	require.ElementsMatch(t, theirs, other)
	assert.Equal(t, [][]string{other[:2], other[2:]}, s.pages(t, someoneElse, "/api/orders?limit=2"))
	assert.Equal(t, [][]string{whole}, s.pages(t, buyer, "/api/orders?limit=7"), "a full last page has no Link")
	after, next := s.listed(t, buyer, "/api/orders?cursor="+whole[4])
	assert.Equal(t, whole[5:], after, "a cursor without limit lists everything after it")
	assert.Empty(t, next)
	// Another user's order id is only a position: what follows it is the
	// caller's own orders.
	fromTheirs, _ := s.listed(t, buyer, "/api/orders?limit=1000&cursor="+other[1])
	assert.Subset(t, whole, fromTheirs)
	assert.Equal(t, whole[len(whole)-len(fromTheirs):], fromTheirs)
	upper, _ := s.listed(t, buyer, "/api/orders?limit=2&cursor="+strings.ToUpper(whole[1]))
	assert.Equal(t, whole[2:4], upper, "an id in upper-case hex is the same id")
}

func TestListOrders_PagesShowOrdersInTheirCurrentState(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	var ids []string
	for i := range 4 {
		ids = append(ids, s.place(t, buyer, s.ticket(t, fmt.Sprint("ticket ", i), 100).ID).ID)
	}
	whole, _ := s.listed(t, buyer, "/api/orders")
	require.ElementsMatch(t, ids, whole)
	first, next := s.listed(t, buyer, "/api/orders?limit=2")
	require.Equal(t, whole[:2], first)
	require.Equal(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/api/orders/"+whole[2], buyer, "").status)

	r := s.do(t, http.MethodGet, next, buyer, "")

	require.Equal(t, http.StatusOK, r.status, r.body)
	var page []orderBody
	require.NoError(t, json.Unmarshal([]byte(r.body), &page))
	require.Len(t, page, 2, "a cancelled order is still the buyer's order")
	assert.Equal(t, "cancelled", page[0].Status)
	assert.Equal(t, "created", page[1].Status)
	assert.Empty(t, r.header.Values("Link"))
}

func TestListOrders_BadPageParametersAre400AndChangeNothing(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	s.place(t, buyer, s.ticket(t, "concert", 100).ID)
	testkit.Eventually(t, func() bool { return s.pending(t) == 0 }, "order:created relayed")
	before := testkit.Snapshot(t, s.db)
	for _, bad := range webtest.BadPageQueries() {
		r := s.do(t, http.MethodGet, "/api/orders?"+bad.Query, buyer, "")
		assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", bad.Query, r.body)
		assert.Equal(t, errs.Body{Errors: bad.Want}, errorBody(t, r), bad.Query)
		assert.Empty(t, r.header.Values("Link"), bad.Query)
	}
	assertError(t, s.do(t, http.MethodGet, "/api/orders?limit=0", "", ""), http.StatusUnauthorized, "Not authorized")
	assert.Equal(t, before, testkit.Snapshot(t, s.db), "the database is as it was")
}
