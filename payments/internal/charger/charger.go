// Package charger charges cards through Stripe's API with stripe-go. It is
// the only package that knows the SDK: Stripe's errors are translated into
// the payment package's before they leave.
package charger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85"

	"ticketing.dev/common/metrics"
	"ticketing.dev/payments/internal/payment"
)

// DefaultTimeout bounds one request to Stripe. It is below the HTTP
// server's write timeout, so the buyer hears how the charge went.
const DefaultTimeout = 20 * time.Second

// Stripe is a payment.Charger on Stripe's Charges and Refunds APIs.
type Stripe struct {
	client  *stripe.Client
	metrics *metrics.Stripe // nil records nothing
}

var _ payment.Charger = (*Stripe)(nil)

type config struct {
	baseURL string
	timeout time.Duration
	retries int64
	metrics *metrics.Stripe
}

// Option configures a Stripe charger.
type Option func(*config)

// WithBaseURL sends requests to url instead of Stripe's API, such as to
// stripe-mock.
func WithBaseURL(url string) Option {
	return func(c *config) { c.baseURL = url }
}

// WithTimeout bounds each request to Stripe by d instead of DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(c *config) { c.timeout = d }
}

// WithRetries lets stripe-go retry a failed request up to n times, under
// the same idempotency key. The default is none: a request that went
// unanswered is repeated by the next attempt of the buyer, which takes
// its claim over (see package payment), and a retry in here would only
// blur whether the failure came before or after Stripe saw the request.
func WithRetries(n int64) Option {
	return func(c *config) { c.retries = n }
}

// WithMetrics counts and times every request to Stripe in m, by outcome
// (see Outcome).
func WithMetrics(m *metrics.Stripe) Option {
	return func(c *config) { c.metrics = m }
}

