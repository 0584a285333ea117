package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"sync"
	"time"

	"ticketing.dev/common/events"
	"ticketing.dev/infra/routes"
)

// request is one API call as the load saw it.
type request struct {
	method, path string
	// service is the one the gateway routes the path to.
	service    string
	start, end time.Time
	// status is the HTTP status, 0 when no answer came.
	status int
	err    error
}

// recorder keeps every request of the run.
type recorder struct {
	mu   sync.Mutex
	reqs []request
}

func (r *recorder) add(req request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
}

func (r *recorder) all() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.reqs...)
}

// user is an API client with its own session, as a browser would be.
type user struct {
	id   string
	http *http.Client
	base string
	rec  *recorder
}

func newUser(base string, rec *recorder) *user {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &user{base: base, rec: rec, http: &http.Client{Jar: jar, Timeout: time.Minute}}
}

// do sends a JSON request, records it, and decodes a 2xx answer into out.
func (u *user) do(ctx context.Context, method, path string, body, out any) int {
	req := request{method: method, path: path, start: time.Now()}
	req.service, _ = routes.Match(path)
	req.status, req.err = u.send(ctx, method, path, body, out)
	req.end = time.Now()
	if ctx.Err() != nil && req.status == 0 {
		return 0 // cut off by the end of the run, not by the system
	}
	u.rec.add(req)
	return req.status
}

func (u *user) send(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	hr, err := http.NewRequestWithContext(ctx, method, u.base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	resp, err := u.http.Do(hr)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode < 300 && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode %s: %w", method, path, raw, err)
		}
	}
	return resp.StatusCode, nil
}

// signUp creates the user's account; it reports the status.
func (u *user) signUp(ctx context.Context, email string) int {
	var body struct{ ID string }
	status := u.do(ctx, http.MethodPost, "/api/users/signup", map[string]string{"email": email, "password": "password"}, &body)
	if status == http.StatusCreated {
		u.id = body.ID
	}
	return status
}

type ticket struct {
	ID      string       `json:"id"`
	Title   string       `json:"title"`
	Price   events.Money `json:"price"`
	UserID  string       `json:"userId"`
	Version int64        `json:"version"`
	OrderID string       `json:"orderId"`
}

type order struct {
	ID        string             `json:"id"`
	Status    events.OrderStatus `json:"status"`
	ExpiresAt time.Time          `json:"expiresAt"`
	Ticket    ticket             `json:"ticket"`
}
