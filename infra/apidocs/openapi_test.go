package apidocs_test

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/infra/apidocs"
	"ticketing.dev/infra/routes"
)

// docsDir is the folder the web client serves at /docs.
var docsDir = filepath.Join("..", "..", "client", "docs")

// openAPI reads the OpenAPI document the client serves.
func openAPI(t *testing.T) *apidocs.OpenAPI {
	t.Helper()
	o, err := apidocs.LoadOpenAPI(filepath.Join(docsDir, "openapi.yaml"))
	require.NoError(t, err)
	return o
}

// operation is one method of one path of the document.
type operation struct {
	path, method string
	op           *v3.Operation
}

func (o operation) String() string { return strings.ToUpper(o.method) + " " + o.path }

func operations(doc *v3.Document) []operation {
	var ops []operation
	for path, item := range doc.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			ops = append(ops, operation{path: path, method: method, op: op})
		}
	}
	return ops
}

// responses returns an operation's responses by status, "default"
// included.
func (o operation) responses() map[string]*v3.Response {
	out := map[string]*v3.Response{}
	for code, r := range o.op.Responses.Codes.FromOldest() {
		out[code] = r
	}
	if o.op.Responses.Default != nil {
		out["default"] = o.op.Responses.Default
	}
	return out
}

// serviceOfTag is the service that answers the operations of a tag.
var serviceOfTag = map[string]string{"users": "auth", "tickets": "tickets", "orders": "orders", "payments": "payments"}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// TestOpenAPI_EveryPathIsRoutedToItsService: the ingress (and the gateway
// of `make run`) sends each documented path to the service its tag names,
// and every service the routing table names under /api has paths in the
// document.
func TestOpenAPI_EveryPathIsRoutedToItsService(t *testing.T) {
	documented := map[string]bool{}
	for _, o := range operations(openAPI(t).Doc) {
		require.Len(t, o.op.Tags, 1, "%s has one tag", o)
		want, ok := serviceOfTag[o.op.Tags[0]]
		require.True(t, ok, "%s: tag %q names no service", o, o.op.Tags[0])
		got, ok := routes.Match(pathParam.ReplaceAllString(o.path, "6b06f929c7f3e83152b9aaae"))
		assert.True(t, ok, "%s is routed", o)
		assert.Equal(t, want, got, "%s goes to the service of its tag", o)
		documented[got] = true
	}
	for _, r := range routes.Table {
		if strings.HasPrefix(r.Prefix, "/api/") {
			assert.True(t, documented[r.Service], "no path of %s (%s) is in the document", r.Prefix, r.Service)
		}
	}
}

// TestOpenAPI_EveryOperationHasADefaultError: whatever else may come — a
// server fault, a service the gateway cannot reach — comes in the common
// error shape, and the document says so for every operation.
func TestOpenAPI_EveryOperationHasADefaultError(t *testing.T) {
	for _, o := range operations(openAPI(t).Doc) {
		d := o.op.Responses.Default
		if !assert.NotNil(t, d, "%s has a default response", o) {
			continue
		}
		mt, ok := d.Content.Get("application/json")
		if assert.True(t, ok, "%s: the default is JSON", o) {
			assert.Equal(t, "#/components/schemas/Error", mt.Schema.GetReference(), "%s: the default is the common error shape", o)
		}
	}
}

// TestOpenAPI_EveryResponseCarriesTheRequestId: the services' middleware
// sets X-Request-Id on every response, so the document requires it on
// every one, and the end-to-end tests check that each response has it.
func TestOpenAPI_EveryResponseCarriesTheRequestId(t *testing.T) {
	for _, o := range operations(openAPI(t).Doc) {
		for code, r := range o.responses() {
			h, ok := r.Headers.Get("X-Request-Id")
			if assert.True(t, ok, "%s → %s declares X-Request-Id", o, code) {
				assert.True(t, h.Required, "%s → %s requires X-Request-Id", o, code)
			}
		}
	}
}

// TestOpenAPI_EveryRefusalToWaitSaysWhenToRetry: auth answers its 429s (the
// rate limits) and its 503s (no turn to hash a password) with Retry-After,
// and the document requires it on every such response.
func TestOpenAPI_EveryRefusalToWaitSaysWhenToRetry(t *testing.T) {
	seen := 0
	for _, o := range operations(openAPI(t).Doc) {
		for code, r := range o.responses() {
			if code != "429" && code != "503" {
				continue
			}
			seen++
			h, ok := r.Headers.Get("Retry-After")
			if assert.True(t, ok, "%s → %s declares Retry-After", o, code) {
				assert.True(t, h.Required, "%s → %s requires Retry-After", o, code)
			}
		}
	}
	assert.Equal(t, 4, seen, "sign-up and sign-in, 429 and 503 each")
}
