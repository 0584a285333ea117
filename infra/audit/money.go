package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	"ticketing.dev/common/events"
)

// StripeCall is one request the payments service made to Stripe, as a
// recording proxy in front of it saw it and its answer. Its JSON is a line
// of the file the local stack records them in (ReadStripeCalls).
type StripeCall struct {
	Method         string `json:"method"`
	Path           string `json:"path"`
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// Status is the status of Stripe's answer.
	Status int `json:"status"`
}

// ReadStripeCalls reads calls written as JSON Lines, one StripeCall a
// line, such as the local stack's record of them. A last line without its
// newline is one still being written, and is left out.
func ReadStripeCalls(r io.Reader) ([]StripeCall, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read stripe calls: %w", err)
	}
	var calls []StripeCall
	for n := 1; ; n++ {
		line, rest, complete := bytes.Cut(data, []byte("\n"))
		if !complete {
			return calls, nil
		}
		data = rest
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var c StripeCall
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("read stripe calls: line %d: %w", n, err)
		}
		calls = append(calls, c)
	}
}

// The idempotency keys the payments service sends: a charge is keyed by
// its order and payment, a refund by its payment.
const (
	chargeKeyPrefix = "payment-"
	refundKeyPrefix = "refund-"
)

// Money checks what Stripe was asked for against what the services stored:
// every charge Stripe made (a 200 to POST /v1/charges) is the payment of a
// complete order, or the payment of a cancelled order refunded exactly
// once (a 200 to POST /v1/refunds); and no refund was made of any other
// payment. Stripe answers a request repeated under an idempotency key with
// what the first one did, so calls are counted by key: a retried charge or
// refund is the same one. Run it on a quiet system: a refund still due or
// under way is reported too.
func Money(s *Snapshot, calls []StripeCall) []Finding {
	charged := make(map[string]string) // payment id → order id
	refunds := make(map[string]int)    // payment id → refunds Stripe made
	refundKeys := make(map[string]bool)
	var out []Finding
	for _, c := range calls {
		if c.Method != http.MethodPost || c.Status != http.StatusOK {
			continue
		}
		switch {
		case c.Path == "/v1/charges":
			order, payment, ok := strings.Cut(strings.TrimPrefix(c.IdempotencyKey, chargeKeyPrefix), "-")
			if !ok || !strings.HasPrefix(c.IdempotencyKey, chargeKeyPrefix) {
				out = append(out, Finding{Rule: RuleMoney, Subject: "stripe charge", Detail: fmt.Sprintf("idempotency key %q names no payment", c.IdempotencyKey)})
				continue
			}
			charged[payment] = order
		case c.Path == "/v1/refunds":
			payment, ok := strings.CutPrefix(c.IdempotencyKey, refundKeyPrefix)
			if !ok {
				out = append(out, Finding{Rule: RuleMoney, Subject: "stripe refund", Detail: fmt.Sprintf("idempotency key %q names no payment", c.IdempotencyKey)})
				continue
			}
			if !refundKeys[c.IdempotencyKey] {
				refundKeys[c.IdempotencyKey] = true
				refunds[payment]++
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(charged)) {
		orderID := charged[id]
		subject := paymentSubject(id)
		p, stored := s.Payments[id]
		o := s.Orders[orderID]
		switch {
		case !stored:
			out = append(out, Finding{Rule: RuleMoney, Subject: subject, Detail: fmt.Sprintf("Stripe charged it for order %s, but no payment is stored", orderID)})
		case p.Status == paymentSucceeded && o.Status == events.StatusComplete && refunds[id] == 0:
		case o.Status == events.StatusCancelled && refunds[id] == 1 && p.Status == paymentRefunded:
		default:
			out = append(out, Finding{Rule: RuleMoney, Subject: subject, Detail: fmt.Sprintf("charged for order %s (%s), payment %s, refunded %d times at Stripe",
				orderID, o.Status, p.Status, refunds[id])})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(refunds)) {
		if _, ok := charged[id]; !ok {
			out = append(out, Finding{Rule: RuleMoney, Subject: paymentSubject(id), Detail: fmt.Sprintf("refunded %d times at Stripe, never charged", refunds[id])})
		}
	}
	return out
}
