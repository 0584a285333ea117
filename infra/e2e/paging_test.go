package e2e_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nextRE reads the target of a Link header pointing at the next page.
var nextRE = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// page GETs a page of a listing as u, checked against the document like
// every exchange, and returns its items' ids and the target of its Link
// header, "" when it has none.
func (u *user) page(path string) (ids []string, next string) {
	u.t.Helper()
	req, err := http.NewRequest("GET", u.base+path, nil)
	require.NoError(u.t, err)
	resp, err := u.http.Do(req)
	require.NoError(u.t, err, path)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(u.t, err)
	checkExchange(u.t, req, nil, resp, raw)
	require.Equal(u.t, http.StatusOK, resp.StatusCode, "%s: %s", path, raw)
	var items []struct{ ID string }
	require.NoError(u.t, json.Unmarshal(raw, &items), "%s", raw)
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	if link := resp.Header.Get("Link"); link != "" {
		m := nextRE.FindStringSubmatch(link)
		require.NotNil(u.t, m, "Link of %s: %q", path, link)
		next = m[1]
	}
	return ids, next
}

// pages follows the Link headers from path to the last page.
func (u *user) pages(path string) [][]string {
	u.t.Helper()
	var pages [][]string
	for path != "" {
		require.Less(u.t, len(pages), 50, "the pages end")
		var ids []string
		ids, path = u.page(path)
		pages = append(pages, ids)
	}
	return pages
}

// TestStory_ListingsPage pages through both listings by their Link headers,
// so that the parameters, the header and the 400s are checked against the
// document too.
func TestStory_ListingsPage(t *testing.T) {
	seller, buyer := newUser(t, base), newUser(t, base)
	seller.signUp()
	buyer.signUp()

	// Earlier stories left tickets listed, and releases may list old ones
	// again at any time; the pages start after the newest of them.
	before, _ := seller.page("/api/tickets")
	start := "/api/tickets?limit=2"
	if len(before) > 0 {
		start += "&cursor=" + before[len(before)-1]
	}
	var mine []string
	for _, title := range []string{"first", "second", "third"} {
		mine = append(mine, seller.sell(title, 10).ID)
	}
	assert.Equal(t, [][]string{mine[:2], mine[2:]}, seller.pages(start))

	for _, id := range mine[:2] {
		eventually(t, 10*time.Second, func() bool {
			return buyer.do("POST", "/api/orders", map[string]string{"ticketId": id}, nil) == http.StatusCreated
		}, "ticket orderable")
	}
	orders, _ := buyer.page("/api/orders")
	require.Len(t, orders, 2)
	assert.Equal(t, [][]string{orders[:1], orders[1:]}, buyer.pages("/api/orders?limit=1"))

	assert.Equal(t, http.StatusBadRequest, seller.do("GET", "/api/tickets?limit=0", nil, nil))
	assert.Equal(t, http.StatusBadRequest, seller.do("GET", "/api/tickets?cursor=nope", nil, nil))
	assert.Equal(t, http.StatusBadRequest, buyer.do("GET", "/api/orders?limit=1001", nil, nil))
	assert.Equal(t, http.StatusBadRequest, buyer.do("GET", "/api/orders?limit=2&cursor=nope", nil, nil))
}
