package audit_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/infra/audit"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Ids of the world below, as ObjectIDs in hex.
const (
	seller = "65f000000000000000000001"
	buyer  = "65f000000000000000000002"

	soldTicket     = "65f0000000000000000000a1" // its order complete and paid
	lockedTicket   = "65f0000000000000000000a2" // its order created, unpaid
	releasedTicket = "65f0000000000000000000a3" // its order cancelled
	freshTicket    = "65f0000000000000000000a4" // never ordered

	completeOrder  = "65f0000000000000000000b1"
	createdOrder   = "65f0000000000000000000b2"
	cancelledOrder = "65f0000000000000000000b3"

	paymentID = "65f0000000000000000000c1"
)

// world is a quiet, consistent system: one ticket of each fate.
func world() *audit.Snapshot {
	expires := now.Add(time.Minute)
	return &audit.Snapshot{
		Users: map[string]audit.User{seller: {ID: seller}, buyer: {ID: buyer}},
		Tickets: map[string]audit.Ticket{
			soldTicket:     {ID: soldTicket, Title: "final", Price: 10000, UserID: seller, Version: 1, OrderID: completeOrder},
			lockedTicket:   {ID: lockedTicket, Title: "opera", Price: 2050, UserID: seller, Version: 1, OrderID: createdOrder},
			releasedTicket: {ID: releasedTicket, Title: "match", Price: 1500, UserID: seller, Version: 2, Released: []string{cancelledOrder}},
			freshTicket:    {ID: freshTicket, Title: "theatre", Price: 3000, UserID: seller, Version: 3},
		},
		TicketReplicas: map[string]audit.TicketReplica{
			soldTicket:     {ID: soldTicket, Title: "final", Price: 10000, Version: 1},
			lockedTicket:   {ID: lockedTicket, Title: "opera", Price: 2050, Version: 1},
			releasedTicket: {ID: releasedTicket, Title: "match", Price: 1500, Version: 2},
			freshTicket:    {ID: freshTicket, Title: "theatre", Price: 3000, Version: 3},
		},
		Orders: map[string]audit.Order{
			completeOrder:  {ID: completeOrder, UserID: buyer, Status: events.StatusComplete, ExpiresAt: expires, TicketID: soldTicket, Version: 1},
			createdOrder:   {ID: createdOrder, UserID: buyer, Status: events.StatusCreated, ExpiresAt: expires, TicketID: lockedTicket, Version: 0},
			cancelledOrder: {ID: cancelledOrder, UserID: buyer, Status: events.StatusCancelled, ExpiresAt: now.Add(-time.Minute), TicketID: releasedTicket, Version: 1},
		},
		Claims: map[string]audit.Claim{
			soldTicket:   {TicketID: soldTicket, OrderID: completeOrder, CreatedAt: now.Add(-time.Minute)},
			lockedTicket: {TicketID: lockedTicket, OrderID: createdOrder, CreatedAt: now.Add(-time.Second)},
		},
		Payments: map[string]audit.Payment{
			paymentID: {ID: paymentID, OrderID: completeOrder, Status: "succeeded", StripeID: "ch_1"},
		},
		OrderReplicas: map[string]audit.OrderReplica{
			completeOrder:  {ID: completeOrder, UserID: buyer, Status: events.StatusCreated, Price: 10000, Version: 0, ExpiresAt: expires},
			createdOrder:   {ID: createdOrder, UserID: buyer, Status: events.StatusCreated, Price: 2050, Version: 0, ExpiresAt: expires},
			cancelledOrder: {ID: cancelledOrder, UserID: buyer, Status: events.StatusCancelled, Price: 1500, Version: 1, ExpiresAt: now.Add(-time.Minute)},
		},
	}
}

func TestCheck_AConsistentSystemHasNoFinding(t *testing.T) {
	r := audit.Check(world(), now, audit.Config{})
	assert.True(t, r.OK(), "%s", r)
	assert.Empty(t, r.Warnings)
	assert.Equal(t, audit.Counts{
		Users: 2, Tickets: 4, LockedTickets: 2, TicketReplicas: 4,
		Orders: map[events.OrderStatus]int{events.StatusComplete: 1, events.StatusCreated: 1, events.StatusCancelled: 1},
		Claims: 2, Payments: 1, OrderReplicas: 3,
	}, r.Counts)
	assert.Contains(t, r.String(), "no violations")
}

