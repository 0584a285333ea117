// Package stripetest puts HTTP servers around Stripe for the payments
// service's tests: a recording proxy in front of the real stripe-mock, to
// see what was charged, and the answers stripe-mock cannot give — a
// declined card, a server error, silence — as Stripe documents them.
package stripetest

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Charge is one POST /v1/charges as it reached the server.
type Charge struct {
	Amount         string
	Currency       string
	Source         string
	IdempotencyKey string
}

// recorder keeps the charges a server was asked for.
type recorder struct {
	mu      sync.Mutex
	charges []Charge
}

// record reads a charge request's form, leaving its body readable again.
func (rec *recorder) record(r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/charges" {
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.charges = append(rec.charges, Charge{
		Amount:         form.Get("amount"),
		Currency:       form.Get("currency"),
		Source:         form.Get("source"),
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
	})
}

// Charges returns the charges asked for so far, oldest first.
func (rec *recorder) Charges() []Charge {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]Charge(nil), rec.charges...)
}

// Server is a stand-in for Stripe's API that records the charges it is
// asked for.
type Server struct {
	recorder
	// URL is the base URL to give the charger.
	URL string
}

// Proxy returns a server that forwards every request to stripe-mock at
// upstream, closed when the test ends.
func Proxy(t testing.TB, upstream string) *Server {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatalf("stripetest: %v", err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	s := &Server{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.record(r)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Answering returns a server that answers every request with status and
// the JSON body, such as Stripe's error for a declined card:
//
//	402 {"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}
func Answering(t testing.TB, status int, body string) *Server {
	t.Helper()
	s := &Server{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.record(r)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req_test")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Silent returns a server that reads every request and answers none for
// d, so that a charger with a shorter timeout gives up on it.
func Silent(t testing.TB, d time.Duration) *Server {
	t.Helper()
	s := &Server{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.record(r)
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Unreachable returns a base URL on which nothing listens.
func Unreachable(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("stripetest: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("stripetest: %v", err)
	}
	return "http://" + addr
}

// Errors of Stripe's API, as it documents them.
const (
	// CardDeclined is the body of a 402 for a declined card.
	CardDeclined = `{"error":{"type":"card_error","code":"card_declined","decline_code":"generic_decline","message":"Your card was declined."}}`
	// TokenUsed is the body of a 400 for a token that was used before.
	TokenUsed = `{"error":{"type":"invalid_request_error","code":"token_already_used","param":"source","message":"You cannot use a Stripe token more than once: tok_used."}}`
	// APIError is the body of a 500.
	APIError = `{"error":{"type":"api_error","message":"An unknown error occurred"}}`
	// BadKey is the body of a 401 for a wrong secret key.
	BadKey = `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_****"}}`
)
