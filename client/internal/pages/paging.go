package pages

import (
	"net/http"
	"strings"

	"ticketing.dev/common/web"
)

// DefaultPageSize is how many tickets or orders a page shows unless
// Config.PageSize says otherwise.
const DefaultPageSize = 50

// pager links a page of a listing to the pages around it. The API pages
// forward only, by the id of a page's last item, so there is a first page
// and a next one, but no previous.
type pager struct {
	// First is the path of the first page, "" on the first page itself.
	First string
	// Next is the path of the next page, "" on the last.
	Next string
}

// newPager links the page at path, which starts after cursor, to the page
// after next ("" when none follows).
func newPager(path, cursor, next string) pager {
	var p pager
	if cursor != "" {
		p.First = path
	}
	if next != "" {
		p.Next = path + "?cursor=" + next
	}
	return p
}

// pageCursor is the page a listing's request asks for: the id of the last
// item of the page before, "" for the first page. Any other cursor is a
// page that cannot exist.
func pageCursor(r *http.Request) (string, error) {
	vals, ok := r.URL.Query()["cursor"]
	if !ok {
		return "", nil
	}
	if !web.ValidID(vals[0]) {
		return "", errNotFound
	}
	return strings.ToLower(vals[0]), nil
}
