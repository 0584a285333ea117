package e2e_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	verrors "github.com/pb33f/libopenapi-validator/errors"
)

// specPath is the OpenAPI document the client serves at /docs/openapi.yaml.
var specPath = filepath.Join("..", "..", "client", "docs", "openapi.yaml")

var (
	specOnce sync.Once
	spec     validator.Validator
	specErr  error
	// validated counts the exchanges checked against the document, by
	// operation, so that a test can tell every route was exercised.
	validatedMu sync.Mutex
	validated   = map[string]int{}
)

func loadSpec() (validator.Validator, error) {
	specOnce.Do(func() {
		b, err := os.ReadFile(specPath)
		if err != nil {
			specErr = err
			return
		}
		doc, err := libopenapi.NewDocument(b)
		if err != nil {
			specErr = fmt.Errorf("parse %s: %w", specPath, err)
			return
		}
		v, errs := validator.NewValidator(doc)
		if len(errs) > 0 {
			specErr = fmt.Errorf("load %s: %v", specPath, errs)
			return
		}
		if ok, verrs := v.ValidateDocument(); !ok {
			specErr = fmt.Errorf("%s is not a valid OpenAPI document: %s", specPath, describe(verrs))
			return
		}
		spec = v
	})
	return spec, specErr
}

// checkExchange validates one API request and its response against the
// document: the document cannot drift from what the services do.
func checkExchange(t testing.TB, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	t.Helper()
	if !strings.HasPrefix(req.URL.Path, "/api/") {
		return
	}
	v, err := loadSpec()
	if err != nil {
		t.Fatalf("openapi: %v", err)
	}
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	// A request the API refused may well be outside the document — the
	// error tests send such requests on purpose — but one it accepted must
	// be inside it, and every response must be.
	if ok, errs := v.ValidateHttpRequest(r); !ok && resp.StatusCode < 400 {
		t.Errorf("openapi: %s %s: request does not match the document: %s", req.Method, req.URL.Path, describe(errs))
	}
	rs := *resp
	rs.Body = io.NopCloser(bytes.NewReader(respBody))
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	if ok, errs := v.ValidateHttpResponse(r, &rs); !ok {
		t.Errorf("openapi: %s %s → %d: response does not match the document: %s\n%s", req.Method, req.URL.Path, resp.StatusCode, describe(errs), respBody)
	}
	validatedMu.Lock()
	validated[fmt.Sprintf("%s %d", req.Method, resp.StatusCode)]++
	validatedMu.Unlock()
}

func describe(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "%s (%s)", e.Message, e.Reason)
		for _, s := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "; %s: %s", s.FieldPath, s.Reason)
		}
		b.WriteString(". ")
	}
	return b.String()
}