func TestCheck_FindsEveryBrokenInvariant(t *testing.T) {
	const other = "65f0000000000000000000b9"
	tests := []struct {
		name     string
		breakIt  func(s *audit.Snapshot)
		rule     audit.Rule
		subject  string
		settling bool
	}{
		{"an event never published", func(s *audit.Snapshot) {
			set(s.Tickets, freshTicket, func(t *audit.Ticket) { t.Pending = 1 })
		}, audit.RuleOutbox, "tickets.tickets " + freshTicket, true},
		{"an order's event never published", func(s *audit.Snapshot) {
			set(s.Orders, cancelledOrder, func(o *audit.Order) { o.Pending = 1 })
		}, audit.RuleOutbox, "orders.orders " + cancelledOrder, true},
		{"a payment's event never published", func(s *audit.Snapshot) {
			set(s.Payments, paymentID, func(p *audit.Payment) { p.Pending = 1 })
		}, audit.RuleOutbox, "payments.payments " + paymentID, true},
		{"a ticket without its replica", func(s *audit.Snapshot) {
			delete(s.TicketReplicas, freshTicket)
		}, audit.RuleTicketReplica, "orders.tickets " + freshTicket, true},
		{"a replica behind its ticket", func(s *audit.Snapshot) {
			set(s.TicketReplicas, freshTicket, func(r *audit.TicketReplica) { r.Version = 2 })
		}, audit.RuleTicketReplica, "orders.tickets " + freshTicket, true},
		{"a replica at its ticket's version with another price", func(s *audit.Snapshot) {
			set(s.TicketReplicas, freshTicket, func(r *audit.TicketReplica) { r.Price = 2999 })
		}, audit.RuleTicketReplica, "orders.tickets " + freshTicket, false},
		{"a replica ahead of its ticket", func(s *audit.Snapshot) {
			set(s.TicketReplicas, freshTicket, func(r *audit.TicketReplica) { r.Version = 4 })
		}, audit.RuleTicketReplica, "orders.tickets " + freshTicket, false},
		{"two active orders for one ticket", func(s *audit.Snapshot) {
			s.Orders[other] = audit.Order{ID: other, UserID: buyer, Status: events.StatusCreated, ExpiresAt: now.Add(time.Minute), TicketID: soldTicket}
			s.OrderReplicas[other] = audit.OrderReplica{ID: other, UserID: buyer, Status: events.StatusCreated, ExpiresAt: now.Add(time.Minute)}
		}, audit.RuleDoubleSale, "tickets.tickets " + soldTicket, false},
		{"an active order not locking its ticket", func(s *audit.Snapshot) {
			set(s.Tickets, lockedTicket, func(t *audit.Ticket) { t.OrderID = "" })
		}, audit.RuleLock, "orders.orders " + createdOrder, true},
		{"a ticket locked by an order for another ticket", func(s *audit.Snapshot) {
			set(s.Tickets, freshTicket, func(t *audit.Ticket) { t.OrderID = cancelledOrder })
		}, audit.RuleLock, "tickets.tickets " + freshTicket, false},
		{"a ticket locked by an unknown order", func(s *audit.Snapshot) {
			set(s.Tickets, freshTicket, func(t *audit.Ticket) { t.OrderID = other })
		}, audit.RuleLock, "tickets.tickets " + freshTicket, false},
		{"a cancelled order still locking its ticket", func(s *audit.Snapshot) {
			set(s.Tickets, releasedTicket, func(t *audit.Ticket) { t.OrderID = cancelledOrder })
		}, audit.RuleRelease, "tickets.tickets " + releasedTicket, true},
		{"a cancelled order whose lock and release tickets has yet to apply", func(s *audit.Snapshot) {
			set(s.Tickets, releasedTicket, func(t *audit.Ticket) { t.Released = nil })
		}, audit.RuleRelease, "orders.orders " + cancelledOrder, true},
		{"an active order without its claim", func(s *audit.Snapshot) {
			delete(s.Claims, lockedTicket)
		}, audit.RuleClaim, "orders.orders " + createdOrder, false},
		{"a complete order without a payment", func(s *audit.Snapshot) {
			delete(s.Payments, paymentID)
		}, audit.RulePayment, "orders.orders " + completeOrder, false},
		{"an order paid twice", func(s *audit.Snapshot) {
			s.Payments[other] = audit.Payment{ID: other, OrderID: completeOrder, Status: "succeeded", StripeID: "ch_2"}
		}, audit.RulePayment, "orders.orders " + completeOrder, false},
		{"a payment its order has not taken in", func(s *audit.Snapshot) {
			s.Payments[other] = audit.Payment{ID: other, OrderID: createdOrder, Status: "succeeded", StripeID: "ch_2"}
		}, audit.RulePayment, "payments.payments " + other, true},
		{"an order without its payments replica", func(s *audit.Snapshot) {
			delete(s.OrderReplicas, cancelledOrder)
		}, audit.RuleOrderReplica, "payments.orders " + cancelledOrder, true},
		{"a cancellation the payments replica has not applied", func(s *audit.Snapshot) {
			set(s.OrderReplicas, cancelledOrder, func(r *audit.OrderReplica) { r.Status, r.Version = events.StatusCreated, 0 })
		}, audit.RuleOrderReplica, "payments.orders " + cancelledOrder, true},
		{"a payments replica that calls a complete order cancelled", func(s *audit.Snapshot) {
			set(s.OrderReplicas, completeOrder, func(r *audit.OrderReplica) { r.Status = events.StatusCancelled })
		}, audit.RuleOrderReplica, "payments.orders " + completeOrder, false},
		{"a charge of a cancelled order not refunded", func(s *audit.Snapshot) {
			s.Payments[other] = audit.Payment{ID: other, OrderID: cancelledOrder, Status: "succeeded", StripeID: "ch_late"}
		}, audit.RuleRefund, "payments.payments " + other, true},
		{"a refund under way", func(s *audit.Snapshot) {
			s.Payments[other] = audit.Payment{ID: other, OrderID: cancelledOrder, Status: "refunding", StripeID: "ch_late"}
		}, audit.RuleRefund, "payments.payments " + other, true},
		{"a refunded payment of a complete order", func(s *audit.Snapshot) {
			set(s.Payments, paymentID, func(p *audit.Payment) { p.Status, p.RefundID = "refunded", "re_1" })
		}, audit.RuleRefund, "payments.payments " + paymentID, false},
		{"an event given up on", func(s *audit.Snapshot) {
			s.DeadLetters = map[string]audit.DeadLetter{"orders d1": {Service: "orders", ID: "d1", Subject: "ticket:updated", Group: "orders-service", Err: "boom"}}
		}, audit.RuleDeadLetter, "orders.deadletters d1", false},
		{"a payments replica with another buyer", func(s *audit.Snapshot) {
			set(s.OrderReplicas, createdOrder, func(r *audit.OrderReplica) { r.UserID = seller })
		}, audit.RuleOrderReplica, "payments.orders " + createdOrder, false},
		{"an unpaid order long expired", func(s *audit.Snapshot) {
			set(s.Orders, createdOrder, func(o *audit.Order) { o.ExpiresAt = now.Add(-audit.Config{}.ExpiryBound() - time.Second) })
			set(s.OrderReplicas, createdOrder, func(r *audit.OrderReplica) { r.ExpiresAt = now.Add(-audit.Config{}.ExpiryBound() - time.Second) })
		}, audit.RuleExpiry, "orders.orders " + createdOrder, true},
		{"a ticket of an unknown seller", func(s *audit.Snapshot) {
			delete(s.Users, seller)
		}, audit.RuleReference, "tickets.tickets " + freshTicket, false},
		{"a replica of an unknown ticket", func(s *audit.Snapshot) {
			s.TicketReplicas[other] = audit.TicketReplica{ID: other, Title: "ghost", Price: 1}
		}, audit.RuleReference, "orders.tickets " + other, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := world()
			tt.breakIt(s)
			r := audit.Check(s, now, audit.Config{})
			require.False(t, r.OK(), "%s", r)
			var found *audit.Finding
			for i, f := range r.Violations {
				if f.Rule == tt.rule && f.Subject == tt.subject {
					found = &r.Violations[i]
				}
			}
			require.NotNil(t, found, "want %s on %s in\n%s", tt.rule, tt.subject, r)
			assert.Equal(t, tt.settling, found.Settling, "settling: %s", found)
			assert.Equal(t, tt.settling, r.Settling() && onlySettling(r), "report settling")
			assert.Contains(t, r.String(), tt.subject)
		})
	}
}

