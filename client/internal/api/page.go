package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"ticketing.dev/common/web"
)

// PageRequest asks for one page of a listing: at most Limit items (1 to
// web.MaxPageLimit) after the item whose id is Cursor, "" for the first
// page.
type PageRequest struct {
	Limit  int
	Cursor string
}

// Page is one page of a listing, oldest first. Next is the cursor of the
// page after it, "" when this is the last.
type Page[T any] struct {
	Items []T
	Next  string
}

// listed are the items of a listing: ids are ObjectIds in hex, and a
// listing is in ascending id order.
type listed interface {
	Ticket | Order
	itemID() string
}

func (t Ticket) itemID() string { return t.ID }
func (o Order) itemID() string  { return o.ID }

// list reads one page of the listing at path with the API's limit and
// cursor parameters, reading no more than such a page can fill (see
// ListBodyLimit). The API answers a JSON array and, when more items follow,
// a Link header to the next page, whose cursor becomes Page.Next.
//
// An API that ignores the parameters, as the original app's does, answers
// the whole listing: it is paged here instead, as long as it fits within
// the bound, so that the pages still show one page each and their next
// links still lead to the rest without repeating any item.
func list[T listed](ctx context.Context, c *Client, who Caller, path string, p PageRequest) (Page[T], error) {
	p.Cursor = strings.ToLower(p.Cursor)
	// In the order of the API's own next links.
	query := "?limit=" + strconv.Itoa(p.Limit)
	if p.Cursor != "" {
		query += "&cursor=" + url.QueryEscape(p.Cursor)
	}
	var items []T
	resp, err := c.doLimited(ctx, who, http.MethodGet, path+query, nil, &items, DefaultTimeout, ListBodyLimit(p.Limit))
	if err != nil {
		return Page[T]{}, err
	}
	if p.Cursor != "" {
		// A no-op for an API that honoured the cursor.
		kept := items[:0]
		for _, it := range items {
			if strings.ToLower(it.itemID()) > p.Cursor {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	page := Page[T]{Items: items}
	if len(items) > p.Limit {
		page.Items = items[:p.Limit]
		page.Next = strings.ToLower(items[p.Limit-1].itemID())
	} else if len(items) > 0 {
		page.Next = nextCursor(resp.Header, items[len(items)-1].itemID())
	}
	if page.Items == nil {
		page.Items = []T{}
	}
	return page, nil
}

// nextCursor is the cursor of the RFC 8288 Link to the next page in h, ""
// when there is none. A next link whose cursor cannot be read still means
// that more follow; the cursor is then the page's last id, which is what
// the API's cursor is.
func nextCursor(h http.Header, lastID string) string {
	for _, v := range h.Values("Link") {
		for link := range strings.SplitSeq(v, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(link), ";")
			if !ok || !isNext(params) {
				continue
			}
			u, err := url.Parse(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(target), "<"), ">"))
			if err == nil && web.ValidID(u.Query().Get("cursor")) {
				return strings.ToLower(u.Query().Get("cursor"))
			}
			if web.ValidID(lastID) {
				return strings.ToLower(lastID)
			}
			return ""
		}
	}
	return ""
}

// isNext reports whether a link's parameters hold rel="next".
func isNext(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(name), "rel") {
			for rel := range strings.FieldsSeq(strings.Trim(strings.TrimSpace(value), `"`)) {
				if strings.EqualFold(rel, "next") {
					return true
				}
			}
		}
	}
	return false
}
