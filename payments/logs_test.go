package main

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web/webtest"
	"ticketing.dev/payments/internal/stripetest"
)

// TestRun_LogsNoSecret runs the service at debug level, so that stripe-go's
// own reports are logged too, through paying, paying twice, a declined
// card, Stripe failing and Stripe refusing the key, with a known JWT_KEY,
// STRIPE_KEY and session, and looks for them in everything it logged.
func TestRun_LogsNoSecret(t *testing.T) {
	jwt := "jwt-key-" + rand.Text()
	stripeKey := "sk_test_" + rand.Text()
	n := testkit.NATS(t)
	upstream, err := url.Parse(stripetest.Proxy(t, testkit.StripeMock(t)).URL)
	require.NoError(t, err)
	// Stripe as the test wants it: stripe-mock, declining the card, failing,
	// or refusing the key the way Stripe does, naming only its last four
	// characters.
	var mode atomic.Int32
	const (
		working = iota
		declining
		failing
		refusingKey
	)
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	stripe := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load() {
		case declining:
			w.WriteHeader(http.StatusPaymentRequired)
			fmt.Fprint(w, `{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}`)
		case failing:
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"error":{"type":"api_error","message":"An unknown error occurred"}}`)
		case refusingKey:
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_****%s"}}`, stripeKey[len(stripeKey)-4:])
		default:
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(stripe.Close)
	out := &testkit.Buffer{}
	svc := testkit.StartService(t, run, testkit.ServiceEnv(testkit.MongoURI(t), n, map[string]string{
		"JWT_KEY": jwt, "STRIPE_KEY": stripeKey, "STRIPE_API_BASE": stripe.URL,
	}), testkit.Stdout(out))
	base := svc.URL

	buyer := newID()
	rec := httptest.NewRecorder()
	require.NoError(t, session.NewManager([]byte(jwt), time.Hour, false).SignIn(rec, buyer, "logs@test.dev"))
	cookie := rec.Result().Cookies()[0]
	token := webtest.TokenOf(t, cookie.Value)
	bus := testkit.Bus(t, n)
	orders := make([]events.OrderCreated, 4)
	for i := range orders {
		orders[i] = newOrder(buyer, 2000, time.Now())
		publish(t, bus, orders[i])
	}
	pay := func(o events.OrderCreated, card string) int {
		t.Helper()
		var r response
		testkit.Eventually(t, func() bool {
			var err error
			r, err = post(base+"/api/payments", cookie, `{"token":"`+card+`","orderId":"`+o.ID+`"}`)
			require.NoError(t, err)
			return r.status != http.StatusNotFound
		}, "order %s in the replica", o.ID)
		return r.status
	}

	assert.Equal(t, http.StatusCreated, pay(orders[0], "tok_visa"))
	assert.Equal(t, http.StatusBadRequest, pay(orders[0], "tok_visa"))
	mode.Store(declining)
	assert.Equal(t, http.StatusBadRequest, pay(orders[1], "tok_chargeDeclined"))
	mode.Store(failing)
	assert.Equal(t, http.StatusBadGateway, pay(orders[2], "tok_visa"))
	mode.Store(refusingKey)
	assert.Equal(t, http.StatusInternalServerError, pay(orders[3], "tok_visa"))
	r, err := post(base+"/api/payments", webtest.ForgedSessions(t, []byte(jwt), buyer)[0].Cookie, `{"token":"tok_visa","orderId":"`+orders[3].ID+`"}`)
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, r.status)

	require.NoError(t, svc.StopAndWait(t))
	testkit.AssertSecretsNotLogged(t, out.String(), map[string]string{
		"JWT_KEY":        jwt,
		"STRIPE_KEY":     stripeKey,
		"session cookie": cookie.Value,
		"session token":  token,
	})
}
