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

// Refund is one POST /v1/refunds as it reached the server.
type Refund struct {
	Charge         string
	IdempotencyKey string
}

// recorder keeps the charges and refunds a server was asked for.
type recorder struct {
	mu      sync.Mutex
	charges []Charge
	refunds []Refund
}

// record reads a charge or refund request's form, leaving its body
// readable again.
func (rec *recorder) record(r *http.Request) {
	if r.Method != http.MethodPost || (r.URL.Path != "/v1/charges" && r.URL.Path != "/v1/refunds") {
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if r.URL.Path == "/v1/refunds" {
		rec.refunds = append(rec.refunds, Refund{Charge: form.Get("charge"), IdempotencyKey: r.Header.Get("Idempotency-Key")})
		return
	}
	rec.charges = append(rec.charges, Charge{
		Amount:         form.Get("amount"),
		Currency:       form.Get("currency"),
		Source:         form.Get("source"),
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
	})
}

// Refunds returns the refunds asked for so far, oldest first.
func (rec *recorder) Refunds() []Refund {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]Refund(nil), rec.refunds...)
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

	holdMu sync.Mutex
	hold   *hold
}

// hold is what a held charge waits on.
type hold struct {
	arrived chan struct{}
	release chan struct{}
}

// HoldCharges makes the server hold every charge request it receives from
// now on, before passing it on, until release is called: arrived receives
// once per charge as it arrives. Tests use it to act while a charge is in
// flight.
func (s *Server) HoldCharges() (arrived <-chan struct{}, release func()) {
	h := &hold{arrived: make(chan struct{}, 16), release: make(chan struct{})}
	s.holdMu.Lock()
	s.hold = h
	s.holdMu.Unlock()
	var once sync.Once
	return h.arrived, func() { once.Do(func() { close(h.release) }) }
}

// wait holds a charge request while HoldCharges asks for it.
func (s *Server) wait(r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/charges" {
		return
	}
	s.holdMu.Lock()
	h := s.hold
	s.holdMu.Unlock()
	if h == nil {
		return
	}
	select {
	case h.arrived <- struct{}{}:
	default:
	}
	select {
	case <-h.release:
	case <-r.Context().Done():
	}
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
		s.wait(r)
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
