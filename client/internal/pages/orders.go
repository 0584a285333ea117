package pages

import (
	"net/http"
	"strings"
	"time"

	"ticketing.dev/client/internal/api"
	"ticketing.dev/common/events"
	"ticketing.dev/common/web"
)

// The states an order page shows.
const (
	statePayable   = "payable"
	stateExpired   = "expired"
	stateCancelled = "cancelled"
	stateComplete  = "complete"
)

// testToken is Stripe's test card token: what the test-mode payment sends
// when no publishable key is configured.
const testToken = "tok_visa"

// orderData is the content of an order's page.
type orderData struct {
	Order api.Order
	State string
	// MillisLeft and SecondsLeft are the time left to pay, by the server's
	// clock, which the page's script counts down from: the browser's clock
	// may be off, its stopwatch is not.
	MillisLeft  int64
	SecondsLeft int64
	// StripeKey is Stripe's publishable key; empty in test mode.
	StripeKey string
	TestToken string
	// Refund is the payment of a cancelled order that was, or is being,
	// refunded: the lock ran out, or the order was cancelled, while the
	// card was charged.
	Refund *api.Payment
}

// order shows an order: a countdown and the payment while it can be paid,
// or what became of it.
func (s *Server) order(w http.ResponseWriter, r *http.Request) error {
	return s.orderPage(w, r, http.StatusOK, form{})
}

func (s *Server) orderPage(w http.ResponseWriter, r *http.Request, status int, f form) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	o, err := s.api.Order(r.Context(), s.caller(w, r), id)
	if err != nil {
		return err
	}
	left := o.ExpiresAt.Sub(s.now())
	data := orderData{Order: o, State: orderState(o, left), StripeKey: s.stripeKey, TestToken: testToken}
	if data.State == statePayable {
		data.MillisLeft = left.Milliseconds()
		data.SecondsLeft = secondsLeft(left)
	}
	if o.Status == events.StatusCancelled {
		data.Refund = s.refund(w, r, o.ID)
	}
	return s.render(w, status, "order", view{
		Title: "Order of " + o.Ticket.Title, User: s.currentUser(w, r), Path: r.URL.Path, Form: f,
		StripeJS: data.State == statePayable && s.stripeKey != "", Data: data,
	})
}

// refund returns the payment of a cancelled order when it is refunded or
// being refunded, and nil otherwise. When the payments service cannot tell,
// the page is shown without it: the order's own state is what matters.
func (s *Server) refund(w http.ResponseWriter, r *http.Request, orderID string) *api.Payment {
	p, err := s.api.OrderPayment(r.Context(), s.caller(w, r), orderID)
	switch {
	case api.HasStatus(err, http.StatusNotFound):
		return nil // never paid
	case err != nil:
		web.Logger(r.Context()).WarnContext(r.Context(), "payment of a cancelled order unknown", "order_id", orderID, "err", err)
		return nil
	case p.Status == api.PaymentRefunded, p.Status == api.PaymentRefunding:
		return &p
	}
	return nil
}

// orderState is what the order page shows of o with left to pay.
func orderState(o api.Order, left time.Duration) string {
	switch o.Status {
	case events.StatusComplete:
		return stateComplete
	case events.StatusCancelled:
		if left > 0 {
			return stateCancelled
		}
		return stateExpired
	}
	// The orders service cancels an unpaid order a moment after its time
	// is up; until then the page already calls it expired, since the
	// payments service refuses it from expiresAt on.
	if left <= 0 {
		return stateExpired
	}
	return statePayable
}

// secondsLeft rounds up, so that the countdown shows 1 in its last second
// and "Order expired" exactly when the time is up.
func secondsLeft(left time.Duration) int64 {
	return int64((left + time.Second - 1) / time.Second)
}

