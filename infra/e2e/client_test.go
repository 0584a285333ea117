package e2e_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// user is an API client with its own cookie jar, as a browser would be.
type user struct {
	t     testing.TB
	base  string
	http  *http.Client
	email string
}

func newUser(t testing.TB, base string) *user {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &user{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// do sends a JSON request and decodes a JSON answer into out, if given.
func (u *user) do(method, path string, body any, out any) int {
	u.t.Helper()
	if body == nil {
		return u.send(method, path, nil, nil, out)
	}
	b, err := json.Marshal(body)
	require.NoError(u.t, err)
	return u.send(method, path, http.Header{"Content-Type": {"application/json"}}, b, out)
}

// send sends reqBody, if any, with the given headers and decodes a JSON
// answer into out, if given.
func (u *user) send(method, path string, header http.Header, reqBody []byte, out any) int {
	u.t.Helper()
	var rd io.Reader
	if reqBody != nil {
		rd = bytes.NewReader(reqBody)
	}
	req, err := http.NewRequest(method, u.base+path, rd)
	require.NoError(u.t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := u.http.Do(req)
	require.NoError(u.t, err, "%s %s", method, path)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(u.t, err)
	// The jar added the session cookie to req; the document's security
	// schemes are checked with it.
	checkExchange(u.t, req, reqBody, resp, raw)
	if out != nil && len(raw) > 0 && resp.StatusCode < 300 {
		require.NoError(u.t, json.Unmarshal(raw, out), "%s %s: %s", method, path, raw)
	}
	if resp.StatusCode >= 500 {
		u.t.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

type ticket struct {
	ID      string  `json:"id"`
	Title   string  `json:"title"`
	Price   float64 `json:"price"`
	UserID  string  `json:"userId"`
	Version int     `json:"version"`
	OrderID string  `json:"orderId"`
}

type order struct {
	ID        string `json:"id"`
	UserID    string `json:"userId"`
	Status    string `json:"status"`
	ExpiresAt string `json:"expiresAt"`
	Version   int    `json:"version"`
	Ticket    ticket `json:"ticket"`
}

type payment struct {
	ID       string  `json:"id"`
	OrderID  string  `json:"orderId"`
	Status   string  `json:"status"`
	Amount   float64 `json:"amount"`
	StripeID string  `json:"stripeId"`
	Refund   *struct {
		ID         string `json:"id"`
		RefundedAt string `json:"refundedAt"`
	} `json:"refund"`
}

var seq int

func (u *user) signUp() {
	u.t.Helper()
	seq++
	u.email = "user" + time.Now().Format("150405.000000") + "-" + string(rune('a'+seq%26)) + "@example.com"
	var body struct{ ID, Email string }
	require.Equal(u.t, http.StatusCreated, u.do("POST", "/api/users/signup", map[string]string{"email": u.email, "password": "password"}, &body))
}

func (u *user) sell(title string, price float64) ticket {
	u.t.Helper()
	var tk ticket
	require.Equal(u.t, http.StatusCreated, u.do("POST", "/api/tickets", map[string]any{"title": title, "price": price}, &tk))
	return tk
}

func (u *user) ticket(id string) ticket {
	u.t.Helper()
	var tk ticket
	require.Equal(u.t, http.StatusOK, u.do("GET", "/api/tickets/"+id, nil, &tk))
	return tk
}

func (u *user) order(id string) order {
	u.t.Helper()
	var o order
	require.Equal(u.t, http.StatusOK, u.do("GET", "/api/orders/"+id, nil, &o))
	return o
}

func (u *user) listed(id string) bool {
	u.t.Helper()
	var list []ticket
	require.Equal(u.t, http.StatusOK, u.do("GET", "/api/tickets", nil, &list))
	for _, tk := range list {
		if tk.ID == id {
			return true
		}
	}
	return false
}

// eventually polls cond every 50 ms for up to limit.
func eventually(t testing.TB, limit time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", limit, msg)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}
