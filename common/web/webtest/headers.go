package webtest

import (
	"net/http"
	"net/url"
	"strings"
)

// EvilOrigin is the origin of another site's page in the hostile tables.
const EvilOrigin = "https://evil.example"

// Headers is one request that must be refused for its headers alone: its
// body is the route's valid body, or that body as a form sends it.
type Headers struct {
	Name string
	// Header replaces the JSON Content-Type of the tables' requests: a
	// request carries these headers and, unless they name one, no
	// Content-Type at all.
	Header http.Header
	Body   string
	Status int
}

// Set puts h's headers on r in place of its Content-Type.
func (h Headers) Set(r *http.Request) {
	r.Header.Del("Content-Type")
	for k, v := range h.Header {
		r.Header[k] = v
	}
}

// HostileHeaders are the requests every route that reads a JSON body is
// tried with besides HostileBodies: the body in a format other than
// application/json, as another site's HTML form can send it without the
// CORS preflight JSON needs (415), and a JSON body sent from another
// origin's page (403). The format is checked first, so another site's
// form is a 415 like any other body that is not JSON.
func HostileHeaders(fields []Field) []Headers {
	valid := Object(fields, nil)
	form := url.Values{}
	for _, f := range fields {
		form.Set(f.Name, strings.Trim(f.Valid, `"`))
	}
	crossSite := func(contentType string) http.Header {
		h := CrossSite()
		h.Set("Content-Type", contentType)
		return h
	}
	ct := func(v string) http.Header { return http.Header{"Content-Type": {v}} }
	return []Headers{
		{"text/plain", ct("text/plain"), valid, http.StatusUnsupportedMediaType},
		{"text/plain with a charset", ct("text/plain;charset=UTF-8"), valid, http.StatusUnsupportedMediaType},
		{"form-encoded", ct("application/x-www-form-urlencoded"), form.Encode(), http.StatusUnsupportedMediaType},
		{"JSON declared form-encoded", ct("application/x-www-form-urlencoded"), valid, http.StatusUnsupportedMediaType},
		{"multipart", ct("multipart/form-data; boundary=x"), valid, http.StatusUnsupportedMediaType},
		{"no Content-Type", http.Header{}, valid, http.StatusUnsupportedMediaType},
		{"text/json", ct("text/json"), valid, http.StatusUnsupportedMediaType},
		{"a cross-site JSON body", crossSite("application/json"), valid, http.StatusForbidden},
		{"a cross-site text/plain form", crossSite("text/plain"), valid, http.StatusUnsupportedMediaType},
		{"a cross-site form-encoded form", crossSite("application/x-www-form-urlencoded"), form.Encode(), http.StatusUnsupportedMediaType},
		{"a sibling site's JSON body", http.Header{"Origin": {"https://shop.ticketing.dev"}, "Sec-Fetch-Site": {"same-site"}, "Content-Type": {"application/json"}}, valid, http.StatusForbidden},
		{"another origin without Sec-Fetch-Site", http.Header{"Origin": {EvilOrigin}, "Content-Type": {"application/json"}}, valid, http.StatusForbidden},
	}
}

// CrossSite returns headers that mark a request as sent from EvilOrigin's
// page, for the safe requests that must still be answered.
func CrossSite() http.Header {
	return http.Header{"Origin": {EvilOrigin}, "Sec-Fetch-Site": {"cross-site"}}
}
