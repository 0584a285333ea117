package audit

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"ticketing.dev/common/events"
)

// Rule names an invariant of the design.
type Rule string

// The rules the audit checks.
const (
	// RuleOutbox: a change stored with its event, the event never
	// published.
	RuleOutbox Rule = "outbox"
	// RuleTicketReplica: the orders service's copy of a ticket is missing
	// or differs from the ticket.
	RuleTicketReplica Rule = "ticket-replica"
	// RuleOrderReplica: the payments service's copy of an order is missing
	// or differs from the order.
	RuleOrderReplica Rule = "order-replica"
	// RuleDoubleSale: a ticket with more than one active order.
	RuleDoubleSale Rule = "double-sale"
	// RuleLock: an active order that does not lock its ticket, or a
	// ticket locked by something other than its one active order.
	RuleLock Rule = "ticket-lock"
	// RuleRelease: a cancelled or expired order still locking its ticket.
	RuleRelease Rule = "ticket-release"
	// RuleClaim: an active order without the claim that keeps other
	// buyers off its ticket; as a warning, a claim left by an order that
	// is gone or cancelled, which the next buyer of the ticket recovers.
	RuleClaim Rule = "claim"
	// RulePayment: a complete order without exactly one payment, or a
	// payment its order has not taken in; as a warning, a charge still
	// pending.
	RulePayment Rule = "payment"
	// RuleRefund: a charge whose order was cancelled and that is not
	// refunded (settling while the refund is due or under way), or a
	// refunded one whose order is complete.
	RuleRefund Rule = "refund"
	// RuleDeadLetter: an event a service gave up on, waiting for someone
	// to mend and replay it, or discard it.
	RuleDeadLetter Rule = "dead-letter"
	// RuleMoney: a charge Stripe made that is neither a complete order's
	// payment nor refunded exactly once (see Money).
	RuleMoney Rule = "money"
	// RuleExpiry: an unpaid order still holding its ticket well after it
	// expired.
	RuleExpiry Rule = "expiry"
	// RuleReference: an id that names nothing, such as an order of an
	// unknown user or a replica of a ticket that does not exist.
	RuleReference Rule = "reference"
)

// Config is what the audit must know of the system it reads.
type Config struct {
	// ExpiryGrace is the orders service's EXPIRY_GRACE: how long after its
	// expiresAt an order whose expiration:complete never came (Redis lost
	// its job) is left before orders' sweeper cancels it. Zero means
	// DefaultExpiryGrace.
	ExpiryGrace time.Duration
}

// DefaultExpiryGrace is orders' EXPIRY_GRACE when it is not set.
const DefaultExpiryGrace = time.Minute

// ExpirySlack is how late past what orders' sweeper allows itself an
// unpaid order may still be "created": the sweep's own reads and writes,
// or the expiration service publishing and orders applying it.
const ExpirySlack = 5 * time.Second

// ExpiryBound is how long after its expiresAt an unpaid order may still be
// "created" before the audit calls it a violation: the grace, plus the
// sweep's interval of half a grace (orders' sweeper.Interval), so that a
// lost expiry is cancelled within one and a half graces, plus ExpirySlack.
func (c Config) ExpiryBound() time.Duration {
	grace := cmp.Or(c.ExpiryGrace, DefaultExpiryGrace)
	return grace + grace/2 + ExpirySlack
}

// Finding is one broken invariant, or a warning.
type Finding struct {
	Rule Rule
	// Subject is the document concerned, as "collection id".
	Subject string
	// Detail says what is wrong, with the values read.
	Detail string
	// Settling is true when an event still in flight could explain the
	// finding: it is a defect only once the system is quiet.
	Settling bool
}

func (f Finding) String() string {
	s := fmt.Sprintf("%-14s %s: %s", f.Rule, f.Subject, f.Detail)
	if f.Settling {
		s += " (settling)"
	}
	return s
}

// Counts are how many documents the audit read.
type Counts struct {
	Users, Tickets, LockedTickets, TicketReplicas int
	Orders                                        map[events.OrderStatus]int
	Claims, Payments, OrderReplicas               int
}

// Report is the outcome of an audit.
type Report struct {
	// At is when the audit judged the data, for the expiry rule.
	At     time.Time
	Counts Counts
	// Violations are broken invariants; Warnings are states the design
	// allows but a person should know of.
	Violations, Warnings []Finding
}

