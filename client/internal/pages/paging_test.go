package pages_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/client/internal/api"
	"ticketing.dev/client/internal/pages"
)

// hexID is the i-th of a listing's ids, rising as ObjectIds do.
func hexID(i int) string { return fmt.Sprintf("6b06fc3abc0b4336%08x", i) }

// listing stands in for a listing of the API: its items in id order and
// the queries it was asked.
type listing struct {
	path  string
	items []map[string]any
	// paged answers limit and cursor as the services do; otherwise the
	// whole listing is answered whatever is asked, as the original app does.
	paged bool

	mu      sync.Mutex
	queries []string
}

func (l *listing) asked() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.queries...)
}

func (l *listing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	l.queries = append(l.queries, r.URL.RawQuery)
	l.mu.Unlock()
	if !l.paged {
		writeJSON(w, http.StatusOK, l.items)
		return
	}
	q := r.URL.Query()
	items := l.items
	if cursor := q.Get("cursor"); cursor != "" {
		for len(items) > 0 && items[0]["id"].(string) <= cursor {
			items = items[1:]
		}
	}
	if limit, err := strconv.Atoi(q.Get("limit")); err == nil && limit < len(items) {
		items = items[:limit]
		w.Header().Set("Link", fmt.Sprintf(`<%s?limit=%d&cursor=%s>; rel="next"`, l.path, limit, items[limit-1]["id"]))
	}
	writeJSON(w, http.StatusOK, items)
}

// tickets returns n tickets titled by title(i).
func tickets(n int, title func(i int) string) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"id": hexID(i), "title": title(i), "price": 10, "userId": userID, "version": 0}
	}
	return out
}

var (
	ticketLinkRE = regexp.MustCompile(`<a href="/tickets/([0-9a-f]{24})">`)
	nextLinkRE   = regexp.MustCompile(`<a href="([^"]*)" rel="next">Next page</a>`)
	orderCardRE  = regexp.MustCompile(`<li class="card" id="order-([0-9a-f]{24})">`)
)

// follow reads the pages of a listing from path by their next links and
// returns the ids each shows, as found by re.
func (s *site) follow(path string, signedIn bool, re *regexp.Regexp) [][]string {
	s.t.Helper()
	var pages [][]string
	for path != "" {
		require.Less(s.t, len(pages), 20, "the pages end")
		a := s.get(path, signedIn)
		require.Equal(s.t, http.StatusOK, a.status, "%s: %s", path, a.body)
		var ids []string
		for _, m := range re.FindAllStringSubmatch(a.body, -1) {
			ids = append(ids, m[1])
		}
		pages = append(pages, ids)
		path = ""
		if m := nextLinkRE.FindStringSubmatch(a.body); m != nil {
			path = m[1]
		}
	}
	return pages
}

func idsOf(items []map[string]any) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it["id"].(string)
	}
	return out
}

func TestHome_ShowsOnePageAndANextLinkThatLeadsToTheRest(t *testing.T) {
	for _, paged := range []bool{true, false} {
		name := "API pages"
		if !paged {
			name = "API answers the whole listing"
		}
		t.Run(name, func(t *testing.T) {
			s := newSite(t)
			l := &listing{path: "/api/tickets", items: tickets(120, func(i int) string { return fmt.Sprint("Gig ", i) }), paged: paged}
			s.api.Handle("GET /api/tickets", l)

			first := s.get("/", false)
			require.Equal(t, http.StatusOK, first.status)
			assert.Len(t, ticketLinkRE.FindAllString(first.body, -1), pages.DefaultPageSize, "one page")
			assert.Contains(t, first.body, `<a href="/?cursor=`+hexID(49)+`" rel="next">Next page</a>`)
			assert.NotContains(t, first.body, "First page", "the first page links to no first page")

			got := s.follow("/", false, ticketLinkRE)

			all := idsOf(l.items)
			require.Len(t, got, 3)
			assert.Equal(t, [][]string{all[:50], all[50:100], all[100:]}, got, "every ticket once, in order")
			assert.Equal(t, []string{"limit=50", "limit=50", "limit=50&cursor=" + hexID(49), "limit=50&cursor=" + hexID(99)}, l.asked(),
				"one page asked for each page shown")
			last := s.get("/?cursor="+hexID(99), false)
			assert.Contains(t, last.body, `<a href="/">First page</a>`)
			assert.NotContains(t, last.body, "Next page")
		})
	}
}

func TestHome_PageSizeIsConfigurable(t *testing.T) {
	s := newSite(t, func(c *pages.Config) { c.PageSize = 7 })
	l := &listing{path: "/api/tickets", items: tickets(10, func(i int) string { return fmt.Sprint("Gig ", i) }), paged: true}
	s.api.Handle("GET /api/tickets", l)

	got := s.follow("/", false, ticketLinkRE)

	all := idsOf(l.items)
	assert.Equal(t, [][]string{all[:7], all[7:]}, got)
	assert.Equal(t, "limit=7", l.asked()[0])
}

