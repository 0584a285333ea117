package web_test

import (
	"net/http/httptest"
	"net/url"
	"testing"

	"ticketing.dev/common/web"
	"ticketing.dev/common/web/webtest"
)

// FuzzParsePage checks the listing's query: it is either refused with a
// client error naming only limit and cursor, or yields a limit from 1 to
// 1000 (0 when absent) and a cursor that is an id (empty when absent).
func FuzzParsePage(f *testing.F) {
	for _, s := range []string{
		"", "limit=3", "limit=1000", "limit=1001", "limit=0", "limit=-1", "limit=", "limit", "limit=+5",
		"limit=007", "limit=99999999999999999999", "cursor=507f1f77bcf86cd799439011",
		"limit=2&cursor=507F1F77BCF86CD799439011", "cursor=", "cursor=%7B%22%24gt%22%3A%22%22%7D",
		"limit=2&limit=x", "limit=%zz", "cursor=507f1f77bcf86cd79943901%00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest("GET", "/api/things", nil)
		r.URL.RawQuery = query
		page, err := web.ParsePage(r)
		if err != nil {
			webtest.CheckRefusal(t, []byte(query), err, "limit", "cursor")
			return
		}
		q, _ := url.ParseQuery(query)
		if _, ok := q["limit"]; ok != (page.Limit != 0) || page.Limit < 0 || page.Limit > web.MaxPageLimit {
			t.Fatalf("accepted %q with limit %d", query, page.Limit)
		}
		if _, ok := q["cursor"]; ok != (page.After != "") || page.After != "" && !web.ValidID(page.After) {
			t.Fatalf("accepted %q with cursor %q", query, page.After)
		}
	})
}