// OK reports whether the audit found no violation.
func (r Report) OK() bool { return len(r.Violations) == 0 }

// Settling reports whether some violation could still be explained by
// events in flight.
func (r Report) Settling() bool {
	return slices.ContainsFunc(r.Violations, func(f Finding) bool { return f.Settling })
}

// String is the report for people: the counts, then every finding.
func (r Report) String() string {
	var b strings.Builder
	c := r.Counts
	fmt.Fprintf(&b, "audit at %s: %d users, %d tickets (%d locked), %d ticket replicas, %d orders (",
		r.At.UTC().Format(time.RFC3339), c.Users, c.Tickets, c.LockedTickets, c.TicketReplicas, total(c.Orders))
	for i, st := range []events.OrderStatus{events.StatusCreated, events.StatusAwaitingPayment, events.StatusComplete, events.StatusCancelled} {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %s", c.Orders[st], st)
	}
	fmt.Fprintf(&b, "), %d claims, %d payments, %d order replicas\n", c.Claims, c.Payments, c.OrderReplicas)
	if r.OK() {
		b.WriteString("no violations\n")
	} else {
		fmt.Fprintf(&b, "%d violations:\n", len(r.Violations))
		for _, f := range r.Violations {
			b.WriteString("  " + f.String() + "\n")
		}
	}
	if len(r.Warnings) > 0 {
		fmt.Fprintf(&b, "%d warnings:\n", len(r.Warnings))
		for _, f := range r.Warnings {
			b.WriteString("  " + f.String() + "\n")
		}
	}
	return b.String()
}

