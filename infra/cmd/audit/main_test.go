package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/embedded"
)

// server starts a FerretDB of the test's own, whose databases are named
// after the services as the local stack's are.
func server(t *testing.T) string {
	t.Helper()
	f, err := embedded.StartFerretDB(embedded.FerretDBConfig{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(f.Stop)
	return f.URI()
}

func TestRun_NeedsTheMongoURI(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(t.Context(), nil, &out, &errOut)
	assert.ErrorContains(t, err, "-mongo is required")
	assert.NotErrorIs(t, err, errViolations, "a usage error is no finding")
}

func TestRun_ReportsAConsistentSystem(t *testing.T) {
	uri := server(t)
	var out, errOut bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-mongo", uri, "-wait", "5s"}, &out, &errOut))
	assert.Contains(t, out.String(), "no violations")
}

func TestRun_FailsWithTheBrokenInvariants(t *testing.T) {
	uri := server(t)
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(t.Context()) })
	// A ticket of a seller auth does not know, which the orders service
	// never heard of either.
	_, err = client.Database("tickets").Collection("tickets").InsertOne(t.Context(),
		bson.M{"_id": bson.NewObjectID(), "title": "concert", "price": int64(1000), "userId": bson.NewObjectID().Hex(), "version": int64(0)})
	require.NoError(t, err)

	var out, errOut bytes.Buffer
	err = run(t.Context(), []string{"-mongo", uri}, &out, &errOut)
	assert.ErrorIs(t, err, errViolations)
	assert.Contains(t, out.String(), "2 violations")
	assert.Contains(t, out.String(), "is no user of the auth service")
	assert.Contains(t, out.String(), "ticket-replica")
}

// A system whose events never drain fails the audit once -wait runs out,
// however harmless its findings would be in flight.
func TestRun_FailsWhenTheSystemNeverBecomesQuiet(t *testing.T) {
	uri := server(t)
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(t.Context()) })
	seller := bson.NewObjectID()
	_, err = client.Database("auth").Collection("users").InsertOne(t.Context(),
		bson.M{"_id": seller, "email": "seller@example.com", "password": "scrypt$secret"})
	require.NoError(t, err)
	// A ticket whose ticket:created no relay ever publishes.
	_, err = client.Database("tickets").Collection("tickets").InsertOne(t.Context(),
		bson.M{"_id": bson.NewObjectID(), "title": "concert", "price": int64(1000), "userId": seller.Hex(), "version": int64(0),
			"outbox": bson.A{bson.M{"id": "m1", "subject": "ticket:created", "data": []byte(`{}`)}}})
	require.NoError(t, err)

	var out, errOut bytes.Buffer
	err = run(t.Context(), []string{"-mongo", uri, "-wait", "1500ms"}, &out, &errOut)
	assert.ErrorIs(t, err, errNotQuiet)
	assert.Contains(t, out.String(), "(settling)")
	assert.Contains(t, out.String(), "FAIL: not quiet after 1.5s")
}

// stripeCalls writes lines to a file of Stripe calls, as the local stack
// keeps it, and returns its path.
func stripeCalls(t *testing.T, lines string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stripe-calls.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(lines), 0o644))
	return path
}

func TestRun_ChecksTheMoneyAgainstTheStripeCalls(t *testing.T) {
	uri := server(t)
	order, payment := bson.NewObjectID().Hex(), bson.NewObjectID().Hex()
	tests := []struct {
		name  string
		lines string
		want  string // a finding of the money rule, or none
	}{
		{"a charge no payment records", `{"method":"POST","path":"/v1/charges","idempotencyKey":"payment-` + order + `-` + payment + `","status":200}` + "\n",
			"Stripe charged it for order " + order + ", but no payment is stored"},
		{"a refund of nothing charged", `{"method":"POST","path":"/v1/refunds","idempotencyKey":"refund-` + payment + `","status":200}` + "\n",
			"refunded 1 times at Stripe, never charged"},
		{"a declined charge and a search", `{"method":"POST","path":"/v1/charges","idempotencyKey":"payment-` + order + `-` + payment + `","status":402}` + "\n" +
			`{"method":"GET","path":"/v1/charges/search","status":200}` + "\n", ""},
		// The stack appends a line as Stripe answers: a last line without
		// its newline is still being written.
		{"a charge still being written", `{"method":"POST","path":"/v1/charges","idempotencyKey":"payment-` + order + `-` + payment + `","st`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(t.Context(), []string{"-mongo", uri, "-wait", "5s", "-stripe-calls", stripeCalls(t, tt.lines)}, &out, &errOut)
			if tt.want == "" {
				require.NoError(t, err, "%s", out.String())
				assert.Contains(t, out.String(), "no violations")
				return
			}
			assert.ErrorIs(t, err, errViolations)
			assert.Contains(t, out.String(), "1 violations")
			assert.Contains(t, out.String(), "money")
			assert.Contains(t, out.String(), tt.want)
		})
	}
}

func TestRun_StripeCallsItCannotReadAreNoFinding(t *testing.T) {
	uri := server(t)
	tests := []struct{ name, path, want string }{
		{"a missing file", filepath.Join(t.TempDir(), "none.jsonl"), "stripe calls: open"},
		{"a line of something else", stripeCalls(t, `{"method":"POST","path":"/v1/charges","status":200}`+"\n"+`{"amount":1500}`+"\n"), "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(t.Context(), []string{"-mongo", uri, "-stripe-calls", tt.path}, &out, &errOut)
			require.Error(t, err)
			assert.NotErrorIs(t, err, errViolations)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

// An unpaid order whose expiry Redis lost is cancelled by orders' sweeper
// EXPIRY_GRACE after it expired, which the audit is told with -expiry-grace.
func TestRun_AnOrderIsLateOnlyPastTheExpiryGrace(t *testing.T) {
	uri := server(t)
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(t.Context()) })
	_, err = client.Database("orders").Collection("orders").InsertOne(t.Context(), bson.M{
		"_id": bson.NewObjectID(), "userId": bson.NewObjectID().Hex(), "status": "created", "version": int64(0),
		"expiresAt": time.Now().Add(-30 * time.Second), "ticketId": bson.NewObjectID()})
	require.NoError(t, err)

	var out, errOut bytes.Buffer
	err = run(t.Context(), []string{"-mongo", uri}, &out, &errOut)
	assert.ErrorIs(t, err, errViolations, "the order is broken in other ways")
	assert.NotContains(t, out.String(), "expiry", "orders' default grace of a minute has not passed")

	out.Reset()
	err = run(t.Context(), []string{"-mongo", uri, "-expiry-grace", "10s"}, &out, &errOut)
	assert.ErrorIs(t, err, errViolations)
	assert.Contains(t, out.String(), "expiry")
	assert.Contains(t, out.String(), "after it expired")
}
