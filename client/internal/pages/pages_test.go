package pages_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/client/internal/api"
	"ticketing.dev/client/internal/pages"
	"ticketing.dev/common/web"
)

// These tests render pages against a small server standing in for the
// REST API, for the edge cases the browser stories against the real stack
// (infra/e2e/browser_test.go) do not reach cheaply.

// now is the client's clock in these tests.
var now = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

const (
	ticketID = "6b06fc3abc0b433688739133"
	orderID  = "6b06fc43a409daeec958def7"
	userID   = "6b06fb48b47da823c56f8461"
)

// site is the client in front of an API stand-in.
type site struct {
	t   *testing.T
	api *http.ServeMux
	url string
	// currentUserCalls counts the API's currentuser answers.
	currentUserCalls atomic.Int64
}

// newSite starts the client's pages. The stand-in API knows the browser as
// signed in when it sends a session cookie, and answers only the routes a
// test adds; the others are 404s in the common shape.
func newSite(t *testing.T, configure ...func(*pages.Config)) *site {
	t.Helper()
	s := &site{t: t, api: http.NewServeMux()}
	s.api.HandleFunc("GET /api/users/currentuser", func(w http.ResponseWriter, r *http.Request) {
		s.currentUserCalls.Add(1)
		if _, err := r.Cookie("session"); err != nil {
			writeJSON(w, http.StatusOK, map[string]any{"currentUser": nil})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"currentUser": map[string]any{"id": userID, "email": "me@example.com", "iat": 1}})
	})
	s.api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorsBody(api.Detail{Message: "Not Found"}))
	})
	apiSrv := httptest.NewServer(s.api)
	t.Cleanup(apiSrv.Close)
	client, err := api.New(apiSrv.URL, apiSrv.Client())
	require.NoError(t, err)

	cfg := pages.Config{API: client, Assets: os.DirFS("../.."), Now: func() time.Time { return now }}
	for _, c := range configure {
		c(&cfg)
	}
	srv, err := pages.New(cfg)
	require.NoError(t, err)
	r := web.NewRouter(web.Nop)
	srv.Routes(r)
	front := httptest.NewServer(r)
	t.Cleanup(front.Close)
	s.url = front.URL
	return s
}

// answer is a page as the browser gets it.
type answer struct {
	status int
	header http.Header
	body   string
}

// do sends a request as a browser would, signed in when signedIn is set,
// and does not follow redirects.
func (s *site) do(method, path string, form url.Values, signedIn bool, header ...string) answer {
	s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.url+path, body)
	require.NoError(s.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if signedIn {
		req.AddCookie(&http.Cookie{Name: "session", Value: "token"})
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (s *site) get(path string, signedIn bool) answer {
	return s.do(http.MethodGet, path, nil, signedIn)
}

func (s *site) post(path string, form url.Values, signedIn bool) answer {
	if form == nil {
		form = url.Values{}
	}
	return s.do(http.MethodPost, path, form, signedIn)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func errorsBody(details ...api.Detail) map[string]any {
	return map[string]any{"errors": details}
}

// respond answers a route of the stand-in API with a fixed status and body.
func (s *site) respond(pattern string, status int, body any) {
	s.api.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, status, body) })
}

func ticketJSON(price any, orderID string) map[string]any {
	t := map[string]any{"id": ticketID, "title": "Concert", "price": price, "userId": "6b06fb48b47da823c56f0000", "version": 0}
	if orderID != "" {
		t["orderId"] = orderID
	}
	return t
}

func orderJSON(id, status string, expiresAt time.Time) map[string]any {
	return map[string]any{
		"id": id, "userId": userID, "status": status, "version": 0,
		"expiresAt": expiresAt.UTC().Format("2006-01-02T15:04:05.000Z"),
		"ticket":    map[string]any{"id": ticketID, "title": "Concert", "price": 20.5, "version": 1},
	}
}

func TestHome_ListsTicketsWithPricesInTwoDecimalsAndTitlesEscaped(t *testing.T) {
	s := newSite(t)
	s.respond("GET /api/tickets", http.StatusOK, []any{
		map[string]any{"id": ticketID, "title": "<b>Gig</b>", "price": 20.5, "userId": userID, "version": 0},
		map[string]any{"id": orderID, "title": "Final", "price": 1234567, "userId": userID, "version": 0},
	})

	a := s.get("/", false)

	assert.Equal(t, http.StatusOK, a.status)
	assert.Contains(t, a.body, `<a href="/tickets/`+ticketID+`">&lt;b&gt;Gig&lt;/b&gt;</a>`)
	assert.Contains(t, a.body, "$20.50")
	assert.Contains(t, a.body, "$1,234,567.00")
	assert.Equal(t, "no-store", a.header.Get("Cache-Control"))
}