// Summary is the report in a few lines: the counts, how many violations
// each rule found, and the first n violations.
func (r Report) Summary(n int) string {
	head, _, _ := strings.Cut(r.String(), "\n")
	var b strings.Builder
	b.WriteString(head + "\n")
	byRule := map[Rule]int{}
	var rules []Rule
	for _, f := range r.Violations {
		if byRule[f.Rule] == 0 {
			rules = append(rules, f.Rule)
		}
		byRule[f.Rule]++
	}
	for _, rule := range rules {
		fmt.Fprintf(&b, "%d %s violations\n", byRule[rule], rule)
	}
	for _, f := range r.Violations[:min(n, len(r.Violations))] {
		b.WriteString("  " + f.String() + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func total(m map[events.OrderStatus]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// Audit reads the databases and checks them now, for a system configured
// as cfg says. Run it on a quiet system (see WaitQuiet): while events flow,
// findings marked Settling are expected.
func Audit(ctx context.Context, dbs Databases, cfg Config) (Report, error) {
	s, err := Load(ctx, dbs)
	if err != nil {
		return Report{}, err
	}
	return Check(s, time.Now(), cfg), nil
}

// Check checks a snapshot of a system configured as cfg says, judging
// expiry at now.
func Check(s *Snapshot, now time.Time, cfg Config) Report {
	c := &checker{s: s, now: now, expiryBound: cfg.ExpiryBound()}
	c.outboxes()
	c.owners()
	c.ticketReplicas()
	c.ordersOfTickets()
	c.locks()
	c.claims()
	c.payments()
	c.orderReplicas()
	c.expiry()
	c.deadLetters()

	r := Report{At: now, Violations: c.violations, Warnings: c.warnings}
	r.Counts = Counts{
		Users:          len(s.Users),
		Tickets:        len(s.Tickets),
		TicketReplicas: len(s.TicketReplicas),
		Orders:         make(map[events.OrderStatus]int),
		Claims:         len(s.Claims),
		Payments:       len(s.Payments),
		OrderReplicas:  len(s.OrderReplicas),
	}
	for _, t := range s.Tickets {
		if t.OrderID != "" {
			r.Counts.LockedTickets++
		}
	}
	for _, o := range s.Orders {
		r.Counts.Orders[o.Status]++
	}
	sortFindings(r.Violations)
	sortFindings(r.Warnings)
	return r
}

func sortFindings(fs []Finding) {
	slices.SortFunc(fs, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Subject, b.Subject), cmp.Compare(a.Detail, b.Detail))
	})
}

type checker struct {
	s   *Snapshot
	now time.Time
	// expiryBound is Config.ExpiryBound.
	expiryBound          time.Duration
	violations, warnings []Finding
}

// violation records a broken invariant; settling says whether events in
// flight could explain it.
func (c *checker) violation(rule Rule, settling bool, subject, format string, args ...any) {
	c.violations = append(c.violations, Finding{Rule: rule, Subject: subject, Detail: fmt.Sprintf(format, args...), Settling: settling})
}

func (c *checker) warning(rule Rule, subject, format string, args ...any) {
	c.warnings = append(c.warnings, Finding{Rule: rule, Subject: subject, Detail: fmt.Sprintf(format, args...)})
}

// sorted returns m's values ordered by key, so that reports are stable.
func sorted[T any](m map[string]T) []T {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]T, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

func ticketSubject(id string) string  { return "tickets.tickets " + id }
func orderSubject(id string) string   { return "orders.orders " + id }
func paymentSubject(id string) string { return "payments.payments " + id }

// outboxes: no stored event is left unpublished.
func (c *checker) outboxes() {
	for _, t := range sorted(c.s.Tickets) {
		if t.Pending > 0 {
			c.violation(RuleOutbox, true, ticketSubject(t.ID), "%d events stored with the ticket (version %d) never published", t.Pending, t.Version)
		}
	}
	for _, o := range sorted(c.s.Orders) {
		if o.Pending > 0 {
			c.violation(RuleOutbox, true, orderSubject(o.ID), "%d events stored with the order (%s, version %d) never published", o.Pending, o.Status, o.Version)
		}
	}
	for _, p := range sorted(c.s.Payments) {
		if p.Pending > 0 {
			c.violation(RuleOutbox, true, paymentSubject(p.ID), "%d events stored with the payment of order %s never published", p.Pending, p.OrderID)
		}
	}
}

// owners: sellers and buyers are users of the auth service.
func (c *checker) owners() {
	for _, t := range sorted(c.s.Tickets) {
		if _, ok := c.s.Users[t.UserID]; !ok {
			c.violation(RuleReference, false, ticketSubject(t.ID), "seller %q is no user of the auth service", t.UserID)
		}
	}
	for _, o := range sorted(c.s.Orders) {
		if _, ok := c.s.Users[o.UserID]; !ok {
			c.violation(RuleReference, false, orderSubject(o.ID), "buyer %q is no user of the auth service", o.UserID)
		}
	}
}

// ticketReplicas: the orders service holds every ticket at the ticket's
// version, title and price, and nothing else.
func (c *checker) ticketReplicas() {
	for _, t := range sorted(c.s.Tickets) {
		r, ok := c.s.TicketReplicas[t.ID]
		subject := "orders.tickets " + t.ID
		switch {
		case !ok:
			c.violation(RuleTicketReplica, true, subject, "missing: ticket:created of version %d never applied", t.Version)
		case r.Version < t.Version:
			c.violation(RuleTicketReplica, true, subject, "at version %d, the ticket at %d", r.Version, t.Version)
		case r.Version > t.Version:
			c.violation(RuleTicketReplica, false, subject, "at version %d, ahead of the ticket at %d", r.Version, t.Version)
		case r.Title != t.Title || r.Price != t.Price:
			c.violation(RuleTicketReplica, false, subject, "version %d is %q at %s, the ticket's is %q at %s",
				r.Version, r.Title, money(r.Price), t.Title, money(t.Price))
		}
	}
	for _, r := range sorted(c.s.TicketReplicas) {
		if _, ok := c.s.Tickets[r.ID]; !ok {
			c.violation(RuleReference, false, "orders.tickets "+r.ID, "replica of a ticket the tickets service does not have")
		}
	}
}

func money(cents int64) string { return fmt.Sprintf("$%d.%02d", cents/100, cents%100) }

// ordersOfTickets: every order is for a known ticket, and no ticket has two
// active orders.
func (c *checker) ordersOfTickets() {
	active := make(map[string][]Order)
	for _, o := range sorted(c.s.Orders) {
		if _, ok := c.s.Tickets[o.TicketID]; !ok {
			c.violation(RuleReference, false, orderSubject(o.ID), "for ticket %q, which the tickets service does not have", o.TicketID)
		}
		if _, ok := c.s.TicketReplicas[o.TicketID]; !ok {
			c.violation(RuleReference, false, orderSubject(o.ID), "for ticket %q, which the orders service's replicas lack", o.TicketID)
		}
		if !o.Status.Valid() {
			c.violation(RuleReference, false, orderSubject(o.ID), "unknown status %q", o.Status)
		}
		if o.Status.Active() {
			active[o.TicketID] = append(active[o.TicketID], o)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(active)) {
		if os := active[id]; len(os) > 1 {
			names := make([]string, len(os))
			for i, o := range os {
				names[i] = fmt.Sprintf("%s (%s)", o.ID, o.Status)
			}
			c.violation(RuleDoubleSale, false, ticketSubject(id), "%d active orders: %s", len(os), strings.Join(names, ", "))
		}
	}
}

// locks: a ticket's orderId is its one active order; an active order locks
// its ticket; a cancelled one does not.
func (c *checker) locks() {
	for _, t := range sorted(c.s.Tickets) {
		if t.OrderID == "" {
			continue
		}
		o, ok := c.s.Orders[t.OrderID]
		switch {
		case !ok:
			c.violation(RuleLock, false, ticketSubject(t.ID), "locked by order %s, which the orders service does not have", t.OrderID)
		case o.TicketID != t.ID:
			c.violation(RuleLock, false, ticketSubject(t.ID), "locked by order %s, which is for ticket %s", o.ID, o.TicketID)
		case !o.Status.Active():
			c.violation(RuleRelease, true, ticketSubject(t.ID), "still locked by order %s, which is %s", o.ID, o.Status)
		}
	}
	for _, o := range sorted(c.s.Orders) {
		t, ok := c.s.Tickets[o.TicketID]
		if !ok {
			continue
		}
		if o.Status == events.StatusCancelled && t.OrderID != o.ID &&
			!slices.Contains(t.Released, o.ID) && len(t.Released) < MaxReleased {
			// Both its order:created and its order:cancelled are still to
			// be applied by tickets: the ticket looks right, but will
			// change.
			c.violation(RuleRelease, true, orderSubject(o.ID), "cancelled, but its ticket %s has not applied its release (not among the ticket's released orders)", o.TicketID)
		}
		if !o.Status.Active() || t.OrderID == o.ID {
			continue
		}
		held := "not locked"
		if t.OrderID != "" {
			held = "locked by order " + t.OrderID
		}
		c.violation(RuleLock, true, orderSubject(o.ID), "%s order, but its ticket %s is %s", o.Status, o.TicketID, held)
	}
}

// claims: every active order holds the claim on its ticket, the one thing
// that keeps a second buyer off it.
func (c *checker) claims() {
	for _, o := range sorted(c.s.Orders) {
		if !o.Status.Active() {
			continue
		}
		cl, ok := c.s.Claims[o.TicketID]
		switch {
		case !ok:
			c.violation(RuleClaim, false, orderSubject(o.ID), "%s order without a claim on its ticket %s: another buyer could order it", o.Status, o.TicketID)
		case cl.OrderID != o.ID:
			c.violation(RuleClaim, false, orderSubject(o.ID), "%s order, but the claim on its ticket %s is order %s's", o.Status, o.TicketID, cl.OrderID)
		}
	}
	for _, cl := range sorted(c.s.Claims) {
		o, ok := c.s.Orders[cl.OrderID]
		subject := "orders.claims " + cl.TicketID
		switch {
		case !ok:
			c.warning(RuleClaim, subject, "left by order %s, never stored (claimed %s); the next buyer of the ticket takes it over once stale",
				cl.OrderID, cl.CreatedAt.Format(time.RFC3339))
		case !o.Status.Active():
			c.warning(RuleClaim, subject, "left by order %s, which is %s; the next buyer of the ticket takes it over", o.ID, o.Status)
		}
	}
}

// payments: one payment per complete order, and every payment taken in by
// its order.
func (c *checker) payments() {
	succeeded := make(map[string][]Payment)
	for _, p := range sorted(c.s.Payments) {
		switch p.Status {
		case paymentSucceeded:
			succeeded[p.OrderID] = append(succeeded[p.OrderID], p)
		case paymentPending:
			c.warning(RulePayment, paymentSubject(p.ID), "claim to charge order %s still pending: a charge under way, or one whose outcome is unknown, which the reconciler settles", p.OrderID)
			continue
		case paymentRefunding:
			c.violation(RuleRefund, true, paymentSubject(p.ID), "refund of charge %s (order %s) under way", p.StripeID, p.OrderID)
			continue
		case paymentRefunded:
			if o, ok := c.s.Orders[p.OrderID]; ok && o.Status == events.StatusComplete {
				c.violation(RuleRefund, false, paymentSubject(p.ID), "charge %s refunded as %s, but order %s is complete", p.StripeID, p.RefundID, o.ID)
			}
			continue
		default:
			c.violation(RulePayment, false, paymentSubject(p.ID), "unknown status %q", p.Status)
			continue
		}
		o, ok := c.s.Orders[p.OrderID]
		switch {
		case !ok:
			c.violation(RuleReference, false, paymentSubject(p.ID), "payment of order %q, which the orders service does not have", p.OrderID)
		case o.Status == events.StatusCancelled:
			c.violation(RuleRefund, true, paymentSubject(p.ID), "charge %s succeeded, order %s is cancelled: not refunded", p.StripeID, o.ID)
		case o.Status != events.StatusComplete:
			c.violation(RulePayment, true, paymentSubject(p.ID), "order %s is still %s: payment:created not applied", o.ID, o.Status)
		}
	}
	for _, o := range sorted(c.s.Orders) {
		ps := succeeded[o.ID]
		switch {
		case len(ps) > 1:
			ids := make([]string, len(ps))
			for i, p := range ps {
				ids[i] = p.ID
			}
			c.violation(RulePayment, false, orderSubject(o.ID), "%d payments: %s", len(ps), strings.Join(ids, ", "))
		case o.Status == events.StatusComplete && len(ps) == 0:
			c.violation(RulePayment, false, orderSubject(o.ID), "complete order without a payment")
		}
	}
}

// orderReplicas: the payments service holds every order as its last event
// announced it. A complete order's last event is its order:created, since
// completing announces nothing: the replica says created, one version
// below the order.
func (c *checker) orderReplicas() {
	for _, o := range sorted(c.s.Orders) {
		r, ok := c.s.OrderReplicas[o.ID]
		subject := "payments.orders " + o.ID
		wantStatus, wantVersion := o.Status, o.Version
		if o.Status == events.StatusComplete {
			wantStatus, wantVersion = events.StatusCreated, o.Version-1
		}
		switch {
		case !ok:
			c.violation(RuleOrderReplica, true, subject, "missing: order:created never applied (order %s, version %d)", o.Status, o.Version)
		case r.Version < wantVersion:
			c.violation(RuleOrderReplica, true, subject, "%s at version %d, should be %s at %d (the order is %s at %d)",
				r.Status, r.Version, wantStatus, wantVersion, o.Status, o.Version)
		case r.Version > wantVersion || r.Status != wantStatus:
			c.violation(RuleOrderReplica, false, subject, "%s at version %d, should be %s at %d (the order is %s at %d)",
				r.Status, r.Version, wantStatus, wantVersion, o.Status, o.Version)
		case r.UserID != o.UserID || !r.ExpiresAt.Equal(o.ExpiresAt):
			c.violation(RuleOrderReplica, false, subject, "buyer %s expiring %s, the order's is %s expiring %s",
				r.UserID, r.ExpiresAt.Format(time.RFC3339Nano), o.UserID, o.ExpiresAt.Format(time.RFC3339Nano))
		}
	}
	for _, r := range sorted(c.s.OrderReplicas) {
		if _, ok := c.s.Orders[r.ID]; !ok {
			c.violation(RuleReference, false, "payments.orders "+r.ID, "replica of an order the orders service does not have")
		}
	}
}

// expiry: an unpaid order is cancelled soon after it expires, at the
// latest by orders' sweeper when its expiry was lost.
func (c *checker) expiry() {
	for _, o := range sorted(c.s.Orders) {
		if (o.Status == events.StatusCreated || o.Status == events.StatusAwaitingPayment) && c.now.After(o.ExpiresAt.Add(c.expiryBound)) {
			c.violation(RuleExpiry, true, orderSubject(o.ID), "still %s %v after it expired at %s (allowed: %v)",
				o.Status, c.now.Sub(o.ExpiresAt).Round(time.Millisecond), o.ExpiresAt.Format(time.RFC3339Nano), c.expiryBound)
		}
	}
}

// deadLetters: every event a service gave up on needs someone to look at
// it: to mend what made it fail and replay it, or to discard it.
func (c *checker) deadLetters() {
	for _, d := range sorted(c.s.DeadLetters) {
		c.violation(RuleDeadLetter, false, d.Service+".deadletters "+d.ID, "%s given up on by %s: %s", d.Subject, d.Group, d.Err)
	}
}
