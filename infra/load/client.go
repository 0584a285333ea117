package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// user is one simulated user: an HTTP client with its own cookie jar, as a
// browser would be, sharing the connection pool of the run.
type user struct {
	base     string
	http     *http.Client
	email    string
	password string
	meter    *meter
}

// emailSeq makes every email of a process unique; the run's start time
// keeps runs against the same stack apart.
var emailSeq atomic.Int64

func newUser(base string, transport http.RoundTripper, runID string, m *meter) *user {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &user{
		base:     base,
		http:     &http.Client{Jar: jar, Transport: transport, Timeout: 30 * time.Second},
		email:    fmt.Sprintf("load-%s-%d@example.com", runID, emailSeq.Add(1)),
		password: "password-of-load",
		meter:    m,
	}
}

// statusError is an answer with an unexpected status.
type statusError struct {
	method, path string
	status       int
	body         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.path, e.status, e.body)
}

// do sends a JSON request, expects the status want and decodes the answer
// into out when given.
func (u *user) do(ctx context.Context, method, path string, body, out any, want int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := u.http.Do(req)
	if err != nil {
		u.meter.call(method, path, 0)
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	u.meter.call(method, path, resp.StatusCode)
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read %s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		if len(raw) > 200 {
			raw = raw[:200]
		}
		return &statusError{method: method, path: path, status: resp.StatusCode, body: strings.TrimSpace(string(raw))}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return nil
}

type ticket struct {
	ID      string `json:"id"`
	OrderID string `json:"orderId"`
}

type order struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (u *user) signUp(ctx context.Context) error {
	return u.do(ctx, "POST", "/api/users/signup", map[string]string{"email": u.email, "password": u.password}, nil, http.StatusCreated)
}

func (u *user) signIn(ctx context.Context) error {
	return u.do(ctx, "POST", "/api/users/signin", map[string]string{"email": u.email, "password": u.password}, nil, http.StatusOK)
}

func (u *user) createTicket(ctx context.Context) (ticket, error) {
	var t ticket
	err := u.do(ctx, "POST", "/api/tickets", map[string]any{"title": "load test concert", "price": 20}, &t, http.StatusCreated)
	return t, err
}

func (u *user) showTicket(ctx context.Context, id string) (ticket, error) {
	var t ticket
	err := u.do(ctx, "GET", "/api/tickets/"+id, nil, &t, http.StatusOK)
	return t, err
}

func (u *user) listTickets(ctx context.Context) (int, error) {
	var list []json.RawMessage
	err := u.do(ctx, "GET", "/api/tickets", nil, &list, http.StatusOK)
	return len(list), err
}

// listPage reads the first page of the listing, of at most limit tickets.
func (u *user) listPage(ctx context.Context, limit int) (int, error) {
	var list []json.RawMessage
	err := u.do(ctx, "GET", "/api/tickets?limit="+strconv.Itoa(limit), nil, &list, http.StatusOK)
	return len(list), err
}

func (u *user) createOrder(ctx context.Context, ticketID string) (order, error) {
	var o order
	err := u.do(ctx, "POST", "/api/orders", map[string]string{"ticketId": ticketID}, &o, http.StatusCreated)
	if err == nil {
		u.meter.placed(o, ticketID)
	}
	return o, err
}

func (u *user) showOrder(ctx context.Context, id string) (order, error) {
	var o order
	err := u.do(ctx, "GET", "/api/orders/"+id, nil, &o, http.StatusOK)
	return o, err
}

func (u *user) pay(ctx context.Context, orderID string) error {
	err := u.do(ctx, "POST", "/api/payments", map[string]string{"token": "tok_visa", "orderId": orderID}, nil, http.StatusCreated)
	if err == nil {
		u.meter.paid(orderID)
	}
	return err
}

// isStatus reports whether err is an answer with status code.
func isStatus(err error, code int) bool {
	se, ok := err.(*statusError)
	return ok && se.status == code
}
