package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/web"
	"ticketing.dev/common/web/webtest"
)

// FuzzParsePage checks the listing's query: it is either refused with a
// client error naming only limit and cursor, or yields a limit from 1 to
// 1000 (0 when absent) and a cursor that is an id (empty when absent).
func FuzzParsePage(f *testing.F) {
	for _, bad := range webtest.BadPageQueries() {
		f.Add(bad.Query)
	}
	for _, s := range []string{"", "limit=3", "limit=1000", "limit=007", "cursor=507f1f77bcf86cd799439011", "limit=2&cursor=507F1F77BCF86CD799439011"} {
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

func TestParsePage_ReadsLimitAndCursor(t *testing.T) {
	for query, want := range map[string]web.Page{
		"":        {},
		"limit=3": {Limit: 3},
		"limit=1000&cursor=507f1f77bcf86cd799439011": {Limit: 1000, After: "507f1f77bcf86cd799439011"},
		"cursor=507f1f77bcf86cd799439011":            {After: "507f1f77bcf86cd799439011"},
		"limit=007&limit=x":                          {Limit: 7},
	} {
		r := httptest.NewRequest("GET", "/api/things?"+query, nil)
		got, err := web.ParsePage(r)
		if assert.NoError(t, err, query) {
			assert.Equal(t, want, got, query)
		}
	}
}

func TestParsePage_RefusesBadValuesNamingTheirFields(t *testing.T) {
	for _, bad := range webtest.BadPageQueries() {
		r := httptest.NewRequest("GET", "/api/things?"+bad.Query, nil)
		_, err := web.ParsePage(r)
		status, body := errs.Response(err)
		assert.Equal(t, http.StatusBadRequest, status, bad.Query)
		assert.Equal(t, bad.Want, body.Errors, bad.Query)
	}
}
