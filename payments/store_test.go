package main

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/payments/internal/payment"
)

// The store's guarantees that the API tests cannot reach at the right
// moment: what a holder that lost its claim may still do.

func TestClaim_HolderThatLostItsClaimCannotReleaseOrAbandonIt(t *testing.T) {
	a := newApp(t)
	o := a.created(t, a.order(newID(), 1500))
	ctx := t.Context()
	t0 := a.clock.Now()
	first, err := a.store.Claim(ctx, payment.Claim{OrderID: o.ID, Token: "tok_visa", ClaimedAt: t0}, t0)
	require.NoError(t, err)
	t1 := t0.Add(2 * time.Minute)
	second, err := a.store.Claim(ctx, payment.Claim{OrderID: o.ID, Token: "tok_other", ClaimedAt: t1}, t1.Add(-time.Minute))
	require.NoError(t, err)
	require.Equal(t, first.ID, second.ID, "taken over, not replaced")
	assert.Equal(t, "tok_visa", second.Token, "the taken-over claim charges its own token")

	require.NoError(t, a.store.Release(ctx, first))
	require.NoError(t, a.store.Abandon(ctx, first))

	docs := a.payments(t)
	require.Len(t, docs, 1, "the new holder's claim stays")
	assert.False(t, docs[0].Abandoned)

	require.NoError(t, a.store.Release(ctx, second))
	assert.Empty(t, a.payments(t))
}

func TestComplete_ClaimCompletedByItsNewHolderIsReturnedAsItIs(t *testing.T) {
	a := newApp(t)
	o := a.created(t, a.order(newID(), 1500))
	ctx := t.Context()
	now := a.clock.Now()
	c, err := a.store.Claim(ctx, payment.Claim{OrderID: o.ID, Token: "tok_visa", ClaimedAt: now}, now)
	require.NoError(t, err)
	p, err := a.store.Complete(ctx, c, "ch_first")
	require.NoError(t, err)

	again, err := a.store.Complete(ctx, c, "ch_first")

	require.NoError(t, err)
	assert.Equal(t, p, again)
	docs := a.payments(t)
	require.Len(t, docs, 1)
	assert.LessOrEqual(t, len(docs[0].Outbox), 1, "payment:created stored once")
}

func TestClaim_PaidOrderIsErrAlreadyPaidEvenWhenItsClaimWouldBeStale(t *testing.T) {
	a := newApp(t)
	o := a.created(t, a.order(newID(), 1500))
	ctx := t.Context()
	now := a.clock.Now()
	c, err := a.store.Claim(ctx, payment.Claim{OrderID: o.ID, Token: "tok_visa", ClaimedAt: now}, now)
	require.NoError(t, err)
	_, err = a.store.Complete(ctx, c, "ch_1")
	require.NoError(t, err)

	later := now.Add(time.Hour)
	_, err = a.store.Claim(ctx, payment.Claim{OrderID: o.ID, Token: "tok_visa", ClaimedAt: later}, later)

	assert.ErrorIs(t, err, payment.ErrAlreadyPaid)
}

func TestClaimRefund_OfRacingHoldersExactlyOneWins(t *testing.T) {
	a := newApp(t)
	o := a.created(t, a.order(newID(), 1500))
	ctx := t.Context()
	now := a.clock.Now()
	c, err := a.store.Claim(ctx, payment.Claim{OrderID: o.ID, Token: "tok_visa", ClaimedAt: now}, now)
	require.NoError(t, err)
	p, err := a.store.Complete(ctx, c, "ch_1")
	require.NoError(t, err)
	const racers = 8

	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() { _, errs[i] = a.store.ClaimRefund(ctx, p.ID, now, now.Add(-time.Minute)) })
	}
	wg.Wait()

	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		assert.ErrorIs(t, err, payment.ErrRefundInProgress)
	}
	assert.Equal(t, 1, won)
}