func TestHeader_ShowsLinksBySession(t *testing.T) {
	s := newSite(t)
	s.respond("GET /api/tickets", http.StatusOK, []any{})

	out := s.get("/", false)
	assert.Contains(t, out.body, `href="/auth/signup"`)
	assert.Contains(t, out.body, `href="/auth/signin"`)
	assert.NotContains(t, out.body, "Sign out")
	assert.Zero(t, s.currentUserCalls.Load(), "no cookie, no question to the API")

	in := s.get("/", true)
	assert.Contains(t, in.body, `href="/tickets/new"`)
	assert.Contains(t, in.body, `href="/orders"`)
	assert.Contains(t, in.body, `<form method="post" action="/auth/signout"`)
	assert.Contains(t, in.body, "me@example.com")
	assert.NotContains(t, in.body, `href="/auth/signin"`)
}

func TestSignIn_ShowsEachMessageBesideItsFieldAndFocusesTheFirst(t *testing.T) {
	s := newSite(t)
	s.respond("POST /api/users/signin", http.StatusBadRequest, errorsBody(
		api.Detail{Message: "Email must be valid", Field: "email"},
		api.Detail{Message: "You must supply a password", Field: "password"},
	))

	a := s.post("/auth/signin", url.Values{"email": {"nope"}, "password": {""}}, false)

	assert.Equal(t, http.StatusBadRequest, a.status)
	assert.Contains(t, a.body, `<p class="field-error" id="email-error"><span class="visually-hidden">Error: </span>Email must be valid</p>`)
	assert.Contains(t, a.body, `<p class="field-error" id="password-error"><span class="visually-hidden">Error: </span>You must supply a password</p>`)
	assert.Regexp(t, `<input id="email"[^>]* value="nope" aria-invalid="true" aria-describedby="email-error" autofocus>`, a.body)
	assert.Regexp(t, `<input id="password"[^>]* aria-describedby="password-error" aria-invalid="true">`, a.body)
	assert.NotContains(t, a.body, "error-summary", "no message without a field")
}

func TestSignIn_ShowsAMessageWithoutFieldAboveTheForm(t *testing.T) {
	s := newSite(t)
	s.respond("POST /api/users/signin", http.StatusBadRequest, errorsBody(api.Detail{Message: "Invalid credentials"}))

	a := s.post("/auth/signin", url.Values{"email": {"a@b.co"}, "password": {"wrong"}}, false)

	assert.Equal(t, http.StatusBadRequest, a.status)
	assert.Regexp(t, `(?s)<div class="error-summary" role="alert"[^>]*autofocus>.*Invalid credentials.*</div>\s*<form method="post" action="/auth/signin"`, a.body)
	assert.Regexp(t, `<input id="email"[^>]* value="a@b.co">`, a.body, "the email is kept")
	assert.Regexp(t, `<input id="password" name="password" type="password"\s+autocomplete="current-password">`, a.body, "the password is not")
}

func TestSignUp_PassesTheSessionCookieOnAndGoesWhereTheUserWasGoing(t *testing.T) {
	const cookie = "session=eyJqd3QiOiJ4In0=; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax"
	s := newSite(t)
	var sent map[string]string
	s.api.HandleFunc("POST /api/users/signup", func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, json.NewDecoder(r.Body).Decode(&sent))
		w.Header().Add("Set-Cookie", cookie)
		writeJSON(w, http.StatusCreated, map[string]string{"id": userID, "email": "a@b.co"})
	})

	a := s.post("/auth/signup", url.Values{"email": {"a@b.co"}, "password": {"secret"}, "next": {"/tickets/" + ticketID}}, false)

	assert.Equal(t, http.StatusSeeOther, a.status)
	assert.Equal(t, "/tickets/"+ticketID, a.header.Get("Location"))
	assert.Equal(t, []string{cookie}, a.header.Values("Set-Cookie"))
	assert.Equal(t, map[string]string{"email": "a@b.co", "password": "secret"}, sent)
}

