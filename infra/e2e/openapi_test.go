package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"ticketing.dev/infra/apidocs"
)

// specPath is the OpenAPI document the client serves at /docs/openapi.yaml.
var specPath = filepath.Join("..", "..", "client", "docs", "openapi.yaml")

var (
	loadSpec = sync.OnceValues(func() (*apidocs.OpenAPI, error) { return apidocs.LoadOpenAPI(specPath) })
	// validated counts the exchanges checked against the document, by
	// operation, so that a test can tell every route was exercised.
	validatedMu sync.Mutex
	validated   = map[string]int{}
)

// checkExchange validates one API request and its response against the
// document: the document cannot drift from what the services do.
func checkExchange(t testing.TB, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	t.Helper()
	if !strings.HasPrefix(req.URL.Path, "/api/") {
		return
	}
	spec, err := loadSpec()
	if err != nil {
		t.Fatalf("openapi: %v", err)
	}
	v := spec.Validator
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	// A request the API refused may well be outside the document — the
	// error tests send such requests on purpose — but one it accepted must
	// be inside it, and so must one it refused for a rule of the business
	// rather than a field: that one passed validation.
	if ok, errs := v.ValidateHttpRequest(r); !ok && (resp.StatusCode < 400 || passedValidation(resp.StatusCode, respBody)) {
		t.Errorf("openapi: %s %s → %d: request does not match the document: %s", req.Method, req.URL.Path, resp.StatusCode, apidocs.Describe(errs))
	}
	rs := *resp
	rs.Body = io.NopCloser(bytes.NewReader(respBody))
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	if ok, errs := v.ValidateHttpResponse(r, &rs); !ok {
		t.Errorf("openapi: %s %s → %d: response does not match the document: %s\n%s", req.Method, req.URL.Path, resp.StatusCode, apidocs.Describe(errs), respBody)
	}
	// The default response of every operation covers what nobody planned,
	// such as a 500; a status the API answers on purpose is listed for
	// its operation, or the document does not tell clients of it.
	if resp.StatusCode < 500 && !spec.Listed(r, resp.StatusCode) {
		t.Errorf("openapi: %s %s → %d: the status is not listed for the operation, only covered by its default", req.Method, req.URL.Path, resp.StatusCode)
	}
	validatedMu.Lock()
	validated[fmt.Sprintf("%s %d", req.Method, resp.StatusCode)]++
	validatedMu.Unlock()
}

// passedValidation reports whether a response is a 400 for a broken rule
// of the business, such as "Invalid credentials": one whose errors name no
// field.
func passedValidation(status int, body []byte) bool {
	if status != http.StatusBadRequest {
		return false
	}
	var e struct{ Errors []struct{ Field string } }
	if json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 {
		return false
	}
	for _, d := range e.Errors {
		if d.Field != "" {
			return false
		}
	}
	return true
}
