package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/embedded"
	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/testkit"
	"ticketing.dev/payments/internal/charger"
	"ticketing.dev/payments/internal/stripetest"
)

// fullEnv is a complete configuration whose servers do not exist; tests
// delete or change one variable.
func fullEnv() map[string]string {
	return map[string]string{
		"JWT_KEY":         testkit.JWTKey,
		"MONGO_URI":       "mongodb://127.0.0.1:1/payments",
		"NATS_URL":        "nats://127.0.0.1:1",
		"NATS_CLUSTER_ID": "ticketing",
		"NATS_CLIENT_ID":  "payments-1",
		"STRIPE_KEY":      stripeKey,
	}
}

func TestRun_FailsAtOnceNamingMissingOrBadConfiguration(t *testing.T) {
	tests := []struct {
		name   string
		change func(map[string]string)
		want   []string
	}{
		{"nothing set", func(e map[string]string) { clear(e) },
			[]string{"JWT_KEY", "MONGO_URI", "NATS_URL", "NATS_CLUSTER_ID", "NATS_CLIENT_ID", "STRIPE_KEY"}},
		{"JWT_KEY of 31 bytes", func(e map[string]string) { e["JWT_KEY"] = testkit.JWTKey[:31] }, []string{"JWT_KEY must be at least 32 bytes"}},
		{"no STRIPE_KEY", func(e map[string]string) { delete(e, "STRIPE_KEY") }, []string{"STRIPE_KEY must be defined"}},
		{"blank STRIPE_KEY", func(e map[string]string) { e["STRIPE_KEY"] = "  " }, []string{"STRIPE_KEY must be defined"}},
		{"STRIPE_API_BASE not a URL", func(e map[string]string) { e["STRIPE_API_BASE"] = "localhost:12111" }, []string{"STRIPE_API_BASE"}},
		{"STRIPE_API_BASE without a host", func(e map[string]string) { e["STRIPE_API_BASE"] = "http://" }, []string{"STRIPE_API_BASE"}},
		{"RECONCILE_INTERVAL not a duration", func(e map[string]string) { e["RECONCILE_INTERVAL"] = "often" }, []string{"RECONCILE_INTERVAL"}},
		{"CHARGE_MARGIN negative", func(e map[string]string) { e["CHARGE_MARGIN"] = "-5s" }, []string{"CHARGE_MARGIN"}},
		{"CHARGE_TIMEOUT zero", func(e map[string]string) { e["CHARGE_TIMEOUT"] = "0s" }, []string{"CHARGE_TIMEOUT"}},
		{"CHARGE_TIMEOUT above half the stale-claim age", func(e map[string]string) { e["CHARGE_TIMEOUT"] = "31s" }, []string{"CHARGE_TIMEOUT must be above 0 and at most 30s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := fullEnv()
			tt.change(env)
			start := time.Now()
			// Bounded, so that a configuration let through fails the test
			// rather than waiting for servers that do not exist.
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()

			err := run(ctx, testkit.Getenv(env), io.Discard)

			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Less(t, time.Since(start), time.Second, "must not try to connect first")
		})
	}
}

// TestRun_ServesPaymentsThenShutsDownCleanly runs the whole service
// against the embedded servers and stripe-mock: it answers /healthz and
// /readyz, learns an order from order:created, charges it, publishes
// payment:created, and returns nil once its context is cancelled.
func TestRun_ServesPaymentsThenShutsDownCleanly(t *testing.T) {
	n := testkit.NATS(t)
	stripe := stripetest.Proxy(t, testkit.StripeMock(t))
	svc := startRun(t, n, stripe.URL, nil)
	assert.Equal(t, http.StatusOK, svc.get("/readyz"))

	published := testkit.Observe[events.PaymentCreated](t, n)
	buyer := newID()
	o := newOrder(buyer, 2099, time.Now())
	r := svc.pay(t, n, buyer, o)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	e := testkit.Next(t, published)
	assert.Equal(t, r.id(t), e.ID)
	assert.Equal(t, o.ID, e.OrderID)
	assert.True(t, strings.HasPrefix(e.StripeID, "ch_"), e.StripeID)
	require.Len(t, stripe.Charges(), 1)
	assert.Equal(t, "2099", stripe.Charges()[0].Amount)

	assert.NoError(t, svc.StopAndWait(t))
	_, err := net.DialTimeout("tcp", strings.TrimPrefix(svc.URL, "http://"), time.Second)
	assert.Error(t, err, "no longer listening")
	assertJSONLogs(t, svc.out.String())
}

