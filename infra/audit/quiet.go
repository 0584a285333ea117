package audit

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"time"
)

// Quiet is how long the data must stay unchanged, with no settling
// violation, for WaitQuiet to call the system quiet. An event stored in
// an outbox or waiting in a channel shows as a settling violation, so this
// only has to cover a handler between its read and its write.
const Quiet = time.Second

// pollEvery is how often WaitQuiet reads the databases, at the most: a
// read that takes longer is followed by a pause as long as it took, so
// that on large collections the auditor takes at most half of the
// database's time from the handlers it waits for (on FerretDB over
// PostgreSQL one read of 55,000 documents took 2.5 s).
const pollEvery = 200 * time.Millisecond

// ErrNotQuiet is returned by WaitQuiet when the system did not settle in
// time; the report it returns with it says what was still unsettled.
var ErrNotQuiet = errors.New("audit: the system did not become quiet")

// WaitQuiet polls the databases until no violation that events in flight
// could explain remains — outboxes empty, replicas at their owners'
// versions, locks and releases applied, payments taken in, expired orders
// cancelled — and nothing has changed for Quiet, then returns the audit of
// that state, for a system configured as cfg says. After timeout it
// returns the last audit with ErrNotQuiet.
func WaitQuiet(ctx context.Context, dbs Databases, timeout time.Duration, cfg Config) (Report, error) {
	return wait(ctx, dbs, timeout, 0, cfg)
}

// WaitSettled is WaitQuiet for a backlog of unknown size, such as a
// benchmark step leaves: it waits as long as the data keeps changing, for
// most at the most, and gives up with ErrNotQuiet once nothing has changed
// for stall while events are still in flight.
func WaitSettled(ctx context.Context, dbs Databases, stall, most time.Duration, cfg Config) (Report, error) {
	return wait(ctx, dbs, most, stall, cfg)
}

// wait is WaitQuiet, giving up after stall without change when stall > 0.
func wait(ctx context.Context, dbs Databases, timeout, stall time.Duration, cfg Config) (Report, error) {
	deadline := time.Now().Add(timeout)
	var (
		r          Report
		last       uint64
		stillSince time.Time
	)
	for {
		start := time.Now()
		s, err := Load(ctx, dbs)
		pause := max(pollEvery, time.Since(start))
		if err != nil {
			// A database too busy to answer in time is no reason to
			// give up before the timeout.
			if ctx.Err() != nil || time.Now().After(deadline) {
				return r, err
			}
			select {
			case <-ctx.Done():
				return r, err
			case <-time.After(pause):
			}
			continue
		}
		now := time.Now()
		r = Check(s, now, cfg)
		fp := s.fingerprint()
		if fp != last || stillSince.IsZero() {
			last, stillSince = fp, now
		}
		switch {
		case !r.Settling() && now.Sub(stillSince) >= Quiet:
			return r, nil
		case now.After(deadline):
			return r, fmt.Errorf("%w within %v", ErrNotQuiet, timeout)
		case stall > 0 && now.Sub(stillSince) >= stall:
			return r, fmt.Errorf("%w: nothing changed for %v", ErrNotQuiet, stall)
		}
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("audit: wait for quiet: %w", ctx.Err())
		case <-time.After(pause):
		}
	}
}

// fingerprint is a hash of everything the snapshot holds, to notice change.
func (s *Snapshot) fingerprint() uint64 {
	h := fnv.New64a()
	writeSorted(h, s.Users)
	writeSorted(h, s.Tickets)
	writeSorted(h, s.Orders)
	writeSorted(h, s.TicketReplicas)
	writeSorted(h, s.Claims)
	writeSorted(h, s.Payments)
	writeSorted(h, s.OrderReplicas)
	return h.Sum64()
}

// writeSorted writes each value of m to w, in the order of their keys, a
// line each.
func writeSorted[T any](w io.Writer, m map[string]T) {
	for _, v := range sorted(m) {
		fmt.Fprintf(w, "%+v\n", v)
	}
}
