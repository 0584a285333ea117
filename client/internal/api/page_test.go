package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/client/internal/api"
	"ticketing.dev/common/web"
)

// longest are the titles that JSON makes longest: six bytes a character
// (\u003c as Go writes "<", \u2028 as Go and JavaScript write it).
var longest = []string{strings.Repeat("<", api.MaxTitleLen), strings.Repeat("\u2028", api.MaxTitleLen), strings.Repeat("\x01", api.MaxTitleLen)}

// worstPages are pages of limit tickets and of limit orders with every
// field as long as the API writes it.
func worstPages(t *testing.T, limit int, title string) map[string][]byte {
	t.Helper()
	id := strings.Repeat("f", 24)
	tickets, orders := make([]map[string]any, limit), make([]map[string]any, limit)
	for i := range limit {
		tickets[i] = map[string]any{"id": id, "title": title, "price": json.Number("999999.99"), "userId": id,
			"version": int64(math.MaxInt64), "orderId": id}
		orders[i] = map[string]any{"id": id, "userId": id, "status": "awaiting:payment", "expiresAt": "2030-12-31T23:59:59.999Z",
			"version": int64(math.MaxInt64), "ticket": map[string]any{"id": id, "title": title, "price": json.Number("999999.99"), "version": int64(math.MaxInt64)}}
	}
	out := map[string][]byte{}
	for path, v := range map[string]any{"/api/tickets": tickets, "/api/orders": orders} {
		// Indented, as a server could write it, to leave no doubt.
		b, err := json.MarshalIndent(v, "", " ")
		require.NoError(t, err)
		out[path] = b
	}
	return out
}

// fetch asks c for one page of the listing at path.
func fetch(t *testing.T, c *api.Client, path string, p api.PageRequest) (int, string, error) {
	if path == "/api/orders" {
		page, err := c.Orders(t.Context(), browser, p)
		return len(page.Items), page.Next, err
	}
	page, err := c.Tickets(t.Context(), browser, p)
	return len(page.Items), page.Next, err
}

func TestList_APageOfTheLongestItemsFitsTheBound(t *testing.T) {
	for _, limit := range []int{1, 50, web.MaxPageLimit} {
		for _, title := range longest {
			for path, body := range worstPages(t, limit, title) {
				require.LessOrEqual(t, int64(len(body)), api.ListBodyLimit(limit), "%s of %d", path, limit)
				c := newClient(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) })

				n, _, err := fetch(t, c, path, api.PageRequest{Limit: limit})

				require.NoError(t, err, "%s of %d", path, limit)
				assert.Equal(t, limit, n)
			}
		}
	}
}

func TestList_AnswerOverTheBoundIsErrTooLarge(t *testing.T) {
	const limit = 3
	over := "[" + strings.Repeat(" ", int(api.ListBodyLimit(limit))) + "]"
	for name, h := range map[string]http.HandlerFunc{
		"announced": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(over)))
			_, _ = io.WriteString(w, over)
		},
		"unannounced": func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, over[:1])
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, over[1:])
		},
	} {
		for _, path := range []string{"/api/tickets", "/api/orders"} {
			c := newClient(t, h)

			_, _, err := fetch(t, c, path, api.PageRequest{Limit: limit})

			assert.ErrorIs(t, err, api.ErrTooLarge, "%s %s", name, path)
		}
	}
	exact := "[" + strings.Repeat(" ", int(api.ListBodyLimit(limit))-2) + "]"
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, exact) })
	_, _, err := fetch(t, c, "/api/tickets", api.PageRequest{Limit: limit})
	assert.NoError(t, err, "an answer of exactly the bound is read")
}

func TestList_ErrorAnswerOverTheBoundKeepsItsStatus(t *testing.T) {
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write(bytes.Repeat([]byte("x"), 2<<20))
	})

	_, _, err := fetch(t, c, "/api/tickets", api.PageRequest{Limit: 1})

	assert.True(t, api.HasStatus(err, http.StatusBadGateway), "%v", err)
}

func TestList_AsksForThePageAndReadsTheNextCursorFromTheLinkHeader(t *testing.T) {
	ids := []string{"6b06fc3abc0b433600000001", "6b06fc3abc0b433600000002"}
	body := fmt.Sprintf(`[{"id":%q},{"id":%q}]`, ids[0], ids[1])
	cases := []struct {
		name, link, next string
	}{
		{"no link: the last page", "", ""},
		{"the services' link", `</api/tickets?limit=2&cursor=` + ids[1] + `>; rel="next"`, ids[1]},
		{"a cursor in upper case", `</api/tickets?limit=2&cursor=` + strings.ToUpper(ids[1]) + `>; rel="next"`, ids[1]},
		{"among other links", `</x>; rel="prev", </api/tickets?cursor=` + ids[1] + `&limit=2>; rel="next"`, ids[1]},
		{"rel among others", `</api/tickets?limit=2&cursor=` + ids[1] + `>; title="more"; rel="next last"`, ids[1]},
		{"a next link without a cursor", `</api/tickets?page=2>; rel="next"`, ids[1]},
		{"another relation only", `</api/tickets?limit=2&cursor=` + ids[1] + `>; rel="prev"`, ""},
	}
	for _, c := range cases {
		var query string
		client := newClient(t, func(w http.ResponseWriter, r *http.Request) {
			query = r.URL.RawQuery
			if c.link != "" {
				w.Header().Set("Link", c.link)
			}
			_, _ = io.WriteString(w, body)
		})

		page, err := client.Tickets(t.Context(), browser, api.PageRequest{Limit: 2, Cursor: "6B06FC3ABC0B433600000000"})

		require.NoError(t, err, c.name)
		assert.Equal(t, "limit=2&cursor=6b06fc3abc0b433600000000", query, c.name)
		assert.Len(t, page.Items, 2, c.name)
		assert.Equal(t, c.next, page.Next, c.name)
	}
}

func TestList_PagesAWholeListingWhenTheAPIIgnoresThePage(t *testing.T) {
	var all []string
	for i := range 5 {
		all = append(all, fmt.Sprintf("6b06fc3abc0b4336%08x", i))
	}
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		items := make([]map[string]string, len(all))
		for i, id := range all {
			items[i] = map[string]string{"id": id}
		}
		require.NoError(t, json.NewEncoder(w).Encode(items))
	})
	ids := func(ts []api.Ticket) []string {
		out := []string{}
		for _, tk := range ts {
			out = append(out, tk.ID)
		}
		return out
	}

	first, err := c.Tickets(t.Context(), browser, api.PageRequest{Limit: 2})
	require.NoError(t, err)
	second, err := c.Tickets(t.Context(), browser, api.PageRequest{Limit: 2, Cursor: first.Next})
	require.NoError(t, err)
	last, err := c.Tickets(t.Context(), browser, api.PageRequest{Limit: 2, Cursor: second.Next})
	require.NoError(t, err)
	beyond, err := c.Tickets(t.Context(), browser, api.PageRequest{Limit: 2, Cursor: all[4]})
	require.NoError(t, err)

	assert.Equal(t, all[:2], ids(first.Items))
	assert.Equal(t, all[1], first.Next)
	assert.Equal(t, all[2:4], ids(second.Items))
	assert.Equal(t, all[4:], ids(last.Items))
	assert.Empty(t, last.Next)
	assert.NotNil(t, beyond.Items)
	assert.Empty(t, beyond.Items)
	assert.Empty(t, beyond.Next)
}
