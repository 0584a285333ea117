package stack

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/infra/audit"
)

// TestStripeProxy_RecordsEveryCallInItsFileForTheAudit: the file the audit
// command reads holds every call with its answer, and a stack started
// again on the same data adds to it.
func TestStripeProxy_RecordsEveryCallInItsFileForTheAudit(t *testing.T) {
	path := filepath.Join(t.TempDir(), StripeCallsFile)
	stripe := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/refunds" {
			w.WriteHeader(http.StatusInternalServerError)
		}
		_, _ = io.WriteString(w, "{}")
	})
	call := func(p *stripeProxy, method, path, key string) {
		r := httptest.NewRequest(method, path, strings.NewReader("amount=1500&currency=usd"))
		if key != "" {
			r.Header.Set("Idempotency-Key", key)
		}
		p.serve(httptest.NewRecorder(), r, stripe)
	}
	first, err := newStripeProxy(path, t.Errorf)
	require.NoError(t, err)
	call(first, http.MethodPost, "/v1/charges", "payment-o1-p1")
	call(first, http.MethodPost, "/v1/refunds", "refund-p1")
	require.NoError(t, first.file.Close())
	again, err := newStripeProxy(path, t.Errorf)
	require.NoError(t, err)
	call(again, http.MethodGet, "/v1/charges/search", "")
	require.NoError(t, again.file.Close())

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	calls, err := audit.ReadStripeCalls(f)
	require.NoError(t, err)
	assert.Equal(t, []audit.StripeCall{
		{Method: http.MethodPost, Path: "/v1/charges", IdempotencyKey: "payment-o1-p1", Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/refunds", IdempotencyKey: "refund-p1", Status: http.StatusInternalServerError},
		{Method: http.MethodGet, Path: "/v1/charges/search", Status: http.StatusOK},
	}, calls)
	assert.Len(t, first.calls, 2, "and kept for StripeCalls")
}
