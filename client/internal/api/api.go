// Package api is the web client's typed HTTP client of the ticketing REST
// API. Pages call it from the server on behalf of a browser: every call
// forwards that browser's session cookie, Host, request id and address, has a
// timeout, and returns an *Error carrying the API's common error shape when
// the API says no.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"ticketing.dev/common/events"
)

// SessionCookie is the name of the cookie that carries the signed-in user.
const SessionCookie = "session"

// Timeouts of one call. A payment gets longer because the payments service
// gives Stripe up to 20 s; it still ends before the client's own server
// gives up writing the page (30 s).
const (
	DefaultTimeout = 10 * time.Second
	PaymentTimeout = 25 * time.Second
)

// maxBody bounds what the client reads of an answer that is one object: a
// ticket, an order, a user, a payment, an error. Each is a few kilobytes at
// most.
const maxBody = 1 << 20

// MaxTitleLen is the longest title the API accepts, in characters
// (openapi.yaml: title maxLength).
const MaxTitleLen = 200

// maxItemBytes bounds one ticket or order of a listing as JSON: the title
// at six bytes a character (JSON escapes such as \u003c for "<", which is
// how Go's encoder writes it, or \u2028 are the longest any character
// becomes) and 512 bytes for everything else, where ids, the price, the
// version, the status and expiresAt need under 300 together.
const maxItemBytes = 6*MaxTitleLen + 512

// ListBodyLimit is the most the client reads of one page of a listing of
// limit items: what the longest items fill, and a kilobyte for the array
// around them. An answer that is longer is no page of limit items, and is
// refused with ErrTooLarge rather than read without end.
func ListBodyLimit(limit int) int64 {
	return int64(limit)*maxItemBytes + 1<<10
}

// ErrTooLarge is an answer of the API longer than the client reads of it.
var ErrTooLarge = errors.New("api: answer too large")

// Client calls the API at one base URL.
type Client struct {
	base *url.URL
	http *http.Client
}

// New returns a Client of the API at baseURL, such as http://gateway:8080,
// sending its requests through hc (http.DefaultClient when nil).
func New(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("api: base URL must be an http(s) URL with a host, got %q", baseURL)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: u, http: hc}, nil
}

// Caller is the browser on whose behalf a call is made.
type Caller struct {
	// Session is the value of the browser's session cookie; empty when it
	// has none.
	Session string
	// Host is the host the browser asked for. It is sent on, as the
	// original client sent the browser's headers, so that an ingress that
	// routes by host (ticketing.dev) matches the client's calls too.
	Host string
	// RequestID ties the API's log lines to the page's.
	RequestID string
	// ForwardedFor is the browser's address, sent as X-Forwarded-For: the
	// API's per-address limits are meant for the browser, not for the
	// client that calls on its behalf. It is one address that the client
	// vouches for, never a chain the browser could have written; a proxy
	// between the client and the API (the ingress) appends the client's
	// own address, and the API believes the entry only from the client's
	// and that proxy's addresses (auth's TRUSTED_PROXIES).
	ForwardedFor string
	// Proto is the scheme the browser used, sent as X-Forwarded-Proto. An
	// ingress that redirects plain HTTP to HTTPS (ingress-nginx does for a
	// host with TLS, judging by that header when it trusts forwarded
	// headers) would otherwise redirect the client's own calls, made in
	// plain HTTP inside the cluster, to the public https:// address.
	Proto string
}

// Detail is one entry of the API's common error shape.
type Detail struct {
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Error is an answer of the API with a status of 400 or more, carrying the
// messages of its common error shape {"errors":[{message, field}]}.
type Error struct {
	Status int
	Errors []Detail
}

func (e *Error) Error() string {
	msgs := make([]string, len(e.Errors))
	for i, d := range e.Errors {
		msgs[i] = d.Message
		if d.Field != "" {
			msgs[i] += " (" + d.Field + ")"
		}
	}
	return fmt.Sprintf("api: status %d: %s", e.Status, strings.Join(msgs, "; "))
}

// HasStatus reports whether err is an *Error with the given status.
func HasStatus(err error, status int) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Status == status
}

// User is a signed-in user.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

// Ticket is a ticket for sale. OrderID is set while an order holds it.
type Ticket struct {
	ID      string       `json:"id"`
	Title   string       `json:"title"`
	Price   events.Money `json:"price"`
	UserID  string       `json:"userId"`
	Version int          `json:"version"`
	OrderID string       `json:"orderId,omitempty"`
}