func TestSignIn_NeverReturnsToAnotherSite(t *testing.T) {
	s := newSite(t)
	s.respond("POST /api/users/signin", http.StatusOK, map[string]string{"id": userID, "email": "a@b.co"})
	for next, want := range map[string]string{
		"":                     "/",
		"/orders?x=1":          "/orders?x=1",
		"//evil.example":       "/",
		`/\evil.example`:       "/",
		"https://evil.example": "/",
		"orders":               "/",
		"/\r\nSet-Cookie: a=b": "/",
	} {
		a := s.post("/auth/signin", url.Values{"email": {"a@b.co"}, "password": {"pw"}, "next": {next}}, false)
		assert.Equal(t, want, a.header.Get("Location"), "next %q", next)
	}
}

func TestSignOut_ClearsTheCookieEvenWhenTheAPIFails(t *testing.T) {
	s := newSite(t)
	s.respond("POST /api/users/signout", http.StatusInternalServerError, errorsBody(api.Detail{Message: "Something went wrong"}))

	a := s.post("/auth/signout", nil, true)

	assert.Equal(t, http.StatusSeeOther, a.status)
	assert.Equal(t, "/", a.header.Get("Location"))
	require.Len(t, a.header.Values("Set-Cookie"), 1)
	assert.Regexp(t, `^session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax$`, a.header.Get("Set-Cookie"))
}

func TestSignOutPage_AsksBeforeSigningOut(t *testing.T) {
	s := newSite(t)

	a := s.get("/auth/signout", true)

	assert.Equal(t, http.StatusOK, a.status)
	assert.Contains(t, a.body, `<form method="post" action="/auth/signout">`)
	assert.Empty(t, a.header.Values("Set-Cookie"))
}

func TestForms_RefuseAPostFromAnotherSite(t *testing.T) {
	s := newSite(t)
	called := false
	s.api.HandleFunc("POST /api/users/signout", func(w http.ResponseWriter, r *http.Request) { called = true })

	a := s.do(http.MethodPost, "/auth/signout", url.Values{}, true, "Sec-Fetch-Site", "cross-site")

	assert.Equal(t, http.StatusForbidden, a.status)
	assert.Contains(t, a.body, "This form was sent from another site")
	assert.False(t, called)
}

func TestProtectedPage_SendsASignedOutVisitorToSignInAndBack(t *testing.T) {
	s := newSite(t)
	s.respond("GET /api/orders", http.StatusUnauthorized, errorsBody(api.Detail{Message: "Not authorized"}))

	a := s.get("/orders", false)

	assert.Equal(t, http.StatusSeeOther, a.status)
	assert.Equal(t, "/auth/signin?next=%2Forders", a.header.Get("Location"))

	form := s.get("/auth/signin?next=%2Forders", false)
	assert.Contains(t, form.body, `<input type="hidden" name="next" value="/orders">`)
}

func TestOrder_OfAnotherUserIsNotFound(t *testing.T) {
	s := newSite(t)
	s.respond("GET /api/orders/"+orderID, http.StatusUnauthorized, errorsBody(api.Detail{Message: "Not authorized"}))

	a := s.get("/orders/"+orderID, true)

	assert.Equal(t, http.StatusNotFound, a.status)
	assert.Contains(t, a.body, "Page not found")
}

func TestErrorPages_AreFriendlyHTML(t *testing.T) {
	s := newSite(t)

	for _, path := range []string{"/nowhere", "/tickets/not-an-id", "/tickets/" + ticketID, "/static/", "/static/../templates/layout.html"} {
		a := s.get(path, false)
		assert.Equal(t, http.StatusNotFound, a.status, path)
		assert.Equal(t, "text/html; charset=utf-8", a.header.Get("Content-Type"), path)
		assert.Contains(t, a.body, "<h1>Page not found</h1>", path)
	}
}

func TestErrorPage_TellsNothingOfAFault(t *testing.T) {
	s := newSite(t)
	s.api.HandleFunc("GET /api/tickets", func(w http.ResponseWriter, r *http.Request) {
		// A connection dropped mid-answer: a transport error with details.
		panic(http.ErrAbortHandler)
	})

	a := s.get("/", false)

	assert.Equal(t, http.StatusInternalServerError, a.status)
	assert.Contains(t, a.body, "<h1>Something went wrong</h1>")
	assert.Regexp(t, `quote reference <code>[0-9a-f]+</code>`, a.body)
	for _, detail := range []string{"EOF", "127.0.0.1", "api:", "goroutine"} {
		assert.NotContains(t, a.body, detail)
	}
}