// pay charges the card that the posted token stands for (Stripe Elements
// made it in the browser, or the test-mode form sent Stripe's test card)
// and leads to My orders.
func (s *Server) pay(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	f, err := parseForm(w, r, "token")
	if err != nil {
		return err
	}
	_, err = s.api.Pay(r.Context(), s.caller(w, r), id, f.Value("token"))
	switch {
	case err == nil:
		http.Redirect(w, r, "/orders?paid="+id, http.StatusSeeOther)
		return nil
	case api.HasStatus(err, http.StatusNotFound):
		// The payments service learns of a new order from an event, a
		// moment after the orders service shows it.
		return s.orderPage(w, r, http.StatusConflict, newForm().withMessage(
			"Payment for this order cannot be taken just yet. Please try again in a moment."))
	}
	// The token is no field the buyer sees: every message goes above.
	msgs, status := newForm().withErrors(err)
	if status == 0 {
		return err
	}
	return s.orderPage(w, r, status, msgs)
}

// orderRow is one order of My orders.
type orderRow struct {
	api.Order
	// Label names the order's state for people.
	Label string
	// Payable orders link to their page to pay and can be cancelled.
	Payable bool
}

// ordersData is the content of My orders.
type ordersData struct {
	Orders []orderRow
	// Paid and Cancelled name the order that was just paid or cancelled.
	Paid, Cancelled *api.Order
	Pager           pager
}

// orders is My orders: one page of the user's orders, oldest first, with
// their tickets and states, Cancel on those not paid yet, and a link to
// the next page.
func (s *Server) orders(w http.ResponseWriter, r *http.Request) error {
	return s.ordersPage(w, r, http.StatusOK, form{})
}

func (s *Server) ordersPage(w http.ResponseWriter, r *http.Request, status int, f form) error {
	cursor, err := pageCursor(r)
	if err != nil {
		return err
	}
	page, err := s.api.Orders(r.Context(), s.caller(w, r), api.PageRequest{Limit: s.pageSize, Cursor: cursor})
	if err != nil {
		return err
	}
	now := s.now()
	paid, cancelled := r.URL.Query().Get("paid"), r.URL.Query().Get("cancelled")
	data := ordersData{Pager: newPager("/orders", cursor, page.Next)}
	for _, o := range page.Items {
		row := orderRow{Order: o}
		row.Label, row.Payable = orderLabel(o, o.ExpiresAt.Sub(now), o.ID == paid)
		data.Orders = append(data.Orders, row)
		switch o.ID {
		case paid:
			data.Paid = &o
		case cancelled:
			data.Cancelled = &o
		}
	}
	// The order just paid or cancelled is the newest, on the last page
	// rather than this one when the user has many: its banner still shows.
	if data.Paid == nil {
		data.Paid = s.bannerOrder(w, r, paid)
	}
	if data.Cancelled == nil {
		data.Cancelled = s.bannerOrder(w, r, cancelled)
	}
	return s.render(w, status, "orders", view{Title: "My orders", User: s.currentUser(w, r), Path: r.URL.Path, Form: f, Data: data})
}

// bannerOrder returns the user's order id for a banner of My orders, or nil
// when id is none or the API cannot tell: a banner is not worth an error
// page.
func (s *Server) bannerOrder(w http.ResponseWriter, r *http.Request, id string) *api.Order {
	if !web.ValidID(id) {
		return nil
	}
	o, err := s.api.Order(r.Context(), s.caller(w, r), strings.ToLower(id))
	if err != nil {
		web.Logger(r.Context()).WarnContext(r.Context(), "order of a banner unknown", "order_id", id, "err", err)
		return nil
	}
	return &o
}

// orderLabel names an order's state and whether it can still be paid or
// cancelled. An order just paid is complete once the orders service hears
// of the payment, a moment later: until then it is "Payment processing"
// rather than an invitation to pay again or cancel.
func orderLabel(o api.Order, left time.Duration, justPaid bool) (string, bool) {
	switch o.Status {
	case events.StatusComplete:
		return "Complete", false
	case events.StatusCancelled:
		return "Cancelled", false
	}
	switch {
	case justPaid:
		return "Payment processing", false
	case left <= 0:
		return "Expired", false
	}
	return "Awaiting payment", true
}

// cancel cancels an unpaid order, which puts its ticket on sale again.
func (s *Server) cancel(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.api.CancelOrder(r.Context(), s.caller(w, r), id); err != nil {
		f, status := newForm().withErrors(err)
		if status == 0 {
			return err
		}
		r.URL.RawQuery = ""
		return s.ordersPage(w, r, status, f)
	}
	http.Redirect(w, r, "/orders?cancelled="+id, http.StatusSeeOther)
	return nil
}