func TestHome_CursorThatIsNoIDIsNotFoundAndAsksNothing(t *testing.T) {
	s := newSite(t)
	l := &listing{path: "/api/tickets", paged: true}
	s.api.Handle("GET /api/tickets", l)

	for _, cursor := range []string{"x", "", "6b06fc3abc0b4336", `{"$gt":""}`, hexID(1) + "0"} {
		a := s.get("/?cursor="+cursor, false)
		assert.Equal(t, http.StatusNotFound, a.status, cursor)
	}
	assert.Empty(t, l.asked())

	a := s.get("/?cursor="+strings.ToUpper(hexID(3)), false)
	assert.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, []string{"limit=50&cursor=" + hexID(3)}, l.asked(), "an id in upper case is the same id")
	assert.Contains(t, a.body, "No more tickets are on sale.")
}

// angles is a title of the most characters a title may have, each of
// which JSON and HTML escape.
var angles = strings.Repeat("<", api.MaxTitleLen)

func TestHome_TitlesOfAngleBracketsAreEscapedAndManyOfThemDoNotBreakThePage(t *testing.T) {
	s := newSite(t)
	// The attack: thousands of listings whose titles escape to six bytes a
	// character, more than the client reads of any one answer.
	l := &listing{path: "/api/tickets", items: tickets(6300, func(int) string { return angles }), paged: true}
	s.api.Handle("GET /api/tickets", l)

	for _, path := range []string{"/", "/?cursor=" + hexID(49), "/?cursor=" + hexID(6249)} {
		a := s.get(path, false)

		require.Equal(t, http.StatusOK, a.status, path)
		assert.Equal(t, pages.DefaultPageSize, strings.Count(a.body, `">`+strings.Repeat("&lt;", api.MaxTitleLen)+`</a>`), path)
		assert.NotContains(t, a.body, "<<", path)
	}
}

func TestHome_AnswerOverTheBoundIsAClearErrorPage(t *testing.T) {
	// What the original API answers to the attack: every listing at once.
	whole, err := json.Marshal(tickets(6300, func(int) string { return angles }))
	require.NoError(t, err)
	require.Greater(t, int64(len(whole)), api.ListBodyLimit(pages.DefaultPageSize))

	for name, h := range map[string]http.HandlerFunc{
		"with its length": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(whole)))
			_, _ = w.Write(whole)
		},
		"streamed": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			for chunk := range slices(whole, 32<<10) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		},
		"endless": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("["))
			blank := bytes.Repeat([]byte(" "), 32<<10)
			for r.Context().Err() == nil {
				if _, err := w.Write(blank); err != nil {
					return
				}
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := newSite(t)
			s.api.HandleFunc("GET /api/tickets", h)

			a := s.get("/", false)

			assert.Equal(t, http.StatusBadGateway, a.status)
			assert.Contains(t, a.body, "<h1>Too much to show</h1>")
			assert.Contains(t, a.body, "showed nothing rather than part of it")
			assert.NotContains(t, a.body, "&lt;&lt;", "no part of the answer is shown")
		})
	}
}

// slices cuts b into pieces of at most n bytes.
func slices(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			k := min(n, len(b))
			if !yield(b[:k]) {
				return
			}
			b = b[k:]
		}
	}
}

func TestOrders_ShowsOnePageAndANextLinkThatLeadsToTheRest(t *testing.T) {
	for _, paged := range []bool{true, false} {
		t.Run(fmt.Sprint("paged by the API: ", paged), func(t *testing.T) {
			s := newSite(t, func(c *pages.Config) { c.PageSize = 25 })
			items := make([]map[string]any, 60)
			for i := range items {
				items[i] = orderJSON(hexID(i), "complete", now.Add(-time.Minute))
				if paged {
					// The longest titles: a whole listing of them would not
					// fit the bound of a page, one page of them does.
					items[i]["ticket"].(map[string]any)["title"] = angles
				}
			}
			l := &listing{path: "/api/orders", items: items, paged: paged}
			s.api.Handle("GET /api/orders", l)

			got := s.follow("/orders", true, orderCardRE)

			all := idsOf(items)
			assert.Equal(t, [][]string{all[:25], all[25:50], all[50:]}, got, "every order once, in order")
			first := s.get("/orders", true)
			assert.Contains(t, first.body, `<a href="/orders?cursor=`+hexID(24)+`" rel="next">Next page</a>`)
			assert.NotContains(t, first.body, "<<")
		})
	}
}

func TestOrders_BannerOfAnOrderOnAnotherPageStillShows(t *testing.T) {
	s := newSite(t, func(c *pages.Config) { c.PageSize = 2 })
	items := []map[string]any{
		orderJSON(hexID(0), "complete", now.Add(-time.Minute)),
		orderJSON(hexID(1), "complete", now.Add(-time.Minute)),
		orderJSON(hexID(2), "created", now.Add(time.Minute)),
	}
	items[2]["ticket"].(map[string]any)["title"] = "Newest"
	s.api.Handle("GET /api/orders", &listing{path: "/api/orders", items: items, paged: true})
	s.respond("GET /api/orders/"+hexID(2), http.StatusOK, items[2])

	paid := s.get("/orders?paid="+hexID(2), true)
	cancelled := s.get("/orders?cancelled="+hexID(2), true)
	unknown := s.get("/orders?paid="+hexID(9), true)

	assert.Contains(t, paid.body, "your payment for <strong>Newest</strong> was received")
	assert.Contains(t, cancelled.body, "Your order of <strong>Newest</strong> is cancelled")
	assert.Equal(t, http.StatusOK, unknown.status, "an order the API does not know shows no banner, not an error")
	assert.NotContains(t, unknown.body, `class="banner`)
}