// New returns a charger using secret key key, logging stripe-go's own
// reports of failed requests to log at debug level.
func New(key string, log *slog.Logger, opts ...Option) *Stripe {
	cfg := config{timeout: DefaultTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	bc := &stripe.BackendConfig{
		HTTPClient:        &http.Client{Timeout: cfg.timeout},
		LeveledLogger:     leveledLogger{log.With("component", "stripe")},
		MaxNetworkRetries: stripe.Int64(cfg.retries),
	}
	if cfg.baseURL != "" {
		bc.URL = stripe.String(cfg.baseURL)
	}
	return &Stripe{
		client:  stripe.NewClient(key, stripe.WithBackends(stripe.NewBackendsWithConfig(bc))),
		metrics: cfg.metrics,
	}
}

// Charge creates a Charge of amountCents in currency on the card token of
// claim c, under c's idempotency key, with c's ids in its metadata.
func (s *Stripe) Charge(ctx context.Context, c payment.Claim, amountCents int64, currency string) (string, error) {
	start := time.Now()
	id, err := s.charge(ctx, c, amountCents, currency)
	s.metrics.Request(OperationCharge, Outcome(err), time.Since(start))
	return id, err
}

// The metadata keys every charge carries, naming the claim it was made
// for, so that it can be found once Stripe has forgotten the claim's
// idempotency key (see FindCharge).
const (
	MetadataOrderID   = "order_id"
	MetadataPaymentID = "payment_id"
)

// SearchQuery is the query of Stripe's Charges search that finds the
// charges of claim c by their metadata. Ids are hex: nothing to escape.
func SearchQuery(c payment.Claim) string {
	return fmt.Sprintf("metadata['%s']:'%s' AND metadata['%s']:'%s'", MetadataOrderID, c.OrderID, MetadataPaymentID, c.ID)
}

// FindCharge looks the charges of claim c up with Stripe's Charges search,
// by the metadata Charge gives them, and returns the id of the one that
// succeeded. It fails with payment.ErrNotCharged when every one failed,
// and with another error when Stripe failed, or holds no charge of c, or
// one still pending, or more than one that succeeded. The search lags
// Stripe's writes by under a minute, up to an hour during incidents: it is
// for claims long past that (payment.MaxRepeatAge). The Charges list
// cannot filter by metadata.
func (s *Stripe) FindCharge(ctx context.Context, c payment.Claim) (string, error) {
	start := time.Now()
	params := &stripe.ChargeSearchParams{SearchParams: stripe.SearchParams{Query: SearchQuery(c)}}
	var succeeded, failed, other []string
	var err error
	for ch, serr := range s.client.V1Charges.Search(ctx, params).All(ctx) {
		if serr != nil {
			err = translate(serr)
			break
		}
		switch ch.Status {
		case stripe.ChargeStatusSucceeded:
			succeeded = append(succeeded, ch.ID)
		case stripe.ChargeStatusFailed:
			failed = append(failed, ch.ID)
		default:
			other = append(other, ch.ID+" "+string(ch.Status))
		}
	}
	s.metrics.Request(OperationFindCharge, Outcome(err), time.Since(start))
	switch {
	case err != nil:
		return "", fmt.Errorf("find charge: %w", err)
	case len(other) > 0:
		return "", fmt.Errorf("find charge: stripe holds charges of the claim not yet settled: %s", strings.Join(other, ", "))
	case len(succeeded) == 1:
		return succeeded[0], nil
	case len(succeeded) > 1:
		return "", fmt.Errorf("find charge: stripe holds %d successful charges of one claim: %s", len(succeeded), strings.Join(succeeded, ", "))
	case len(failed) > 0:
		return "", fmt.Errorf("find charge: stripe holds only failed charges of the claim (%s): %w", strings.Join(failed, ", "), payment.ErrNotCharged)
	default:
		// The request never reached Stripe, or the charge was made
		// before charges carried metadata: only a person can tell.
		return "", fmt.Errorf("find charge: stripe holds no charge with metadata %s %s and %s %s",
			MetadataOrderID, c.OrderID, MetadataPaymentID, c.ID)
	}
}

// The operations of ticketing_stripe_requests_total, by what they ask Stripe.
const (
	// OperationCharge is a charge created.
	OperationCharge = "charge"
	// OperationRefund is a refund created.
	OperationRefund = "refund"
	// OperationListRefunds is a charge's refunds listed, when Stripe says
	// it is refunded already.
	OperationListRefunds = "list_refunds"
	// OperationFindCharge is a claim's charges looked up by metadata.
	OperationFindCharge = "find_charge"
)

// Refund refunds the whole charge chargeID. A charge refunded already,
// under another key or more than a day ago, returns its refund.
func (s *Stripe) Refund(ctx context.Context, chargeID, idempotencyKey string) (string, error) {
	start := time.Now()
	params := &stripe.RefundCreateParams{Charge: stripe.String(chargeID)}
	params.SetIdempotencyKey(idempotencyKey)
	r, err := s.client.V1Refunds.Create(ctx, params)
	var se *stripe.Error
	switch {
	case errors.As(err, &se) && se.Code == stripe.ErrorCodeChargeAlreadyRefunded:
		s.metrics.Request(OperationRefund, OutcomeSucceeded, time.Since(start))
		return s.existingRefund(ctx, chargeID)
	case err != nil:
		err = translate(err)
	case r.Status == stripe.RefundStatusFailed || r.Status == stripe.RefundStatusCanceled:
		err = fmt.Errorf("refund %s of %s: stripe says %s", r.ID, chargeID, r.Status)
	case r.ID == "":
		err = payment.Unknown(errors.New("stripe answered without a refund id"))
	}
	s.metrics.Request(OperationRefund, Outcome(err), time.Since(start))
	if err != nil {
		return "", fmt.Errorf("refund: %w", err)
	}
	return r.ID, nil
}

// existingRefund returns the id of the newest refund of chargeID.
func (s *Stripe) existingRefund(ctx context.Context, chargeID string) (string, error) {
	start := time.Now()
	params := &stripe.RefundListParams{Charge: stripe.String(chargeID)}
	params.Limit = stripe.Int64(1)
	var id string
	var err error
	for r, lerr := range s.client.V1Refunds.List(ctx, params).All(ctx) {
		id, err = r.ID, lerr
		if lerr != nil {
			err = translate(lerr)
		}
		break
	}
	if err == nil && id == "" {
		err = fmt.Errorf("stripe says %s is refunded but lists no refund", chargeID)
	}
	s.metrics.Request(OperationListRefunds, Outcome(err), time.Since(start))
	if err != nil {
		return "", fmt.Errorf("refund: %w", err)
	}
	return id, nil
}

// The outcomes of a request to Stripe, as Outcome names them.
const (
	// OutcomeSucceeded is a charge made.
	OutcomeSucceeded = "succeeded"
	// OutcomeDeclined is a charge Stripe refused for a reason the buyer
	// can act on: a declined card, a bad token, an amount too small.
	OutcomeDeclined = "declined"
	// OutcomeUnavailable is a request Stripe failed (5xx, 429) or that
	// could not reach it: nothing was charged.
	OutcomeUnavailable = "unavailable"
	// OutcomeUnknown is a request whose answer never came: it may have
	// charged the card, and its claim is settled later.
	OutcomeUnknown = "unknown"
	// OutcomeError is any other refusal, a fault of this service such as
	// a rejected API key.
	OutcomeError = "error"
)

// Outcome names how a request to Stripe that returned err ended, for the
// outcome label of ticketing_stripe_requests_total.
func Outcome(err error) string {
	switch {
	case err == nil:
		return OutcomeSucceeded
	case errors.Is(err, payment.ErrDeclined):
		return OutcomeDeclined
	case errors.Is(err, payment.ErrOutcomeUnknown):
		return OutcomeUnknown
	case errors.Is(err, payment.ErrStripeUnavailable):
		return OutcomeUnavailable
	default:
		return OutcomeError
	}
}

func (s *Stripe) charge(ctx context.Context, c payment.Claim, amountCents int64, currency string) (string, error) {
	params := &stripe.ChargeCreateParams{
		Amount:   stripe.Int64(amountCents),
		Currency: stripe.String(currency),
		Metadata: map[string]string{MetadataOrderID: c.OrderID, MetadataPaymentID: c.ID},
	}
	if err := params.SetSource(c.Token); err != nil {
		return "", fmt.Errorf("charge: %w", err)
	}
	params.SetIdempotencyKey(c.IdempotencyKey())
	ch, err := s.client.V1Charges.Create(ctx, params)
	if err != nil {
		return "", translate(err)
	}
	if ch.Status == stripe.ChargeStatusFailed {
		return "", payment.Declined(ch.FailureMessage)
	}
	if ch.ID == "" {
		// A success without a charge id: whatever happened, it may have
		// been charged.
		return "", payment.Unknown(errors.New("charge: stripe answered without a charge id"))
	}
	return ch.ID, nil
}

// translate turns an error of stripe-go into the payment package's.
//
// Stripe's answers:
//   - card_error (402): the card was declined — a 400 with Stripe's message.
//   - invalid_request_error about the source (a bad, used or missing token)
//     or the amount (below Stripe's minimum): the buyer's request cannot be
//     charged — a 400 with Stripe's message.
//   - 5xx, 429: Stripe failed — a 502. Stripe replays a 5xx for the key,
//     so repeating the same request cannot help: the claim is released.
//   - anything else, such as a rejected API key or an idempotency error, is
//     a fault of this service: a 500, logged.
//
// No answer: a connection that could not be made is a 502 that certainly
// charged nothing; any other failure (a timeout, a connection dropped, an
// answer that could not be read) may have charged the card — a 502 whose
// claim the next attempt repeats.
func translate(err error) error {
	var se *stripe.Error
	if errors.As(err, &se) {
		switch {
		case se.Type == stripe.ErrorTypeCard:
			return payment.Declined(se.Msg)
		case se.Type == stripe.ErrorTypeInvalidRequest && (se.Param == "source" || se.Param == "amount") && se.HTTPStatusCode < 500:
			return payment.Declined(se.Msg)
		case se.HTTPStatusCode >= 500 || se.HTTPStatusCode == http.StatusTooManyRequests:
			return fmt.Errorf("charge: stripe answered %d (%s %s): %w", se.HTTPStatusCode, se.Type, se.Msg, payment.ErrStripeUnavailable)
		default:
			return fmt.Errorf("charge: stripe refused the request: %d %s %s: %s", se.HTTPStatusCode, se.Type, se.Code, se.Msg)
		}
	}
	if notSent(err) {
		return fmt.Errorf("charge: %w: %w", payment.ErrStripeUnavailable, err)
	}
	return payment.Unknown(err)
}

// notSent reports whether err shows that the request never left: the
// connection to Stripe could not be made.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// leveledLogger passes stripe-go's warnings and errors to slog at debug
// level: the errors are returned by Charge as well and reported by its
// caller. Its debug and info messages are dropped, since they hold whole
// request and response bodies, card details included.
type leveledLogger struct{ log *slog.Logger }

func (l leveledLogger) Debugf(string, ...any)          {}
func (l leveledLogger) Infof(string, ...any)           {}
func (l leveledLogger) Warnf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l leveledLogger) Errorf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