func TestTicket_ShowsPurchaseToABuyerEditToItsSellerAndSignInToOthers(t *testing.T) {
	s := newSite(t)
	s.respond("GET /api/tickets/"+ticketID, http.StatusOK, ticketJSON(20.5, ""))

	buyer := s.get("/tickets/"+ticketID, true)
	assert.Contains(t, buyer.body, `<form method="post" action="/tickets/`+ticketID+`/purchase"`)
	assert.Contains(t, buyer.body, "$20.50")
	assert.NotContains(t, buyer.body, "/edit")

	visitor := s.get("/tickets/"+ticketID, false)
	assert.NotContains(t, visitor.body, "/purchase")
	assert.Contains(t, visitor.body, `href="/auth/signin?next=/tickets/`+ticketID+`"`)

	seller := newSite(t)
	tk := ticketJSON(20.5, "")
	tk["userId"] = userID
	seller.respond("GET /api/tickets/"+ticketID, http.StatusOK, tk)
	mine := seller.get("/tickets/"+ticketID, true)
	assert.Contains(t, mine.body, `href="/tickets/`+ticketID+`/edit"`)
	assert.NotContains(t, mine.body, "/purchase")
}

func TestTicket_ReservedByTheViewerLeadsToTheirOrder(t *testing.T) {
	s := newSite(t)
	s.respond("GET /api/tickets/"+ticketID, http.StatusOK, ticketJSON(20.5, orderID))
	s.respond("GET /api/orders/"+orderID, http.StatusOK, orderJSON(orderID, "created", now.Add(time.Minute)))

	a := s.get("/tickets/"+ticketID, true)

	assert.Contains(t, a.body, `href="/orders/`+orderID+`"`)
	assert.NotContains(t, a.body, "/purchase")
}

func TestPurchase_OpensTheOrder(t *testing.T) {
	s := newSite(t)
	var sent map[string]string
	s.api.HandleFunc("POST /api/orders", func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, json.NewDecoder(r.Body).Decode(&sent))
		writeJSON(w, http.StatusCreated, orderJSON(orderID, "created", now.Add(time.Minute)))
	})

	a := s.post("/tickets/"+ticketID+"/purchase", nil, true)

	assert.Equal(t, http.StatusSeeOther, a.status)
	assert.Equal(t, "/orders/"+orderID, a.header.Get("Location"))
	assert.Equal(t, map[string]string{"ticketId": ticketID}, sent)
}

func TestPurchase_ReservedTicketIsSaidSoOnItsPage(t *testing.T) {
	s := newSite(t)
	s.respond("POST /api/orders", http.StatusBadRequest, errorsBody(api.Detail{Message: "Ticket is already reserved"}))
	s.respond("GET /api/tickets/"+ticketID, http.StatusOK, ticketJSON(20.5, ""))

	a := s.post("/tickets/"+ticketID+"/purchase", nil, true)

	assert.Equal(t, http.StatusBadRequest, a.status)
	assert.Contains(t, a.body, "<h1>Concert</h1>")
	assert.Regexp(t, `(?s)role="alert".*Ticket is already reserved`, a.body)
}

func TestOrder_CountsDownFromTheServersClockAndOffersTestModePayment(t *testing.T) {
	s := newSite(t)
	s.respond("GET /api/orders/"+orderID, http.StatusOK, orderJSON(orderID, "created", now.Add(90*time.Second+500*time.Millisecond)))

	a := s.get("/orders/"+orderID, true)

	assert.Equal(t, http.StatusOK, a.status)
	assert.Contains(t, a.body, `<p id="countdown" class="countdown" data-ms-left="90500">91 seconds until order expires</p>`)
	assert.Contains(t, a.body, `<p id="order-status" class="status-message" role="status"></p>`, "the live region waits for Order expired")
	assert.Contains(t, a.body, "<strong>Test mode.</strong>")
	assert.Contains(t, a.body, `<input type="hidden" name="token" value="tok_visa">`)
	assert.Contains(t, a.body, `>Pay with test card</button>`)
	assert.NotContains(t, a.body, "js.stripe.com")
}

func TestOrder_WithAPublishableKeyPaysThroughStripeElements(t *testing.T) {
	s := newSite(t, func(c *pages.Config) { c.StripeKey = "pk_test_123" })
	s.respond("GET /api/orders/"+orderID, http.StatusOK, orderJSON(orderID, "created", now.Add(time.Minute)))

	a := s.get("/orders/"+orderID, true)

	assert.Contains(t, a.body, `<script src="https://js.stripe.com/v3/" defer></script>`)
	assert.Contains(t, a.body, `data-stripe-key="pk_test_123"`)
	assert.Contains(t, a.body, `<div id="card-element"`)
	assert.NotContains(t, a.body, "tok_visa")
	assert.NotContains(t, a.body, "Test mode")
}

