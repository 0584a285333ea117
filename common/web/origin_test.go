package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"ticketing.dev/common/web"
	"ticketing.dev/common/web/webtest"
)

// originRouter is a router as the services build theirs, with a route of
// each method that records whether it ran.
func originRouter(ran *bool) http.Handler {
	r := web.NewRouter(web.Nop)
	r.Use(web.RefuseCrossOrigin)
	h := func(w http.ResponseWriter, r *http.Request) { *ran = true }
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		r.MethodFunc(m, "/api/things", h)
	}
	return r
}

func originRequest(method string, header map[string]string) *http.Request {
	r := httptest.NewRequest(method, "http://ticketing.dev/api/things", strings.NewReader(`{"title":"x"}`))
	r.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		r.Header.Set(k, v)
	}
	return r
}

func TestRefuseCrossOrigin_RefusesUnsafeRequestsFromAnotherOrigin(t *testing.T) {
	crossSite := map[string]string{"Origin": webtest.EvilOrigin, "Sec-Fetch-Site": "cross-site"}
	tests := []struct {
		name   string
		method string
		header map[string]string
	}{
		{"a cross-site JSON POST", http.MethodPost, crossSite},
		{"a cross-site PUT", http.MethodPut, crossSite},
		{"a cross-site PATCH", http.MethodPatch, crossSite},
		{"a cross-site DELETE", http.MethodDelete, crossSite},
		{"a sibling site", http.MethodPost, map[string]string{"Origin": "https://shop.ticketing.dev", "Sec-Fetch-Site": "same-site"}},
		{"another origin, without Sec-Fetch-Site", http.MethodPost, map[string]string{"Origin": webtest.EvilOrigin}},
		{"an opaque origin", http.MethodPost, map[string]string{"Origin": "null"}},
		{"cross-site whatever the Origin says", http.MethodPost, map[string]string{"Origin": "http://ticketing.dev", "Sec-Fetch-Site": "cross-site"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran bool
			w := httptest.NewRecorder()

			originRouter(&ran).ServeHTTP(w, originRequest(tt.method, tt.header))

			webtest.AssertErrorResponse(t, w.Code, w.Header(), w.Body.Bytes(), http.StatusForbidden)
			assert.JSONEq(t, `{"errors":[{"message":"Cross-origin request refused"}]}`, w.Body.String())
			assert.False(t, ran, "the handler did not run")
		})
	}
}

func TestRefuseCrossOrigin_LetsSameOriginAndSafeRequestsThrough(t *testing.T) {
	crossSite := map[string]string{"Origin": webtest.EvilOrigin, "Sec-Fetch-Site": "cross-site"}
	tests := []struct {
		name   string
		method string
		header map[string]string
	}{
		{"same origin", http.MethodPost, map[string]string{"Origin": "http://ticketing.dev", "Sec-Fetch-Site": "same-origin"}},
		{"typed by the user", http.MethodPost, map[string]string{"Sec-Fetch-Site": "none"}},
		{"the same host, without Sec-Fetch-Site", http.MethodPost, map[string]string{"Origin": "http://ticketing.dev"}},
		{"no browser headers: curl, the client service", http.MethodPost, nil},
		{"a DELETE without them", http.MethodDelete, nil},
		{"a cross-site GET", http.MethodGet, crossSite},
		{"a cross-site HEAD", http.MethodHead, crossSite},
		{"a cross-site OPTIONS", http.MethodOptions, crossSite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran bool
			w := httptest.NewRecorder()

			originRouter(&ran).ServeHTTP(w, originRequest(tt.method, tt.header))

			assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
			assert.True(t, ran, "the handler ran")
		})
	}
}

func bodyRequest(method, body string, header http.Header) *http.Request {
	r := httptest.NewRequest(method, "http://ticketing.dev/api/things", strings.NewReader(body))
	for k, v := range header {
		r.Header[k] = v
	}
	return r
}

