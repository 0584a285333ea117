package charger_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/testkit"
	"ticketing.dev/payments/internal/charger"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/stripetest"
)

func TestMain(m *testing.M) { testkit.Main(m) }

const key = "sk_test_123"

// claim is the claim the tests charge for.
var claim = payment.Claim{ID: "pay-1", OrderID: "order-1", Token: "tok_visa"}

func TestCharge_CreatesAChargeOnStripeMock(t *testing.T) {
	proxy := stripetest.Proxy(t, testkit.StripeMock(t))
	reg := prometheus.NewRegistry()
	c := charger.New(key, testkit.Logger(t), charger.WithBaseURL(proxy.URL), withMetrics(t, reg))

	id, err := c.Charge(t.Context(), claim, 2099, "usd")

	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(id, "ch_"), id)
	assert.Equal(t, []stripetest.Charge{{Amount: "2099", Currency: "usd", Source: "tok_visa", IdempotencyKey: "payment-order-1-pay-1",
		Metadata: map[string]string{"order_id": "order-1", "payment_id": "pay-1"}}}, proxy.Charges())
	s := metricstest.Gather(t, reg)
	assert.Equal(t, 1.0, s.Value(metrics.StripeRequests, prometheus.Labels{"operation": "charge", "outcome": charger.OutcomeSucceeded}))
	assert.Equal(t, 1.0, s.Value(metrics.StripeRequestDuration, prometheus.Labels{"operation": "charge"}))
}

func TestCharge_TranslatesStripesAnswers(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		code    int    // the HTTP status the API answers with
		message string // what the buyer is shown
		unknown bool   // whether the charge may have gone through
		outcome string // the outcome label of its metric
	}{
		{"declined card", http.StatusPaymentRequired, stripetest.CardDeclined, 400, "Your card was declined.", false, charger.OutcomeDeclined},
		{"token used before", http.StatusBadRequest, stripetest.TokenUsed, 400, "You cannot use a Stripe token more than once: tok_used.", false, charger.OutcomeDeclined},
		{"amount below the minimum", http.StatusBadRequest,
			`{"error":{"type":"invalid_request_error","code":"amount_too_small","param":"amount","message":"Amount must be at least $0.50 usd"}}`,
			400, "Amount must be at least $0.50 usd", false, charger.OutcomeDeclined},
		{"server error", http.StatusInternalServerError, stripetest.APIError, 502, payment.ErrStripeUnavailable.Message, false, charger.OutcomeUnavailable},
		{"rate limited", http.StatusTooManyRequests, `{"error":{"type":"rate_limit_error","message":"Too many requests"}}`, 502, payment.ErrStripeUnavailable.Message, false, charger.OutcomeUnavailable},
		{"wrong secret key", http.StatusUnauthorized, stripetest.BadKey, 500, errs.InternalMessage, false, charger.OutcomeError},
		{"other invalid request", http.StatusBadRequest, `{"error":{"type":"invalid_request_error","param":"currency","message":"Invalid currency: xyz"}}`, 500, errs.InternalMessage, false, charger.OutcomeError},
		{"unreadable success", http.StatusOK, `{"id":`, 502, payment.ErrStripeUnavailable.Message, true, charger.OutcomeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := stripetest.Answering(t, tt.status, tt.body)
			reg := prometheus.NewRegistry()
			c := charger.New(key, testkit.Logger(t), charger.WithBaseURL(srv.URL), withMetrics(t, reg))

			_, err := c.Charge(t.Context(), claim, 2099, "usd")

			require.Error(t, err)
			code, body := errs.Response(err)
			assert.Equal(t, tt.code, code, "%v", err)
			require.Len(t, body.Errors, 1)
			assert.Equal(t, tt.message, body.Errors[0].Message)
			assert.Equal(t, tt.code == 400, errors.Is(err, payment.ErrDeclined))
			assert.Equal(t, tt.unknown, errors.Is(err, payment.ErrOutcomeUnknown))
			assert.Len(t, srv.Charges(), 1, "stripe-go must not retry by itself")
			assert.Equal(t, 1.0, metricstest.Gather(t, reg).Value(metrics.StripeRequests,
				prometheus.Labels{"operation": "charge", "outcome": tt.outcome}))
		})
	}
}

// withMetrics records the charger's requests in reg.
func withMetrics(t *testing.T, reg prometheus.Registerer) charger.Option {
	t.Helper()
	m, err := metrics.NewStripe(reg)
	require.NoError(t, err)
	return charger.WithMetrics(m)
}

func TestCharge_UnreachableStripeIsUnavailableAndCertainlyNotCharged(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := charger.New(key, testkit.Logger(t), charger.WithBaseURL(stripetest.Unreachable(t)), withMetrics(t, reg))

	_, err := c.Charge(t.Context(), claim, 2099, "usd")

	assert.Equal(t, 1.0, metricstest.Gather(t, reg).Value(metrics.StripeRequests,
		prometheus.Labels{"operation": "charge", "outcome": charger.OutcomeUnavailable}))
	assert.ErrorIs(t, err, payment.ErrStripeUnavailable)
	assert.NotErrorIs(t, err, payment.ErrOutcomeUnknown)
	code, _ := errs.Response(err)
	assert.Equal(t, http.StatusBadGateway, code)
}