// TestRun_ServesMetricsOnTheDebugAddress checks what payments counts, as
// Prometheus scrapes it from DEBUG_ADDR: its requests to Stripe by
// outcome (stripe-mock charges every card; the charger's own tests see
// the other outcomes), the events it handles and publishes, its requests by route, its
// MongoDB commands by collection, and its outbox's backlog.
func TestRun_ServesMetricsOnTheDebugAddress(t *testing.T) {
	n := testkit.NATS(t)
	debugAddr := testkit.FreeAddr(t)
	svc := startRun(t, n, stripetest.Proxy(t, testkit.StripeMock(t)).URL, map[string]string{"DEBUG_ADDR": debugAddr})
	url := "http://" + debugAddr + "/metrics"
	before := metricstest.Scrape(t, url)

	buyer := newID()
	r := svc.pay(t, n, buyer, newOrder(buyer, 2099, time.Now()))
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)

	rises := func(name string, labels prometheus.Labels) {
		t.Helper()
		metricstest.EventuallyRises(t, url, before, 1, name, labels)
	}
	rises(metrics.StripeRequests, prometheus.Labels{"operation": "charge", "outcome": charger.OutcomeSucceeded})
	rises(metrics.StripeRequestDuration, prometheus.Labels{"operation": "charge"})
	rises(metrics.BusHandled, prometheus.Labels{"subject": string(events.SubjectOrderCreated), "outcome": metrics.OutcomeAcked})
	rises(metrics.BusPublished, prometheus.Labels{"subject": string(events.SubjectPaymentCreated)})
	rises(metrics.HTTPRequests, prometheus.Labels{"route": "/api/payments", "method": "POST", "code": "201"})
	rises(metrics.MongoCommands, prometheus.Labels{"collection": "payments", "command": "insert"})
	rises(metrics.MongoCommands, prometheus.Labels{"collection": "orders"})
	assert.True(t, metricstest.Scrape(t, url).Has(metrics.OutboxPending, prometheus.Labels{"collection": "payments"}))
}

// runningService is run in the background, as a process of the service,
// its logs in out.
type runningService struct {
	*testkit.Service
	out *testkit.Buffer
}

// startRun runs the service against n and the Stripe at stripeURL, with
// the variables of extra added, and waits until it answers /healthz.
func startRun(t *testing.T, n embedded.Bus, stripeURL string, extra map[string]string) *runningService {
	t.Helper()
	env := testkit.ServiceEnv(testkit.MongoURI(t), n, map[string]string{
		"STRIPE_KEY":      stripeKey,
		"STRIPE_API_BASE": stripeURL,
	}, extra)
	out := &testkit.Buffer{}
	svc := testkit.StartService(t, run, env, testkit.Stdout(out), testkit.ReadyPath("/healthz"))
	return &runningService{Service: svc, out: out}
}

// get returns the status of a GET of path, 0 when there was no answer.
func (s *runningService) get(path string) int {
	resp, err := http.Get(s.URL + path)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// pay publishes o's order:created on n, as orders would, and pays for it
// as buyer once the replica holds the order.
func (s *runningService) pay(t *testing.T, n embedded.Bus, buyer string, o events.OrderCreated) response {
	t.Helper()
	publish(t, testkit.Bus(t, n), o)
	var r response
	testkit.Eventually(t, func() bool {
		var err error
		r, err = post(s.URL+"/api/payments", testkit.SignIn(t, buyer), `{"token":"tok_visa","orderId":"`+o.ID+`"}`)
		require.NoError(t, err)
		return r.status != http.StatusNotFound // order:created not applied yet
	}, "order never reached the replica")
	return r
}

func assertJSONLogs(t *testing.T, logs string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var lines int
	for sc.Scan() {
		var entry map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &entry), sc.Text())
		assert.Equal(t, "payments", entry["service"])
		lines++
	}
	assert.Positive(t, lines)
}