// TicketInput is what a seller writes: the price as typed, since the API
// validates it and accepts a string holding a number, as the original
// client sent form input.
type TicketInput struct {
	Title string `json:"title"`
	Price string `json:"price"`
}

// OrderTicket is the ticket as an order embeds it.
type OrderTicket struct {
	ID      string       `json:"id"`
	Title   string       `json:"title"`
	Price   events.Money `json:"price"`
	Version int          `json:"version"`
}

// Order is a buyer's order of one ticket.
type Order struct {
	ID        string             `json:"id"`
	UserID    string             `json:"userId"`
	Status    events.OrderStatus `json:"status"`
	ExpiresAt events.Time        `json:"expiresAt"`
	Version   int                `json:"version"`
	Ticket    OrderTicket        `json:"ticket"`
}

// Payment is a charge of an order. Pay answers with its ID alone;
// OrderPayment fills in the rest.
type Payment struct {
	ID      string `json:"id"`
	OrderID string `json:"orderId,omitempty"`
	// Status is pending, succeeded, refunding or refunded.
	Status string       `json:"status,omitempty"`
	Amount events.Money `json:"amount,omitempty"`
	Refund *Refund      `json:"refund,omitempty"`
}

// The statuses of a payment that the pages tell apart.
const (
	PaymentRefunding = "refunding"
	PaymentRefunded  = "refunded"
)

// Refund is the refund of a payment.
type Refund struct {
	ID         string      `json:"id"`
	RefundedAt events.Time `json:"refundedAt"`
}

// SignedIn is the answer to a sign-up or sign-in: the user and the
// Set-Cookie lines the browser must receive to hold the session.
type SignedIn struct {
	User      User
	SetCookie []string
}

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// SignUp registers a user and signs them in.
func (c *Client) SignUp(ctx context.Context, who Caller, email, password string) (SignedIn, error) {
	return c.signIn(ctx, who, "/api/users/signup", email, password)
}

// SignIn signs a user in.
func (c *Client) SignIn(ctx context.Context, who Caller, email, password string) (SignedIn, error) {
	return c.signIn(ctx, who, "/api/users/signin", email, password)
}

func (c *Client) signIn(ctx context.Context, who Caller, path, email, password string) (SignedIn, error) {
	var out SignedIn
	resp, err := c.do(ctx, who, http.MethodPost, path, credentials{Email: email, Password: password}, &out.User, DefaultTimeout)
	if err != nil {
		return SignedIn{}, err
	}
	out.SetCookie = resp.Header.Values("Set-Cookie")
	return out, nil
}

// SignOut ends the session and returns the Set-Cookie lines that clear it.
func (c *Client) SignOut(ctx context.Context, who Caller) ([]string, error) {
	resp, err := c.do(ctx, who, http.MethodPost, "/api/users/signout", struct{}{}, nil, DefaultTimeout)
	if err != nil {
		return nil, err
	}
	return resp.Header.Values("Set-Cookie"), nil
}

// CurrentUser returns the signed-in user, or nil when the caller is not
// signed in. A caller without a session cookie costs no call.
func (c *Client) CurrentUser(ctx context.Context, who Caller) (*User, error) {
	if who.Session == "" {
		return nil, nil
	}
	var body struct {
		CurrentUser *User `json:"currentUser"`
	}
	if _, err := c.do(ctx, who, http.MethodGet, "/api/users/currentuser", nil, &body, DefaultTimeout); err != nil {
		return nil, err
	}
	return body.CurrentUser, nil
}

// Tickets returns one page of the tickets on sale.
func (c *Client) Tickets(ctx context.Context, who Caller, p PageRequest) (Page[Ticket], error) {
	return list[Ticket](ctx, c, who, "/api/tickets", p)
}

// Ticket returns one ticket.
func (c *Client) Ticket(ctx context.Context, who Caller, id string) (Ticket, error) {
	var out Ticket
	_, err := c.do(ctx, who, http.MethodGet, "/api/tickets/"+url.PathEscape(id), nil, &out, DefaultTimeout)
	return out, err
}

// CreateTicket puts a ticket on sale.
func (c *Client) CreateTicket(ctx context.Context, who Caller, in TicketInput) (Ticket, error) {
	var out Ticket
	_, err := c.do(ctx, who, http.MethodPost, "/api/tickets", in, &out, DefaultTimeout)
	return out, err
}

