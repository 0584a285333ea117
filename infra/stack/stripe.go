package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"ticketing.dev/common/embedded"
	"ticketing.dev/infra/audit"
)

// StripeCall is one request a service made to Stripe, as the stack's
// recording proxy in front of stripe-mock saw it and its answer.
type StripeCall struct {
	Method, Path string
	// IdempotencyKey is the request's Idempotency-Key header.
	IdempotencyKey string
	// Form is the request's form body (amount, source, charge, metadata[...]).
	Form   url.Values
	Status int
	At     time.Time
}

// StripeCalls returns every request the services made to Stripe so far,
// oldest first: what a real account would have been charged and refunded.
func (s *Stack) StripeCalls() []StripeCall {
	if s.stripe == nil {
		return nil
	}
	s.stripe.mu.Lock()
	defer s.stripe.mu.Unlock()
	return slices.Clone(s.stripe.calls)
}

// DelayStripeCharges makes Stripe take d to answer every charge from now on,
// as a slow Stripe would; 0 answers at once again.
func (s *Stack) DelayStripeCharges(d time.Duration) {
	s.stripe.chargeDelay.Store(int64(d))
}

// StripeCallsFile is the file, in the stack's data folder, where the
// recording proxy appends every request the services made to Stripe as it
// answers, one audit.StripeCall in JSON a line: what the audit command's
// -stripe-calls reads to check the money. It lives as long as the data.
const StripeCallsFile = "stripe-calls.jsonl"

// stripeProxy forwards the services' requests to stripe-mock and records
// them: stripe-mock keeps no state, so this is the stack's only account
// of the money that moved.
type stripeProxy struct {
	srv *http.Server
	// chargeDelay holds every charge request this long before forwarding
	// it: a slow Stripe.
	chargeDelay atomic.Int64

	mu    sync.Mutex
	calls []StripeCall
	// file receives each call as a line; fileErr is its first failure,
	// after which nothing more is written, and which is reported to warn.
	file    *os.File
	fileErr error
	warn    func(format string, args ...any)
}

// newStripeProxy returns a proxy that also appends the calls it records to
// the file at path, and tells warn if it cannot.
func newStripeProxy(path string, warn func(format string, args ...any)) (*stripeProxy, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("stripe calls: %w", err)
	}
	return &stripeProxy{file: f, warn: warn}, nil
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// serve forwards r to upstream and records it with its answer.
func (p *stripeProxy) serve(w http.ResponseWriter, r *http.Request, upstream http.Handler) {
	if d := time.Duration(p.chargeDelay.Load()); d > 0 && r.Method == http.MethodPost && r.URL.Path == "/v1/charges" {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	upstream.ServeHTTP(sw, r)
	p.record(StripeCall{
		Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key"),
		Form: form, Status: sw.status, At: time.Now(),
	})
}

// record keeps c, and appends it to the file in one write, so that a
// reader sees whole lines only, but for the last one while it is written.
func (p *stripeProxy) record(c StripeCall) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, c)
	if p.file == nil || p.fileErr != nil {
		return
	}
	line, err := json.Marshal(audit.StripeCall{Method: c.Method, Path: c.Path, IdempotencyKey: c.IdempotencyKey, Status: c.Status})
	if err == nil {
		_, err = p.file.Write(append(line, '\n'))
	}
	if err != nil {
		p.fileErr = err
		p.warn("stripe-mock: the record of its calls in %s stops here, the money can no longer be audited: %v", p.file.Name(), err)
	}
}

func (p *stripeProxy) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	if p.file != nil {
		_ = p.file.Close()
	}
}

// startStripeMock starts stripe-mock and the recording proxy in front of
// it, recording in dataDir, and returns the proxy's URL for the services'
// STRIPE_API_BASE.
func (s *Stack) startStripeMock(ctx context.Context, dataDir, binDir string) (string, error) {
	port, err := embedded.FreePort("127.0.0.1")
	if err != nil {
		return "", err
	}
	httpsPort, err := embedded.FreePort("127.0.0.1")
	if err != nil {
		return "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	p, err := startProc("stripe", filepath.Join(binDir, "stripe-mock"),
		[]string{"-http-addr", addr, "-https-addr", "127.0.0.1:" + strconv.Itoa(httpsPort)}, os.Environ(), s.out)
	if err != nil {
		return "", err
	}
	s.watch(p)
	if err := waitTCP(ctx, p, addr, s.cfg.ReadyTimeout); err != nil {
		return "", err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	upstream := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: addr})
	callsFile := filepath.Join(dataDir, StripeCallsFile)
	proxy, err := newStripeProxy(callsFile, s.status)
	if err != nil {
		ln.Close()
		return "", err
	}
	proxy.srv = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { proxy.serve(w, r, upstream) }),
		ReadHeaderTimeout: 5 * time.Second,
	}
	s.stripe = proxy
	go func() { _ = proxy.srv.Serve(ln) }()
	s.status("stripe-mock: the calls made to it are recorded in %s (audit the money: -stripe-calls %s)", callsFile, callsFile)
	return "http://" + ln.Addr().String(), nil
}