// TestRefuseCrossOrigin_RefusesABodyInAnotherFormatBeforeItsOrigin: what
// an HTML form of another site sends is a 415, as it is from anywhere; the
// origin is not looked at.
func TestRefuseCrossOrigin_RefusesABodyInAnotherFormatBeforeItsOrigin(t *testing.T) {
	const valid = `{"email":"a@b.co","password":"pw12"}`
	crossSite := func(contentType string) http.Header {
		h := webtest.CrossSite()
		h.Set("Content-Type", contentType)
		return h
	}
	ct := func(v string) http.Header { return http.Header{"Content-Type": {v}} }
	tests := []struct {
		name   string
		method string
		header http.Header
		body   string
	}{
		{"a cross-site text/plain sign-in", http.MethodPost, crossSite("text/plain"), valid},
		{"a cross-site form", http.MethodPost, crossSite("application/x-www-form-urlencoded"), "email=a%40b.co&password=pw12"},
		{"a cross-site multipart form", http.MethodPost, crossSite("multipart/form-data; boundary=x"), valid},
		{"another origin, without Sec-Fetch-Site", http.MethodPost, http.Header{"Origin": {webtest.EvilOrigin}, "Content-Type": {"text/plain"}}, valid},
		{"text/plain from no browser", http.MethodPost, ct("text/plain"), valid},
		{"text/plain from the same origin", http.MethodPost, http.Header{"Origin": {"http://ticketing.dev"}, "Sec-Fetch-Site": {"same-origin"}, "Content-Type": {"text/plain"}}, valid},
		{"no Content-Type", http.MethodPost, nil, valid},
		{"a JSON relative", http.MethodPost, ct("application/merge-patch+json"), valid},
		{"a PUT", http.MethodPut, crossSite("text/plain"), valid},
		{"a PATCH", http.MethodPatch, ct("text/plain"), valid},
		{"a DELETE with a body", http.MethodDelete, crossSite("text/plain"), valid},
		{"white space alone", http.MethodPost, crossSite("text/plain"), " \n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran bool
			w := httptest.NewRecorder()

			originRouter(&ran).ServeHTTP(w, bodyRequest(tt.method, tt.body, tt.header))

			webtest.AssertErrorResponse(t, w.Code, w.Header(), w.Body.Bytes(), http.StatusUnsupportedMediaType)
			assert.JSONEq(t, `{"errors":[{"message":"Content-Type must be application/json"}]}`, w.Body.String())
			assert.False(t, ran, "the handler did not run")
		})
	}
}

func TestRefuseCrossOrigin_RefusesABodyOfUnknownLengthInAnotherFormat(t *testing.T) {
	var ran bool
	r := bodyRequest(http.MethodPost, "", http.Header{"Content-Type": {"text/plain"}})
	r.Body = io.NopCloser(io.MultiReader(strings.NewReader(`{"email":"a@b.co"}`)))
	r.ContentLength = -1 // chunked
	w := httptest.NewRecorder()

	originRouter(&ran).ServeHTTP(w, r)

	assert.Equal(t, http.StatusUnsupportedMediaType, w.Code)
	assert.False(t, ran, "the handler did not run")
}

// TestRefuseCrossOrigin_JudgesJSONAndBodilessRequestsByTheirOrigin: what
// carries no body in another format is judged by its origin alone.
func TestRefuseCrossOrigin_JudgesJSONAndBodilessRequestsByTheirOrigin(t *testing.T) {
	crossSite := func(contentType string) http.Header {
		h := webtest.CrossSite()
		if contentType != "" {
			h.Set("Content-Type", contentType)
		}
		return h
	}
	tests := []struct {
		name   string
		method string
		header http.Header
		body   string
		status int
	}{
		{"a cross-site JSON body", http.MethodPost, crossSite("application/json"), `{"title":"x"}`, http.StatusForbidden},
		{"a cross-site JSON body with a charset", http.MethodPut, crossSite("application/json; charset=utf-8"), `{"title":"x"}`, http.StatusForbidden},
		{"a cross-site sign-out without a body", http.MethodPost, crossSite("text/plain"), "", http.StatusForbidden},
		{"a cross-site DELETE without a body", http.MethodDelete, crossSite(""), "", http.StatusForbidden},
		{"a same-origin JSON body", http.MethodPost, http.Header{"Origin": {"http://ticketing.dev"}, "Content-Type": {"application/json"}}, `{"title":"x"}`, http.StatusOK},
		{"JSON from no browser", http.MethodPost, http.Header{"Content-Type": {"application/json"}}, `{"title":"x"}`, http.StatusOK},
		{"a body-less POST declared text/plain", http.MethodPost, http.Header{"Content-Type": {"text/plain"}}, "", http.StatusOK},
		{"a DELETE without a body", http.MethodDelete, nil, "", http.StatusOK},
		{"a cross-site GET with a text/plain body", http.MethodGet, crossSite("text/plain"), "x", http.StatusOK},
		{"a HEAD with a text/plain body", http.MethodHead, crossSite("text/plain"), "x", http.StatusOK},
		{"an OPTIONS with a form body", http.MethodOptions, crossSite("application/x-www-form-urlencoded"), "a=b", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran bool
			w := httptest.NewRecorder()

			originRouter(&ran).ServeHTTP(w, bodyRequest(tt.method, tt.body, tt.header))

			assert.Equal(t, tt.status, w.Code, w.Body.String())
			assert.Equal(t, tt.status == http.StatusOK, ran, "the handler ran only when let through")
		})
	}
}
