package apidocs_test

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/infra/apidocs"
)

func loadCollection(t *testing.T) *apidocs.Collection {
	t.Helper()
	c, err := apidocs.LoadCollection(filepath.Join(docsDir, "ticketing.postman_collection.json"))
	require.NoError(t, err)
	return c
}

// TestCollection_EveryScriptParses: the end-to-end test runs the
// collection with this package's runner; this finds a script that is not
// JavaScript without a stack.
func TestCollection_EveryScriptParses(t *testing.T) {
	require.NoError(t, apidocs.Parse(loadCollection(t)))
}

// TestCollection_EveryRequestHasExamplesTheDocumentAllows: Postman shows a
// request's saved responses beside it; each request has at least one, and
// each is a response the OpenAPI document allows for that request, so the
// examples are held to the services as the document is.
func TestCollection_EveryRequestHasExamplesTheDocumentAllows(t *testing.T) {
	v := openAPI(t).Validator

	c := loadCollection(t)
	// What the Story saves, as an example request would carry it.
	samples := map[string]string{
		"sellerEmail": "seller-1796217376@example.com",
		"buyerEmail":  "buyer-1796217377@example.com",
		"ticketId":    "6b101a21aca5ced2e7a313bf",
		"orderId":     "6b101a211b4c47bb372337d8",
		"$timestamp":  "1796217376",
	}
	vars := map[string]string{}
	for _, cv := range c.Variable {
		vars[cv.Key] = cv.Value
		if cv.Value == "" {
			require.Contains(t, samples, cv.Key, "a sample value for the variable %s", cv.Key)
		}
	}
	maps := []map[string]string{samples, vars}
	expand := func(s string) string {
		return regexp.MustCompile(`\{\{([^{}]+)\}\}`).ReplaceAllStringFunc(s, func(m string) string {
			name := m[2 : len(m)-2]
			for _, vs := range maps {
				if v, ok := vs[name]; ok {
					return v
				}
			}
			t.Errorf("unknown variable %s", m)
			return m
		})
	}

	steps := c.Requests()
	require.NotEmpty(t, steps)
	for _, s := range steps {
		if !assert.NotEmpty(t, s.Item.Response, "%s has an example response", s.Path()) {
			continue
		}
		for _, ex := range s.Item.Response {
			name := s.Path() + " → " + ex.Name
			require.NotNil(t, ex.OriginalRequest, name)
			assert.Equal(t, s.Item.Request.Method, ex.OriginalRequest.Method, name)
			assert.Equal(t, s.Item.Request.URL.Raw, ex.OriginalRequest.URL.Raw, name)
			assert.Equal(t, http.StatusText(ex.Code), ex.Status, name)

			var body string
			if ex.OriginalRequest.Body != nil {
				body = expand(ex.OriginalRequest.Body.Raw)
			}
			req, err := http.NewRequest(ex.OriginalRequest.Method, expand(ex.OriginalRequest.URL.Raw), strings.NewReader(body))
			require.NoError(t, err, name)
			for _, h := range ex.OriginalRequest.Header {
				req.Header.Add(h.Key, h.Value)
			}
			req.Header.Set("Cookie", "session=e30=")
			if ex.Code < 400 {
				ok, errs := v.ValidateHttpRequest(req)
				assert.True(t, ok, "%s: the request is not one the document takes: %s", name, apidocs.Describe(errs))
				req.Body = io.NopCloser(strings.NewReader(body))
			}
			resp := &http.Response{StatusCode: ex.Code, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(ex.Body))}
			for _, h := range ex.Header {
				resp.Header.Add(h.Key, h.Value)
			}
			ok, errs := v.ValidateHttpResponse(req, resp)
			assert.True(t, ok, "%s: the example is not a response the document allows: %s", name, apidocs.Describe(errs))
		}
	}
}

// TestCollection_AnEnvironmentForEachServer: the environments served beside
// the collection are the servers of the OpenAPI document, `make run` and
// https://ticketing.dev. An environment's variables come before the
// collection's in Postman, so one that held more than baseUrl would hide
// what the Story's scripts save from its later requests.
func TestCollection_AnEnvironmentForEachServer(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(docsDir, "*.postman_environment.json"))
	require.NoError(t, err)
	var urls []string
	ids := map[string]bool{}
	for _, f := range files {
		env, err := apidocs.LoadEnvironment(f)
		require.NoError(t, err)
		assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, env.ID, f)
		assert.False(t, ids[env.ID], "%s: an id of its own", f)
		ids[env.ID] = true
		assert.True(t, strings.HasPrefix(env.Name, "ticketing — "), f)
		require.Len(t, env.Values, 1, "%s holds baseUrl only", f)
		assert.Equal(t, "baseUrl", env.Values[0].Key, f)
		assert.True(t, env.Values[0].Enabled, f)
		assert.Equal(t, "default", env.Values[0].Type, f)
		urls = append(urls, env.Values[0].Value)
	}
	var servers []string
	for _, s := range openAPI(t).Doc.Servers {
		servers = append(servers, s.URL)
	}
	slices.Sort(urls)
	slices.Sort(servers)
	assert.Equal(t, servers, urls)
	assert.Contains(t, urls, "http://127.0.0.1:8080", "make run's gateway, GATEWAY_ADDR's default")
	assert.Contains(t, urls, "https://ticketing.dev", "the ingress")
}
