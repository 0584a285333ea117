package docs_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
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

}