func TestOrder_ShowsWhatBecameOfIt(t *testing.T) {
	for _, c := range []struct {
		status    string
		expiresAt time.Time
		want      string
	}{
		{"created", now.Add(-time.Millisecond), "Order expired"},
		{"cancelled", now.Add(-time.Second), "Order expired"},
		{"cancelled", now.Add(time.Minute), "Order cancelled"},
		{"complete", now.Add(-time.Minute), "Paid: this order is complete."},
	} {
		s := newSite(t)
		s.respond("GET /api/orders/"+orderID, http.StatusOK, orderJSON(orderID, c.status, c.expiresAt))

		a := s.get("/orders/"+orderID, true)

		assert.Regexp(t, `<p id="order-status" class="status-message[^"]*" role="status">`+regexp.QuoteMeta(c.want)+`</p>`, a.body, c.status)
		assert.NotContains(t, a.body, `id="payment"`, c.status)
		assert.NotContains(t, a.body, "until order expires", c.status)
	}
}

func TestPay_SendsTheTokenAndLeadsToMyOrders(t *testing.T) {
	s := newSite(t)
	var sent map[string]string
	s.api.HandleFunc("POST /api/payments", func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, json.NewDecoder(r.Body).Decode(&sent))
		writeJSON(w, http.StatusCreated, map[string]string{"id": "p1"})
	})

	a := s.post("/orders/"+orderID+"/pay", url.Values{"token": {"tok_visa"}}, true)

	assert.Equal(t, http.StatusSeeOther, a.status)
	assert.Equal(t, "/orders?paid="+orderID, a.header.Get("Location"))
	assert.Equal(t, map[string]string{"orderId": orderID, "token": "tok_visa"}, sent)
}

func TestPay_RefusalIsShownOnTheOrderPage(t *testing.T) {
	s := newSite(t)
	s.respond("POST /api/payments", http.StatusBadRequest, errorsBody(api.Detail{Message: "Cannot pay for a cancelled order"}))
	s.respond("GET /api/orders/"+orderID, http.StatusOK, orderJSON(orderID, "cancelled", now.Add(-time.Second)))

	a := s.post("/orders/"+orderID+"/pay", url.Values{"token": {"tok_visa"}}, true)

	assert.Equal(t, http.StatusBadRequest, a.status)
	assert.Regexp(t, `(?s)role="alert".*Cannot pay for a cancelled order`, a.body)
	assert.Contains(t, a.body, "Order expired")
}

func TestOrders_OffersCancelOnlyOnUnpaidOrders(t *testing.T) {
	s := newSite(t)
	ids := []string{"000000000000000000000001", "000000000000000000000002", "000000000000000000000003", "000000000000000000000004"}
	s.respond("GET /api/orders", http.StatusOK, []any{
		orderJSON(ids[0], "created", now.Add(time.Minute)),
		orderJSON(ids[1], "created", now.Add(-time.Second)),
		orderJSON(ids[2], "complete", now.Add(-time.Minute)),
		orderJSON(ids[3], "cancelled", now.Add(-time.Minute)),
	})

	a := s.get("/orders", true)

	assert.Equal(t, http.StatusOK, a.status)
	assert.Contains(t, a.body, `action="/orders/`+ids[0]+`/cancel"`)
	for _, id := range ids[1:] {
		assert.NotContains(t, a.body, `action="/orders/`+id+`/cancel"`)
	}
	for _, label := range []string{"Awaiting payment", "Expired", "Complete", "Cancelled"} {
		assert.Contains(t, a.body, `<dd class="status">`+label+`</dd>`)
	}
	assert.Equal(t, 4, strings.Count(a.body, "Concert</a></h2>"), "each order names its ticket")
	assert.Equal(t, 4, strings.Count(a.body, "<dd>$20.50</dd>"))
}

func TestOrders_JustPaidOrderIsProcessingNotCancellable(t *testing.T) {
	s := newSite(t)
	s.respond("GET /api/orders", http.StatusOK, []any{orderJSON(orderID, "created", now.Add(time.Minute))})

	a := s.get("/orders?paid="+orderID, true)

	assert.Contains(t, a.body, "your payment for <strong>Concert</strong> was received")
	assert.Contains(t, a.body, `<dd class="status">Payment processing</dd>`)
	assert.NotContains(t, a.body, "/cancel")
}

