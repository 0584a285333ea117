package docs_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/client/docs"
)

func get(t *testing.T, path string) *http.Response {
	t.Helper()
	w := httptest.NewRecorder()
	docs.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w.Result()
}

func TestDocs_ServesTheDocumentThePageAndTheCollection(t *testing.T) {
	spec, err := os.ReadFile("openapi.yaml")
	require.NoError(t, err)

	resp := get(t, "/docs/openapi.yaml")
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/yaml", resp.Header.Get("Content-Type"))
	assert.Equal(t, string(spec), string(body))

	resp = get(t, "/docs")
	body, _ = io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), `<redoc spec-url="/docs/openapi.yaml">`)
	assert.Contains(t, string(body), `src="/docs/redoc.standalone.js"`)
	assert.Contains(t, string(body), `<link rel="icon" href="/static/favicon.svg"`, "the client's icon, not a 404 for /favicon.ico")
	assert.NotContains(t, string(body), "https://", "no CDN")
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")

	resp = get(t, "/docs/redoc.standalone.js")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript"))

	resp = get(t, "/docs/ticketing.postman_collection.json")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	var coll struct {
		Info struct{ Schema string }
		Item []struct{ Name string }
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&coll))
	assert.Contains(t, coll.Info.Schema, "v2.1.0")
	assert.Equal(t, "Story", coll.Item[0].Name)

	require.Len(t, docs.Environments, 2)
	for _, name := range docs.Environments {
		want, err := os.ReadFile(name)
		require.NoError(t, err)
		resp = get(t, "/docs/"+name)
		body, _ = io.ReadAll(resp.Body)
		assert.Equal(t, http.StatusOK, resp.StatusCode, name)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), name)
		assert.Equal(t, string(want), string(body), name)
	}
}

// TestDocs_RedocLoadsNothingFromElsewhere: the bundle as npm ships it takes
// the logo of its sidebar's "API docs by Redocly" link from Redocly's CDN;
// the bundle as served takes nothing from another site.
func TestDocs_RedocLoadsNothingFromElsewhere(t *testing.T) {
	vendored, err := os.ReadFile("redoc.standalone.js")
	require.NoError(t, err)
	require.Contains(t, string(vendored), `src:"https://cdn.redoc.ly/`, "the vendored bundle is npm's")

	resp := get(t, "/docs/redoc.standalone.js")
	served, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotRegexp(t, `src[:=]\s*["'](https?:)?//`, string(served), "an image or script from another site")
	assert.NotContains(t, string(served), "cdn.redoc.ly")
	assert.Contains(t, string(served), `src:"data:image/svg+xml,`, "the sidebar's logo is an empty image")
	logo := regexp.MustCompile(`src:"data:image/svg\+xml,[^"]*"`)
	assert.True(t, bytes.Equal(vendored, logo.ReplaceAll(served, []byte(`src:"https://cdn.redoc.ly/redoc/logo-mini.svg"`))),
		"nothing else changed")
}