// UpdateTicket changes the title and price of the caller's ticket.
func (c *Client) UpdateTicket(ctx context.Context, who Caller, id string, in TicketInput) (Ticket, error) {
	var out Ticket
	_, err := c.do(ctx, who, http.MethodPut, "/api/tickets/"+url.PathEscape(id), in, &out, DefaultTimeout)
	return out, err
}

// Orders returns one page of the caller's orders.
func (c *Client) Orders(ctx context.Context, who Caller, p PageRequest) (Page[Order], error) {
	return list[Order](ctx, c, who, "/api/orders", p)
}

// Order returns one of the caller's orders.
func (c *Client) Order(ctx context.Context, who Caller, id string) (Order, error) {
	var out Order
	_, err := c.do(ctx, who, http.MethodGet, "/api/orders/"+url.PathEscape(id), nil, &out, DefaultTimeout)
	return out, err
}

// CreateOrder reserves a ticket for the caller.
func (c *Client) CreateOrder(ctx context.Context, who Caller, ticketID string) (Order, error) {
	var out Order
	_, err := c.do(ctx, who, http.MethodPost, "/api/orders", map[string]string{"ticketId": ticketID}, &out, DefaultTimeout)
	return out, err
}

// CancelOrder cancels one of the caller's unpaid orders.
func (c *Client) CancelOrder(ctx context.Context, who Caller, id string) error {
	_, err := c.do(ctx, who, http.MethodDelete, "/api/orders/"+url.PathEscape(id), nil, nil, DefaultTimeout)
	return err
}

// Pay charges the card that token stands for with the order's price.
func (c *Client) Pay(ctx context.Context, who Caller, orderID, token string) (Payment, error) {
	var out Payment
	body := map[string]string{"orderId": orderID, "token": token}
	_, err := c.do(ctx, who, http.MethodPost, "/api/payments", body, &out, PaymentTimeout)
	return out, err
}

// OrderPayment returns the payment of one of the caller's orders; an order
// without one is a 404.
func (c *Client) OrderPayment(ctx context.Context, who Caller, orderID string) (Payment, error) {
	var out Payment
	_, err := c.do(ctx, who, http.MethodGet, "/api/payments/"+url.PathEscape(orderID), nil, &out, DefaultTimeout)
	return out, err
}

// do sends one request and decodes a successful JSON answer into out, when
// given. The answer's body has been read and closed when do returns.
func (c *Client) do(ctx context.Context, who Caller, method, path string, in, out any, timeout time.Duration) (*http.Response, error) {
	return c.doLimited(ctx, who, method, path, in, out, timeout, maxBody)
}

// doLimited is do reading at most limit bytes of a successful answer; a
// longer one fails with ErrTooLarge.
func (c *Client) doLimited(ctx context.Context, who Caller, method, path string, in, out any, timeout time.Duration, limit int64) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("api: encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return nil, fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if who.Host != "" {
		req.Host = who.Host
	}
	if who.RequestID != "" {
		req.Header.Set("X-Request-Id", who.RequestID)
	}
	if who.ForwardedFor != "" {
		req.Header.Set("X-Forwarded-For", who.ForwardedFor)
	}
	if who.Proto != "" {
		req.Header.Set("X-Forwarded-Proto", who.Proto)
	}
	if who.Session != "" {
		// Only the session travels: other cookies of the browser are none
		// of the API's business.
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: who.Session})
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= http.StatusBadRequest {
		// Only the status and the common shape matter: an error page
		// that is longer is cut short and judged by its status.
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		return nil, decodeError(resp.StatusCode, raw)
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("api: %s %s: %d bytes, over %d: %w", method, path, resp.ContentLength, limit, ErrTooLarge)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("api: read %s %s: %w", method, path, err)
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("api: %s %s: over %d bytes: %w", method, path, limit, ErrTooLarge)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("api: decode %s %s: %w", method, path, err)
		}
	}
	return resp, nil
}

// decodeError reads the common error shape. An answer without it, such as
// a proxy's own error page, still becomes an *Error with its status, so
// that callers decide on the status alone.
func decodeError(status int, raw []byte) *Error {
	var body struct {
		Errors []Detail `json:"errors"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || len(body.Errors) == 0 {
		return &Error{Status: status, Errors: []Detail{{Message: http.StatusText(status)}}}
	}
	return &Error{Status: status, Errors: body.Errors}
}
