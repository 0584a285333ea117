// Package stripetest puts HTTP servers around Stripe for the payments
// service's tests: a recording proxy in front of the real stripe-mock, to
// see what was charged, refunded and searched for, and the answers stripe-mock cannot give — a
// declined card, a server error, silence — as Stripe documents them.
package stripetest

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
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
	// Metadata are the charge's metadata[key] fields, by key.
	Metadata map[string]string
}

// Search is one GET /v1/charges/search as it reached the server, with the
// ids of the charges a proxy's upstream answered.
type Search struct {
	Query string
	Found []string
}

// Refund is one POST /v1/refunds as it reached the server.
type Refund struct {
	Charge         string
	IdempotencyKey string
}

// recorder keeps the charges, refunds and searches a server was asked
// for.
type recorder struct {
	mu       sync.Mutex
	charges  []Charge
	refunds  []Refund
	searches []Search
}

// searchPath is the path of Stripe's Charges search.
const searchPath = "/v1/charges/search"

// record reads a charge or refund request's form, leaving its body
// readable again, or a search's query; it returns the index of a search.
func (rec *recorder) record(r *http.Request) (search int) {
	if r.Method == http.MethodGet && r.URL.Path == searchPath {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		rec.searches = append(rec.searches, Search{Query: r.URL.Query().Get("query")})
		return len(rec.searches) - 1
	}
	if r.Method != http.MethodPost || (r.URL.Path != "/v1/charges" && r.URL.Path != "/v1/refunds") {
		return -1
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if r.URL.Path == "/v1/refunds" {
		rec.refunds = append(rec.refunds, Refund{Charge: form.Get("charge"), IdempotencyKey: r.Header.Get("Idempotency-Key")})
		return -1
	}
	var metadata map[string]string
	for k, v := range form {
		if key, ok := strings.CutPrefix(k, "metadata["); ok && strings.HasSuffix(key, "]") {
			if metadata == nil {
				metadata = make(map[string]string)
			}
			metadata[strings.TrimSuffix(key, "]")] = v[0]
		}
	}
	rec.charges = append(rec.charges, Charge{
		Amount:         form.Get("amount"),
		Currency:       form.Get("currency"),
		Source:         form.Get("source"),
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
		Metadata:       metadata,
	})
	return -1
}

// found records the ids of the charges the answer to search i holds.
func (rec *recorder) found(i int, answer []byte) {
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	_ = json.Unmarshal(answer, &list)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, c := range list.Data {
		rec.searches[i].Found = append(rec.searches[i].Found, c.ID)
	}
}

// Searches returns the charge searches asked for so far, oldest first.
func (rec *recorder) Searches() []Search {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]Search(nil), rec.searches...)
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
		search := s.record(r)
		s.wait(r)
		if search < 0 {
			proxy.ServeHTTP(w, r)
			return
		}
		tee := &teeWriter{ResponseWriter: w}
		proxy.ServeHTTP(tee, r)
		s.found(search, tee.body.Bytes())
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// teeWriter keeps a copy of the body it writes.
type teeWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (w *teeWriter) Write(p []byte) (int, error) {
	w.body.Write(p)
	return w.ResponseWriter.Write(p)
}

// Answering returns a server that answers every request with status and
// the JSON body, such as Stripe's error for a declined card:
//
//	402 {"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}
func Answering(t testing.TB, status int, body string) *Server {
	t.Helper()
	s := &Server{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if search := s.record(r); search >= 0 && status == http.StatusOK {
			s.found(search, []byte(body))
		}
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

// SearchResult is Stripe's answer to a Charges search that holds charges,
// each given as "id status", such as "ch_1 succeeded".
func SearchResult(charges ...string) string {
	data := make([]string, 0, len(charges))
	for _, c := range charges {
		id, status, _ := strings.Cut(c, " ")
		data = append(data, `{"id":"`+id+`","object":"charge","status":"`+status+`"}`)
	}
	return `{"object":"search_result","url":"/v1/charges/search","has_more":false,"data":[` + strings.Join(data, ",") + `]}`
}
