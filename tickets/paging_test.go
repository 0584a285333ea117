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
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web/webtest"
)

// nextLinkRE is the Link header of a page that more tickets follow.
var nextLinkRE = regexp.MustCompile(`^<(/api/tickets\?limit=(\d+)&cursor=([0-9a-f]{24}))>; rel="next"$`)

// listed reads one answer of the listing at path and returns its tickets'
// ids and the path its Link header names, "" when it has none.
func (s *service) listed(t *testing.T, path string) (ids []string, next string) {
	t.Helper()
	r := s.do(t, http.MethodGet, path, "", nil)
	require.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.body)
	var list []ticketBody
	require.NoError(t, json.Unmarshal(r.body, &list), "%s", r.body)
	ids = make([]string, len(list))
	for i, tk := range list {
		ids[i] = tk.ID
	}
	if link := r.header.Values("Link"); len(link) > 0 {
		require.Len(t, link, 1, path)
		m := nextLinkRE.FindStringSubmatch(link[0])
		require.NotNil(t, m, "Link of %s: %q", path, link[0])
		require.NotEmpty(t, ids, "a page with a next one holds tickets")
		assert.Equal(t, ids[len(ids)-1], m[3], "the cursor is the page's last ticket")
		next = m[1]
	}
	return ids, next
}

// pages follows the Link headers from path to the last page and returns
// the ids of every page.
func (s *service) pages(t *testing.T, path string) [][]string {
	t.Helper()
	var pages [][]string
	for path != "" {
		require.Less(t, len(pages), 100, "the pages end")
		var ids []string
		ids, path = s.listed(t, path)
		pages = append(pages, ids)
	}
	return pages
}

// listForSale creates n tickets and waits until their events are relayed.
func (s *service) listForSale(t *testing.T, n int) {
	t.Helper()
	cookie := testkit.SignIn(t, newUserID())
	for i := range n {
		tk := s.create(t, cookie, fmt.Sprint("ticket ", i), "10")
		eventuallyPublished(t, s, tk.ID)
	}
}

// wholeListing lists n tickets for sale and returns the ids of the listing
// read without a limit: all n, with no Link, since nothing follows it.
func (s *service) wholeListing(t *testing.T, n int) []string {
	t.Helper()
	s.listForSale(t, n)
	whole, next := s.listed(t, "/api/tickets")
	require.Len(t, whole, n)
	assert.Empty(t, next, "no Link without limit")
	return whole
}

func TestList_PagesAddUpToTheWholeListing(t *testing.T) {
	t.Parallel()
	s := startService(t)
	whole := s.wholeListing(t, 7)

	pages := s.pages(t, "/api/tickets?limit=3")

	require.Len(t, pages, 3)
	assert.Len(t, pages[0], 3)
	assert.Len(t, pages[1], 3)
	assert.Len(t, pages[2], 1)
	assert.Equal(t, whole, append(append(pages[0], pages[1]...), pages[2]...))

	exact := s.pages(t, "/api/tickets?limit=7")
	assert.Equal(t, [][]string{whole}, exact, "a full last page has no Link: nothing follows it")
	after, next := s.listed(t, "/api/tickets?cursor="+whole[4])
	assert.Equal(t, whole[5:], after, "a cursor without limit lists everything after it")
	assert.Empty(t, next)
	upper, _ := s.listed(t, "/api/tickets?limit=2&cursor="+strings.ToUpper(whole[1]))
	assert.Equal(t, whole[2:4], upper, "an id in upper-case hex is the same id")
	first, _ := s.listed(t, "/api/tickets?limit=2&limit=5")
	assert.Equal(t, whole[:2], first, "a repeated parameter counts by its first value")
	all, next := s.listed(t, "/api/tickets?limit=1000")
	assert.Equal(t, whole, all)
	assert.Empty(t, next)
}

func TestList_PagesLeaveOutTicketsReservedMeanwhile(t *testing.T) {
	t.Parallel()
	s := startService(t)
	whole := s.wholeListing(t, 7)

	first, next := s.listed(t, "/api/tickets?limit=3")
	require.Equal(t, whole[:3], first)
	// One ticket of the page read and one of the page to come are bought.
	reserve(t, s, whole[1], bson.NewObjectID().Hex())
	reserve(t, s, whole[4], bson.NewObjectID().Hex())
	rest := s.pages(t, next)

	assert.Equal(t, [][]string{{whole[3], whole[5], whole[6]}}, rest,
		"the reserved ticket is left out and the page filled from after it; nothing follows")
	now, _ := s.listed(t, "/api/tickets")
	assert.Equal(t, []string{whole[0], whole[2], whole[3], whole[5], whole[6]}, now)
}

func TestList_BadPageParametersAre400AndChangeNothing(t *testing.T) {
	t.Parallel()
	s := startService(t)
	s.listForSale(t, 2)
	before := testkit.Snapshot(t, s.db)
	for _, bad := range webtest.BadPageQueries() {
		r := s.do(t, http.MethodGet, "/api/tickets?"+bad.Query, "", nil)
		assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", bad.Query, r.body)
		assert.Equal(t, bad.Want, r.errors(t), bad.Query)
		assert.Empty(t, r.header.Values("Link"), bad.Query)
	}
	assert.Equal(t, before, testkit.Snapshot(t, s.db), "the database is as it was")
}