// TestCheck_AnUnpaidOrderIsLateOnlyPastWhatOrdersSweeperTakes: when Redis
// lost an order's expiry, orders' sweeper cancels it once EXPIRY_GRACE has
// passed, sweeping every half grace; the audit calls it late only after
// that, and a few seconds for the sweep itself.
func TestCheck_AnUnpaidOrderIsLateOnlyPastWhatOrdersSweeperTakes(t *testing.T) {
	tests := []struct {
		name       string
		cfg        audit.Config
		expiredFor time.Duration
		late       bool
	}{
		{"orders' default grace of a minute, at the bound", audit.Config{}, 95 * time.Second, false},
		{"orders' default grace of a minute, past it", audit.Config{}, 95*time.Second + time.Millisecond, true},
		{"a grace of a second, as the chaos run's, at the bound", audit.Config{ExpiryGrace: time.Second}, 6500 * time.Millisecond, false},
		{"a grace of a second, past it", audit.Config{ExpiryGrace: time.Second}, 6500*time.Millisecond + time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := world()
			set(s.Orders, createdOrder, func(o *audit.Order) { o.ExpiresAt = now.Add(-tt.expiredFor) })
			set(s.OrderReplicas, createdOrder, func(r *audit.OrderReplica) { r.ExpiresAt = now.Add(-tt.expiredFor) })

			r := audit.Check(s, now, tt.cfg)

			if !tt.late {
				assert.True(t, r.OK(), "%s", r)
				return
			}
			require.Len(t, r.Violations, 1, "%s", r)
			assert.Equal(t, audit.RuleExpiry, r.Violations[0].Rule)
			assert.Equal(t, "orders.orders "+createdOrder, r.Violations[0].Subject)
			assert.True(t, r.Violations[0].Settling, "the sweep may still come")
		})
	}
}