func TestCharge_UnansweredChargeIsUnavailableWithItsOutcomeUnknown(t *testing.T) {
	srv := stripetest.Silent(t, 5*time.Second)
	c := charger.New(key, testkit.Logger(t), charger.WithBaseURL(srv.URL), charger.WithTimeout(200*time.Millisecond))

	start := time.Now()
	_, err := c.Charge(t.Context(), claim, 2099, "usd")

	assert.Less(t, time.Since(start), 2*time.Second)
	assert.ErrorIs(t, err, payment.ErrStripeUnavailable)
	assert.ErrorIs(t, err, payment.ErrOutcomeUnknown)
	code, _ := errs.Response(err)
	assert.Equal(t, http.StatusBadGateway, code)
}

func TestRefund_CreatesARefundOnStripeMock(t *testing.T) {
	proxy := stripetest.Proxy(t, testkit.StripeMock(t))
	reg := prometheus.NewRegistry()
	c := charger.New(key, testkit.Logger(t), charger.WithBaseURL(proxy.URL), withMetrics(t, reg))

	id, err := c.Refund(t.Context(), "ch_123", "refund-p1")

	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(id, "re_"), id)
	assert.Equal(t, []stripetest.Refund{{Charge: "ch_123", IdempotencyKey: "refund-p1"}}, proxy.Refunds())
	assert.Equal(t, 1.0, metricstest.Gather(t, reg).Value(metrics.StripeRequests,
		prometheus.Labels{"operation": charger.OperationRefund, "outcome": charger.OutcomeSucceeded}))
}

func TestRefund_StripeFailingIsUnavailable(t *testing.T) {
	srv := stripetest.Answering(t, http.StatusInternalServerError, stripetest.APIError)
	c := charger.New(key, testkit.Logger(t), charger.WithBaseURL(srv.URL))

	_, err := c.Refund(t.Context(), "ch_123", "refund-p1")

	assert.ErrorIs(t, err, payment.ErrStripeUnavailable)
	assert.Len(t, srv.Refunds(), 1, "stripe-go must not retry by itself")
}

func TestFindCharge_SearchesByTheClaimsMetadata(t *testing.T) {
	proxy := stripetest.Proxy(t, testkit.StripeMock(t))
	reg := prometheus.NewRegistry()
	c := charger.New(key, testkit.Logger(t), charger.WithBaseURL(proxy.URL), withMetrics(t, reg))

	id, err := c.FindCharge(t.Context(), claim)

	require.NoError(t, err)
	// stripe-mock answers every search with one canned charge that
	// succeeded, whatever the query.
	assert.Equal(t, []stripetest.Search{{Query: "metadata['order_id']:'order-1' AND metadata['payment_id']:'pay-1'", Found: []string{id}}}, proxy.Searches())
	assert.Empty(t, proxy.Charges(), "nothing charged")
	assert.Equal(t, 1.0, metricstest.Gather(t, reg).Value(metrics.StripeRequests,
		prometheus.Labels{"operation": charger.OperationFindCharge, "outcome": charger.OutcomeSucceeded}))
}

func TestFindCharge_DecidesOnlyOnWhatStripeHolds(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		want       string // the charge found
		notCharged bool   // whether nothing was charged, for certain
		message    string // the error's, when it cannot tell
	}{
		{"one succeeded", http.StatusOK, stripetest.SearchResult("ch_paid succeeded"), "ch_paid", false, ""},
		{"a failed one, then one that succeeded", http.StatusOK, stripetest.SearchResult("ch_declined failed", "ch_paid succeeded"), "ch_paid", false, ""},
		{"only failed ones", http.StatusOK, stripetest.SearchResult("ch_declined failed"), "", true, ""},
		{"none", http.StatusOK, stripetest.SearchResult(), "", false, "stripe holds no charge with metadata order_id order-1 and payment_id pay-1"},
		{"one pending", http.StatusOK, stripetest.SearchResult("ch_paid succeeded", "ch_wait pending"), "", false, "not yet settled: ch_wait pending"},
		{"two succeeded", http.StatusOK, stripetest.SearchResult("ch_1 succeeded", "ch_2 succeeded"), "", false, "2 successful charges of one claim"},
		{"stripe failing", http.StatusInternalServerError, stripetest.APIError, "", false, "stripe answered 500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := stripetest.Answering(t, tt.status, tt.body)
			c := charger.New(key, testkit.Logger(t), charger.WithBaseURL(srv.URL))

			id, err := c.FindCharge(t.Context(), claim)

			require.Len(t, srv.Searches(), 1)
			assert.Equal(t, charger.SearchQuery(claim), srv.Searches()[0].Query)
			assert.Equal(t, tt.want, id)
			assert.Equal(t, tt.want == "", err != nil, "%v", err)
			assert.Equal(t, tt.notCharged, errors.Is(err, payment.ErrNotCharged), "%v", err)
			if tt.message != "" {
				assert.ErrorContains(t, err, tt.message)
			}
		})
	}
}