func TestCancel_CancelsAndSaysSo(t *testing.T) {
	s := newSite(t)
	deleted := ""
	s.api.HandleFunc("DELETE /api/orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		deleted = r.PathValue("id")
		w.WriteHeader(http.StatusNoContent)
	})

	a := s.post("/orders/"+orderID+"/cancel", nil, true)

	assert.Equal(t, http.StatusSeeOther, a.status)
	assert.Equal(t, "/orders?cancelled="+orderID, a.header.Get("Location"))
	assert.Equal(t, orderID, deleted)
}

func TestSell_ShowsMessagesBesideTitleAndPrice(t *testing.T) {
	s := newSite(t)
	var sent map[string]any
	s.api.HandleFunc("POST /api/tickets", func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, json.NewDecoder(r.Body).Decode(&sent))
		writeJSON(w, http.StatusBadRequest, errorsBody(
			api.Detail{Message: "Title is required", Field: "title"},
			api.Detail{Message: "Price must have at most 2 decimal places", Field: "price"},
		))
	})

	a := s.post("/tickets/new", url.Values{"title": {""}, "price": {"10.999"}}, true)

	assert.Equal(t, http.StatusBadRequest, a.status)
	assert.Equal(t, map[string]any{"title": "", "price": "10.999"}, sent, "the price goes as typed; the API judges it")
	assert.Contains(t, a.body, `id="title-error"><span class="visually-hidden">Error: </span>Title is required</p>`)
	assert.Contains(t, a.body, `id="price-error"><span class="visually-hidden">Error: </span>Price must have at most 2 decimal places</p>`)
	assert.Regexp(t, `<input id="title"[^>]*aria-describedby="title-hint title-error" aria-invalid="true" autofocus>`, a.body)
	assert.Regexp(t, `<input id="price"[^>]*value="10.999"\s+aria-describedby="price-hint price-error" aria-invalid="true">`, a.body)
}

func TestSell_AtTheSellersLimitSaysSoAboveTheFormKeepingTheInput(t *testing.T) {
	const msg = "You already have 100 tickets for sale, the most one seller may have: wait until some are sold"
	s := newSite(t)
	s.respond("POST /api/tickets", http.StatusBadRequest, errorsBody(api.Detail{Message: msg}))

	a := s.post("/tickets/new", url.Values{"title": {"Gig"}, "price": {"10"}}, true)

	assert.Equal(t, http.StatusBadRequest, a.status)
	assert.Regexp(t, `(?s)<div class="error-summary" role="alert".*`+regexp.QuoteMeta(msg)+`.*</div>\s*<form`, a.body)
	assert.Regexp(t, `<input id="title"[^>]* value="Gig"`, a.body)
}

func TestSellPage_SendsASignedOutVisitorToSignIn(t *testing.T) {
	s := newSite(t)

	a := s.get("/tickets/new", false)

	assert.Equal(t, http.StatusSeeOther, a.status)
	assert.Equal(t, "/auth/signin?next=%2Ftickets%2Fnew", a.header.Get("Location"))
}

func TestEdit_IsOnlyForTheSellerAndNotWhileReserved(t *testing.T) {
	theirs := newSite(t)
	theirs.respond("GET /api/tickets/"+ticketID, http.StatusOK, ticketJSON(20.5, ""))
	a := theirs.get("/tickets/"+ticketID+"/edit", true)
	assert.Equal(t, http.StatusForbidden, a.status)
	assert.Contains(t, a.body, "Only the seller of a ticket can edit it.")

	mine := ticketJSON(20.5, orderID)
	mine["userId"] = userID
	reserved := newSite(t)
	reserved.respond("GET /api/tickets/"+ticketID, http.StatusOK, mine)
	a = reserved.get("/tickets/"+ticketID+"/edit", true)
	assert.Equal(t, http.StatusOK, a.status)
	assert.Contains(t, a.body, "A buyer has reserved this ticket, so it cannot be edited")
	assert.NotContains(t, a.body, `action="/tickets/`+ticketID+`/edit"`)

	delete(mine, "orderId")
	free := newSite(t)
	free.respond("GET /api/tickets/"+ticketID, http.StatusOK, mine)
	a = free.get("/tickets/"+ticketID+"/edit", true)
	assert.Contains(t, a.body, `action="/tickets/`+ticketID+`/edit"`)
	assert.Regexp(t, `<input id="price"[^>]*value="20.50"`, a.body, "the price in the form has 2 decimals")
}

