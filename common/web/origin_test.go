package web_test

import (
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
		{"a cross-site form", http.MethodPost, map[string]string{"Origin": webtest.EvilOrigin, "Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"}},
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
