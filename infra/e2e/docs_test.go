package e2e_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/infra/apidocs"
)

// TestDocs_ServedDocumentIsTheValidatedOne: the document a REST client reads
// through the gateway is the one every exchange of these tests is checked
// against.
func TestDocs_ServedDocumentIsTheValidatedOne(t *testing.T) {
	want, err := os.ReadFile(specPath)
	require.NoError(t, err)
	resp, err := http.Get(base + "/docs/openapi.yaml")
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, string(want), string(got))
}

// TestPostman_CollectionRunsAsWritten runs the Postman collection against
// the stack as Postman's collection runner runs it with the `make run`
// environment: one cookie jar, the variables its scripts save, and only the
// waits and repeats its scripts ask for while an event is on its way —
// none of this test's own — so what passes here passes in Postman. Every
// exchange is checked against the OpenAPI document as well.
func TestPostman_CollectionRunsAsWritten(t *testing.T) {
	docs := filepath.Join("..", "..", "client", "docs")
	coll, err := apidocs.LoadCollection(filepath.Join(docs, "ticketing.postman_collection.json"))
	require.NoError(t, err)
	env, err := apidocs.LoadEnvironment(filepath.Join(docs, "make-run.postman_environment.json"))
	require.NoError(t, err)
	vars := env.Vars()
	require.Equal(t, "http://127.0.0.1:8080", vars["baseUrl"])
	// The stack's gateway listens on a port of its own.
	vars["baseUrl"] = base

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	runner := &apidocs.Runner{
		Client:      &http.Client{Jar: jar, Timeout: 30 * time.Second},
		Environment: vars,
		Observe: func(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
			checkExchange(t, req, reqBody, resp, respBody)
		},
	}
	report, err := runner.Run(t.Context(), coll)
	require.NoError(t, err)
	t.Logf("sent: %v", report.Sends)
	for _, f := range report.Failed() {
		t.Errorf("%s: test %q failed: %v", f.Request, f.Name, f.Err)
	}
	tested := map[string]bool{}
	for _, r := range report.Tests {
		tested[r.Request] = true
	}
	for _, s := range coll.Requests() {
		assert.NotZero(t, report.Sends[s.Path()], "%s was sent", s.Path())
		for _, e := range s.Item.Event {
			if e.Listen == "test" {
				assert.True(t, tested[s.Item.Name], "the tests of %s ran", s.Path())
			}
		}
	}
}