func TestEdit_ReservedMeanwhileIsSaidAboveTheForm(t *testing.T) {
	s := newSite(t)
	mine := ticketJSON(20.5, "")
	mine["userId"] = userID
	s.respond("GET /api/tickets/"+ticketID, http.StatusOK, mine)
	s.respond("PUT /api/tickets/"+ticketID, http.StatusBadRequest, errorsBody(api.Detail{Message: "Cannot edit a reserved ticket"}))

	a := s.post("/tickets/"+ticketID+"/edit", url.Values{"title": {"Concert"}, "price": {"30"}}, true)

	assert.Equal(t, http.StatusBadRequest, a.status)
	assert.Regexp(t, `(?s)role="alert".*Cannot edit a reserved ticket`, a.body)
	assert.Regexp(t, `<input id="price"[^>]*value="30"`, a.body)
}

func TestFormActions_ReachedByGETLeadToTheirPage(t *testing.T) {
	s := newSite(t)
	for path, want := range map[string]string{
		"/tickets/" + ticketID + "/purchase": "/tickets/" + ticketID,
		"/orders/" + orderID + "/pay":        "/orders/" + orderID,
		"/orders/" + orderID + "/cancel":     "/orders",
	} {
		a := s.get(path, true)
		assert.Equal(t, http.StatusSeeOther, a.status, path)
		assert.Equal(t, want, a.header.Get("Location"), path)
	}
}

