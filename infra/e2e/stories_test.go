// Package e2e_test walks the user stories through the gateway of a local
// stack: every service as its own process, on real embedded servers.
package e2e_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/infra/stack"
)

// window is the stack's EXPIRATION_WINDOW: short, so that expiry is seen.
const window = 4 * time.Second

var base string

func TestMain(m *testing.M) {
	var out bytes.Buffer
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	s, err := stack.Start(ctx, stack.Config{
		Root:             root,
		GatewayAddr:      "127.0.0.1:0",
		ExpirationWindow: window.String(),
		RateLimit:        "0",
		// make test runs the stories on each transport (BUS).
		Bus:      os.Getenv("BUS"),
		LogLevel: "warn",
		Out:      &syncWriter{w: &out},
	})
	cancel()
	if err != nil {
		os.Stderr.WriteString("e2e: stack did not start: " + err.Error() + "\n" + out.String())
		os.Exit(1)
	}
	base = s.URL
	code := m.Run()

	var pids []int
	for _, name := range stack.Services {
		if pid, ok := s.Pid(name); ok {
			pids = append(pids, pid)
		}
	}
	s.Stop()
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			os.Stderr.WriteString("e2e: a service outlived the stack\n")
			code = 1
		}
	}
	if code != 0 {
		os.Stderr.WriteString(out.String())
	}
	os.Exit(code)
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func TestStory_BuyAndPay(t *testing.T) {
	seller, buyer := newUser(t, base), newUser(t, base)
	seller.signUp()
	buyer.signUp()

	tk := seller.sell("concert", 20.5)
	assert.Equal(t, 20.5, tk.Price)

	var o order
	eventually(t, 10*time.Second, func() bool {
		return buyer.do("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, &o) == http.StatusCreated
	}, "the ticket reaches the orders service and can be ordered")
	assert.Equal(t, "created", o.Status)
	assert.Equal(t, tk.ID, o.Ticket.ID)

	// Locked: orderId set, gone from the index, not editable.
	eventually(t, 10*time.Second, func() bool { return seller.ticket(tk.ID).OrderID == o.ID }, "ticket locked by the order")
	assert.False(t, seller.listed(tk.ID))
	assert.Equal(t, http.StatusBadRequest, seller.do("PUT", "/api/tickets/"+tk.ID, map[string]any{"title": "concert", "price": 99}, nil))

	// Payments learns of the order from order:created; until then it is a 404.
	var paid struct{ ID string }
	eventually(t, 10*time.Second, func() bool {
		return buyer.do("POST", "/api/payments", map[string]string{"token": "tok_visa", "orderId": o.ID}, &paid) == http.StatusCreated
	}, "payment accepted")
	eventually(t, 10*time.Second, func() bool { return buyer.order(o.ID).Status == "complete" }, "order completed by payment:created")

	// The buyer reads the payment, stored with its charge before the 201, and without a refund.
	var p payment
	require.Equal(t, http.StatusOK, buyer.do("GET", "/api/payments/"+o.ID, nil, &p))
	assert.Equal(t, paid.ID, p.ID)
	assert.Equal(t, o.ID, p.OrderID)
	assert.Equal(t, "succeeded", p.Status)
	assert.Equal(t, 20.5, p.Amount)
	assert.True(t, strings.HasPrefix(p.StripeID, "ch_"), p.StripeID)
	assert.Nil(t, p.Refund)
	assert.Equal(t, http.StatusNotFound, seller.do("GET", "/api/payments/"+o.ID, nil, nil), "another user's payment does not exist for them")

	// Nothing expires afterwards: past the window the order is still complete and the ticket sold.
	// Only waiting shows that something does not happen: the order's window, and a second for
	// an expiration's publish and handling.
	time.Sleep(window + time.Second)
	assert.Equal(t, "complete", buyer.order(o.ID).Status)
	assert.Equal(t, o.ID, seller.ticket(tk.ID).OrderID)
	assert.False(t, seller.listed(tk.ID))
	assert.Equal(t, http.StatusBadRequest, buyer.do("DELETE", "/api/orders/"+o.ID, nil, nil), "a completed order cannot be cancelled")
}

func TestStory_UnpaidOrderExpiresAndTicketIsReleased(t *testing.T) {
	seller, buyer, second := newUser(t, base), newUser(t, base), newUser(t, base)
	seller.signUp()
	buyer.signUp()
	second.signUp()
	tk := seller.sell("match", 15)

	var o order
	eventually(t, 10*time.Second, func() bool {
		return buyer.do("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, &o) == http.StatusCreated
	}, "ticket orderable")
	expires, err := time.Parse(time.RFC3339Nano, o.ExpiresAt)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(window), expires, 2*time.Second)

	eventually(t, window+10*time.Second, func() bool { return buyer.order(o.ID).Status == "cancelled" }, "order cancelled at the window")
	assert.False(t, time.Now().Before(expires), "never cancelled before expiresAt")
	eventually(t, 10*time.Second, func() bool { return seller.ticket(tk.ID).OrderID == "" }, "ticket released")
	assert.True(t, seller.listed(tk.ID))

	var again order
	require.Equal(t, http.StatusCreated, second.do("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, &again))
	assert.NotEqual(t, o.ID, again.ID)
}

func TestStory_BuyerCancelReleasesAtOnce(t *testing.T) {
	seller, buyer := newUser(t, base), newUser(t, base)
	seller.signUp()
	buyer.signUp()
	tk := seller.sell("theatre", 30)

	var o order
	eventually(t, 10*time.Second, func() bool {
		return buyer.do("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, &o) == http.StatusCreated
	}, "ticket orderable")
	eventually(t, 10*time.Second, func() bool { return seller.ticket(tk.ID).OrderID == o.ID }, "ticket locked")

	require.Equal(t, http.StatusNoContent, buyer.do("DELETE", "/api/orders/"+o.ID, nil, nil))
	assert.Equal(t, "cancelled", buyer.order(o.ID).Status)
	eventually(t, 2*time.Second, func() bool { return seller.ticket(tk.ID).OrderID == "" }, "ticket released well before the window")
	require.Equal(t, http.StatusCreated, buyer.do("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, &o))
}

func TestStory_RacingBuyersGetOneOrder(t *testing.T) {
	seller := newUser(t, base)
	seller.signUp()
	tk := seller.sell("final", 100)
	// Once the orders service knows the ticket (an order and its cancel), race.
	probe := newUser(t, base)
	probe.signUp()
	var o order
	eventually(t, 10*time.Second, func() bool {
		return probe.do("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, &o) == http.StatusCreated
	}, "ticket orderable")
	require.Equal(t, http.StatusNoContent, probe.do("DELETE", "/api/orders/"+o.ID, nil, nil))

	buyers := make([]*user, 20)
	for i := range buyers {
		buyers[i] = newUser(t, base)
		buyers[i].signUp()
	}
	codes := make([]int, len(buyers))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, b := range buyers {
		wg.Go(func() {
			<-start
			codes[i] = b.do("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, nil)
		})
	}
	close(start)
	wg.Wait()
	created, reserved := 0, 0
	for _, c := range codes {
		switch c {
		case http.StatusCreated:
			created++
		case http.StatusBadRequest:
			reserved++
		}
	}
	assert.Equal(t, 1, created, "codes: %v", codes)
	assert.Equal(t, 19, reserved, "codes: %v", codes)
}

func TestStory_PriceEditsReachTheOrdersReplicaInOrder(t *testing.T) {
	seller, buyer := newUser(t, base), newUser(t, base)
	seller.signUp()
	buyer.signUp()
	tk := seller.sell("opera", 10)
	for i, price := range []float64{11, 12.5, 13.25, 14, 15.99} {
		var updated ticket
		require.Equal(t, http.StatusOK, seller.do("PUT", "/api/tickets/"+tk.ID, map[string]any{"title": "opera", "price": price}, &updated))
		assert.Equal(t, i+1, updated.Version)
	}
	var o order
	eventually(t, 10*time.Second, func() bool {
		return buyer.do("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, &o) == http.StatusCreated
	}, "ticket orderable")
	eventually(t, 10*time.Second, func() bool {
		o = buyer.order(o.ID)
		// Ordering bumps the ticket once more (version 6, same price).
		return o.Ticket.Version >= 5
	}, "replica reached version 5")
	assert.Equal(t, 15.99, o.Ticket.Price)
}

// TestStory_ErrorsMatchTheDocument walks the error answers a client meets,
// so that their shapes are checked against the OpenAPI document too.
func TestStory_ErrorsMatchTheDocument(t *testing.T) {
	anon, seller, other := newUser(t, base), newUser(t, base), newUser(t, base)

	var me struct{ CurrentUser *struct{ ID string } }
	require.Equal(t, http.StatusOK, anon.do("GET", "/api/users/currentuser", nil, &me))
	assert.Nil(t, me.CurrentUser)
	assert.Equal(t, http.StatusBadRequest, anon.do("POST", "/api/users/signup", map[string]string{"email": "nope", "password": "x"}, nil))
	assert.Equal(t, http.StatusBadRequest, anon.do("POST", "/api/users/signin", map[string]string{"email": "nobody@example.com", "password": "secret"}, nil))
	assert.Equal(t, http.StatusUnauthorized, anon.do("POST", "/api/tickets", map[string]any{"title": "x", "price": 1}, nil))
	assert.Equal(t, http.StatusUnauthorized, anon.do("GET", "/api/orders", nil, nil))
	assert.Equal(t, http.StatusBadRequest, anon.do("GET", "/api/tickets/not-an-id", nil, nil))
	assert.Equal(t, http.StatusNotFound, anon.do("GET", "/api/tickets/000000000000000000000000", nil, nil))

	seller.signUp()
	other.signUp()
	// Sign-in checks no length: a password that sign-up would refuse is
	// just a wrong one, a 400 without a field, so the document must take
	// the request.
	assert.Equal(t, http.StatusBadRequest, anon.do("POST", "/api/users/signin", map[string]string{"email": seller.email, "password": "abc"}, nil))
	assert.Equal(t, http.StatusBadRequest, seller.do("POST", "/api/tickets", map[string]any{"title": "", "price": 10.999}, nil))
	tk := seller.sell("gig", 5)
	assert.Equal(t, http.StatusUnauthorized, other.do("PUT", "/api/tickets/"+tk.ID, map[string]any{"title": "mine", "price": 1}, nil))
	assert.Equal(t, http.StatusNotFound, other.do("PUT", "/api/tickets/000000000000000000000000", map[string]any{"title": "x", "price": 1}, nil))
	assert.Equal(t, http.StatusBadRequest, other.do("POST", "/api/orders", map[string]string{}, nil))
	assert.Equal(t, http.StatusNotFound, other.do("POST", "/api/orders", map[string]string{"ticketId": "000000000000000000000000"}, nil))
	assert.Equal(t, http.StatusNotFound, other.do("GET", "/api/orders/000000000000000000000000", nil, nil))
	assert.Equal(t, http.StatusNotFound, other.do("DELETE", "/api/orders/000000000000000000000000", nil, nil))
	assert.Equal(t, http.StatusBadRequest, other.do("POST", "/api/payments", map[string]string{}, nil))
	assert.Equal(t, http.StatusNotFound, other.do("POST", "/api/payments", map[string]string{"token": "tok_visa", "orderId": "000000000000000000000000"}, nil))

	var o order
	eventually(t, 10*time.Second, func() bool {
		return other.do("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, &o) == http.StatusCreated
	}, "ticket orderable")
	assert.Equal(t, http.StatusUnauthorized, seller.do("GET", "/api/orders/"+o.ID, nil, nil))
	assert.Equal(t, http.StatusBadRequest, seller.do("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, nil), "reserved")
	var list []order
	require.Equal(t, http.StatusOK, other.do("GET", "/api/orders", nil, &list))
	assert.Len(t, list, 1)
	require.Equal(t, http.StatusOK, other.do("POST", "/api/users/signout", nil, nil))
	assert.Equal(t, http.StatusUnauthorized, other.do("GET", "/api/orders", nil, nil))

	// Another site's form, and a JSON body of another site's script, act
	// on nothing; a read from another site is answered.
	form := http.Header{"Content-Type": {"text/plain"}, "Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}
	creds := []byte(`{"email":"` + seller.email + `","password":"password"}`)
	assert.Equal(t, http.StatusUnsupportedMediaType, anon.send("POST", "/api/users/signin", form, creds, nil), "a cross-site form is refused for its body first")
	assert.Equal(t, http.StatusUnsupportedMediaType, anon.send("POST", "/api/users/signin", http.Header{"Content-Type": {"text/plain"}}, creds, nil))
	require.Equal(t, http.StatusOK, anon.do("GET", "/api/users/currentuser", nil, &me))
	assert.Nil(t, me.CurrentUser, "signed nobody in")
	crossSite := http.Header{"Content-Type": {"application/json"}, "Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}
	assert.Equal(t, http.StatusForbidden, seller.send("PUT", "/api/tickets/"+tk.ID, crossSite, []byte(`{"title":"stolen","price":1}`), nil))
	assert.Equal(t, http.StatusUnsupportedMediaType, seller.send("PUT", "/api/tickets/"+tk.ID, nil, []byte(`{"title":"stolen","price":1}`), nil))
	assert.Equal(t, "gig", seller.ticket(tk.ID).Title)
	assert.Equal(t, http.StatusOK, seller.send("GET", "/api/tickets/"+tk.ID, crossSite, nil, nil))
}