func onlySettling(r audit.Report) bool {
	for _, f := range r.Violations {
		if !f.Settling {
			return false
		}
	}
	return true
}

// A charge that came after its order was cancelled, refunded: what the
// design wants, so no finding.
func TestCheck_ARefundedChargeOfACancelledOrderIsConsistent(t *testing.T) {
	s := world()
	s.Payments["65f0000000000000000000c2"] = audit.Payment{ID: "65f0000000000000000000c2", OrderID: cancelledOrder, Status: "refunded", StripeID: "ch_late", RefundID: "re_1"}
	r := audit.Check(s, now, audit.Config{})
	assert.True(t, r.OK(), "%s", r)
	assert.Empty(t, r.Warnings)
}

func TestCheck_ClaimsLeftByCrashesAreWarnings(t *testing.T) {
	s := world()
	s.Claims[releasedTicket] = audit.Claim{TicketID: releasedTicket, OrderID: cancelledOrder, CreatedAt: now.Add(-time.Minute)}
	s.Claims[freshTicket] = audit.Claim{TicketID: freshTicket, OrderID: "65f0000000000000000000b8", CreatedAt: now}
	s.Payments["65f0000000000000000000c3"] = audit.Payment{ID: "65f0000000000000000000c3", OrderID: createdOrder, Status: "pending"}
	r := audit.Check(s, now, audit.Config{})
	assert.True(t, r.OK(), "%s", r)
	require.Len(t, r.Warnings, 3, "%s", r)
	text := r.String()
	assert.Contains(t, text, "orders.claims "+releasedTicket)
	assert.Contains(t, text, "orders.claims "+freshTicket)
	assert.True(t, strings.Contains(text, "still pending"), text)
}

func set[T any](m map[string]T, id string, change func(*T)) {
	v := m[id]
	change(&v)
	m[id] = v
}

func TestReport_SummaryCountsEachRuleAndShowsTheFirstFindings(t *testing.T) {
	r := audit.Report{At: now, Violations: []audit.Finding{
		{Rule: audit.RuleOutbox, Subject: "tickets.tickets a", Detail: "1 event never published", Settling: true},
		{Rule: audit.RuleOutbox, Subject: "tickets.tickets b", Detail: "1 event never published", Settling: true},
		{Rule: audit.RuleTicketReplica, Subject: "orders.tickets c", Detail: "missing", Settling: true},
	}}
	got := r.Summary(2)
	assert.Contains(t, got, "2 outbox violations\n1 ticket-replica violations\n")
	assert.Contains(t, got, "tickets.tickets a")
	assert.Contains(t, got, "tickets.tickets b")
	assert.NotContains(t, got, "orders.tickets c", "only the first 2 findings")
	assert.Equal(t, 5, strings.Count(got, "\n")+1, "the counts, a line per rule, 2 findings")
}
