package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// MaxPageLimit bounds the items of one page of a listing.
const MaxPageLimit = 1000

// Messages of a listing's query parameters.
const (
	MsgPageLimit  = "limit must be an integer between 1 and 1000"
	MsgPageCursor = "cursor must be an id from a previous page"
)

// Page is the part of a listing a request asks for, in ascending id order:
// the items whose id is greater than After ("" for the start), at most
// Limit of them (0 for all).
type Page struct {
	After string
	Limit int
}

// ParsePage reads the page a request asks for from its query: limit, from
// 1 to MaxPageLimit items, and cursor, the id of the last item of the page
// before. Both are optional: without limit the listing is whole, as the
// original app answers. A parameter given twice counts by its first value.
func ParsePage(r *http.Request) (Page, error) {
	q := r.URL.Query()
	var page Page
	var v Validator
	if vals, ok := q["limit"]; ok {
		n, ok := parseLimit(vals[0])
		v.Check(ok, "limit", MsgPageLimit)
		page.Limit = n
	}
	if vals, ok := q["cursor"]; ok {
		v.Check(ValidID(vals[0]), "cursor", MsgPageCursor)
		page.After = vals[0]
	}
	if err := v.Err(); err != nil {
		return Page{}, err
	}
	return page, nil
}

// parseLimit reads a limit written as decimal digits only: no sign, no
// spaces, no exponent.
func parseLimit(s string) (int, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s) // fails only beyond the int range
	return n, err == nil && n >= 1 && n <= MaxPageLimit
}

// SetNextPage sets the RFC 8288 Link header that points at the page of
// p.Limit items after the item lastID of the listing at path.
func SetNextPage(w http.ResponseWriter, path string, p Page, lastID string) {
	w.Header().Set("Link", fmt.Sprintf(`<%s?limit=%d&cursor=%s>; rel="next"`, path, p.Limit, lastID))
}
