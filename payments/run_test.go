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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
	"ticketing.dev/payments/internal/stripetest"
)

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// fullEnv is a complete configuration whose servers do not exist; tests
// delete or change one variable.
func fullEnv() map[string]string {
	return map[string]string{
		"JWT_KEY":         "k",
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
		{"no STRIPE_KEY", func(e map[string]string) { delete(e, "STRIPE_KEY") }, []string{"STRIPE_KEY must be defined"}},
		{"blank STRIPE_KEY", func(e map[string]string) { e["STRIPE_KEY"] = "  " }, []string{"STRIPE_KEY must be defined"}},
		{"STRIPE_API_BASE not a URL", func(e map[string]string) { e["STRIPE_API_BASE"] = "localhost:12111" }, []string{"STRIPE_API_BASE"}},
		{"STRIPE_API_BASE without a host", func(e map[string]string) { e["STRIPE_API_BASE"] = "http://" }, []string{"STRIPE_API_BASE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := fullEnv()
			tt.change(env)
			start := time.Now()

			err := run(t.Context(), envOf(env), io.Discard)

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
	port := testkit.FreePort(t)
	cfg := testkit.BusConfig(n)
	env := map[string]string{
		"PORT":            port,
		"JWT_KEY":         string(jwtKey),
		"MONGO_URI":       testkit.MongoURI(t),
		"NATS_URL":        cfg.URL,
		"NATS_CLUSTER_ID": cfg.ClusterID,
		"NATS_CLIENT_ID":  cfg.ClientID,
		"COOKIE_SECURE":   "false",
		"LOG_LEVEL":       "debug",
		"STRIPE_KEY":      stripeKey,
		"STRIPE_API_BASE": stripe.URL,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testkit.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, envOf(env), out) }()
	base := "http://127.0.0.1:" + port
	get := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	testkit.Eventually(t, func() bool {
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v\n%s", err, out)
		default:
		}
		return get("/healthz") == http.StatusOK
	}, "payments to answer /healthz")
	assert.Equal(t, http.StatusOK, get("/readyz"))

	published := observe[events.PaymentCreated](t, n)
	buyer := newID()
	o := newOrder(buyer, 2099, time.Now())
	publish(t, testkit.Bus(t, n), o)
	var r response
	testkit.Eventually(t, func() bool {
		var err error
		r, err = post(base+"/api/payments", signIn(t, buyer), `{"token":"tok_visa","orderId":"`+o.ID+`"}`)
		require.NoError(t, err)
		return r.status != http.StatusNotFound // order:created not applied yet
	}, "order never reached the replica")
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	e := next(t, published)
	assert.Equal(t, r.id(t), e.ID)
	assert.Equal(t, o.ID, e.OrderID)
	assert.True(t, strings.HasPrefix(e.StripeID, "ch_"), e.StripeID)
	require.Len(t, stripe.Charges(), 1)
	assert.Equal(t, "2099", stripe.Charges()[0].Amount)

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after its context was cancelled")
	}
	_, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second)
	assert.Error(t, err, "no longer listening")
	assertJSONLogs(t, out.String())
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