func TestStatic_VersionedFilesAreCachedForGood(t *testing.T) {
	s := newSite(t)
	s.respond("GET /api/tickets", http.StatusOK, []any{})
	page := s.get("/", false)
	css := regexp.MustCompile(`href="(/static/app\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(page.body)
	require.NotNil(t, css)

	a := s.get(css[1], false)
	assert.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, "public, max-age=31536000, immutable", a.header.Get("Cache-Control"))
	assert.Contains(t, a.header.Get("Content-Type"), "text/css")

	stale := s.get("/static/app.css?v=old", false)
	assert.Equal(t, "no-cache", stale.header.Get("Cache-Control"))
}

func TestPages_CarryASecurityPolicyThatAllowsOnlyStripesScript(t *testing.T) {
	s := newSite(t)

	a := s.get("/auth/signin", false)

	csp := a.header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "script-src 'self' https://js.stripe.com")
	assert.Contains(t, csp, "form-action 'self'")
	assert.Contains(t, csp, "frame-ancestors 'none'")
	assert.Equal(t, "nosniff", a.header.Get("X-Content-Type-Options"))
	assert.NotContains(t, a.body, "<script>", "no inline script for the policy to refuse")
	assert.NotContains(t, a.body, "style=", "no inline style either")
}

func TestPages_CallTheAPIOnTheBrowsersBehalf(t *testing.T) {
	s := newSite(t)
	var got http.Header
	var host string
	s.api.HandleFunc("GET /api/orders", func(w http.ResponseWriter, r *http.Request) {
		got, host = r.Header.Clone(), r.Host
		writeJSON(w, http.StatusOK, []any{})
	})

	a := s.do(http.MethodGet, "/orders", nil, true)

	require.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, strings.TrimPrefix(s.url, "http://"), host, "the browser's host, for an ingress that routes by host")
	assert.Equal(t, "session=token", got.Get("Cookie"))
	assert.Equal(t, "127.0.0.1", got.Get("X-Forwarded-For"), "the browser's address")
	assert.Equal(t, "http", got.Get("X-Forwarded-Proto"), "the browser's scheme")
	assert.Equal(t, a.header.Get("X-Request-Id"), got.Get("X-Request-Id"), "one request id in both logs")
}

// Behind an ingress that redirects plain HTTP for a host with TLS, the
// client's own calls, plain HTTP inside the cluster, must say that the
// browser came over HTTPS, or they would be redirected out of the cluster.
func TestPages_ForwardTheBrowsersSchemeAsTheTrustedProxyNamedIt(t *testing.T) {
	ingress := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	for _, tt := range []struct {
		name    string
		trusted []netip.Prefix
		proto   string
		want    string
	}{
		{"the ingress's https browser", ingress, "https", "https"},
		{"the ingress's http browser", ingress, "http", "http"},
		{"an untrusted peer's claim is ignored", nil, "https", "http"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, func(c *pages.Config) { c.TrustedProxies = tt.trusted })
			var got []string
			s.api.HandleFunc("GET /api/tickets", func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Values("X-Forwarded-Proto")
				writeJSON(w, http.StatusOK, []any{})
			})
			req, err := http.NewRequest(http.MethodGet, s.url+"/", nil)
			require.NoError(t, err)
			req.Header.Set("X-Forwarded-Proto", tt.proto)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()

			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, []string{tt.want}, got)
		})
	}
}

func TestPages_ForwardTheBrowsersAddressAsTheTrustedProxyNamedIt(t *testing.T) {
	ingress := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	tests := []struct {
		name      string
		trusted   []netip.Prefix
		forwarded []string
		want      string
	}{
		{"the ingress's browser", ingress, []string{"203.0.113.9"}, "203.0.113.9"},
		{"entries the browser wrote are not passed on", ingress, []string{"198.51.100.1, 203.0.113.9"}, "203.0.113.9"},
		{"over several header lines", ingress, []string{"198.51.100.1", "203.0.113.9"}, "203.0.113.9"},
		{"an IPv6 browser", ingress, []string{"2001:db8::7"}, "2001:db8::7"},
		{"the ingress alone", ingress, nil, "127.0.0.1"},
		{"an untrusted peer's X-Forwarded-For is ignored", nil, []string{"203.0.113.9"}, "127.0.0.1"},
		{"a peer outside the trusted range is the browser", []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}, []string{"203.0.113.9"}, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, func(c *pages.Config) { c.TrustedProxies = tt.trusted })
			var got []string
			s.api.HandleFunc("POST /api/users/signin", func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Values("X-Forwarded-For")
				writeJSON(w, http.StatusBadRequest, errorsBody(api.Detail{Message: "Invalid credentials"}))
			})
			req, err := http.NewRequest(http.MethodPost, s.url+"/auth/signin",
				strings.NewReader(url.Values{"email": {"me@example.com"}, "password": {"pw"}}.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for _, v := range tt.forwarded {
				req.Header.Add("X-Forwarded-For", v)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()

			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			assert.Equal(t, []string{tt.want}, got)
		})
	}
}

func TestSignIn_ShowsTheAPIsRefusalsAboveTheForm(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		s := newSite(t)
		s.respond("POST /api/users/signin", status, errorsBody(api.Detail{Message: "Try again later"}))

		a := s.post("/auth/signin", url.Values{"email": {"me@example.com"}, "password": {"pw"}}, false)

		assert.Equal(t, status, a.status)
		assert.Contains(t, a.body, "Try again later")
		assert.Contains(t, a.body, `value="me@example.com"`, "the email is kept")
	}
}

func TestOrder_CancelledWhilePayingSaysThePaymentWasRefunded(t *testing.T) {
	for _, c := range []struct {
		payment   string
		expiresAt time.Time
		want      string
	}{
		{"refunded", now.Add(time.Minute), "Order cancelled — your payment of $20.50 was refunded."},
		{"refunded", now.Add(-time.Second), "Order expired — your payment of $20.50 was refunded."},
		{"refunding", now.Add(time.Minute), "Order cancelled — your payment of $20.50 is being refunded."},
		{"pending", now.Add(time.Minute), "Order cancelled"},
	} {
		s := newSite(t)
		s.respond("GET /api/orders/"+orderID, http.StatusOK, orderJSON(orderID, "cancelled", c.expiresAt))
		p := map[string]any{"id": "6b06fc43a409daeec958aaaa", "orderId": orderID, "status": c.payment, "amount": 20.5}
		if c.payment == "refunded" {
			p["refund"] = map[string]any{"id": "re_1", "refundedAt": "2030-01-01T11:59:00.000Z"}
		}
		s.respond("GET /api/payments/"+orderID, http.StatusOK, p)

		a := s.get("/orders/"+orderID, true)

		assert.Equal(t, http.StatusOK, a.status)
		assert.Regexp(t, `<p id="order-status" class="status-message" role="status">`+regexp.QuoteMeta(c.want)+`</p>`, a.body, c.payment)
	}
}

func TestOrder_CancelledIsShownWhenThePaymentsServiceFails(t *testing.T) {
	s := newSite(t)
	s.respond("GET /api/orders/"+orderID, http.StatusOK, orderJSON(orderID, "cancelled", now.Add(time.Minute)))
	s.respond("GET /api/payments/"+orderID, http.StatusBadGateway, errorsBody(api.Detail{Message: "Something went wrong"}))

	a := s.get("/orders/"+orderID, true)

	assert.Equal(t, http.StatusOK, a.status)
	assert.Contains(t, a.body, `role="status">Order cancelled</p>`)
}
