package load

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// pool sets tickets aside for the order and pay steps, Pool or, with
// MinRows, as many as the step needs to make rows hold MinRows rows, and
// waits a moment for them to reach the orders service. It uses the tickets
// the create step made first, then those whose orders expired unpaid, and
// creates the rest.
func (r *runner) pool(ctx context.Context, rows string) (chan string, error) {
	n := r.cfg.Pool
	if r.cfg.MinRows > 0 {
		have, err := r.countRows(ctx, rows)
		if err != nil {
			return nil, err
		}
		// A margin for the requests that fail, each of which uses a
		// ticket too.
		need := r.cfg.MinRows - have
		n = max(n, need+need/20+r.cfg.Users)
	}
	ids := r.reuse(ctx, n)
	if len(ids) < n {
		r.cfg.Progress("creating %d tickets for the step (%d reused)", n-len(ids), len(ids))
	}
	fresh, err := r.createTickets(ctx, n-len(ids))
	if err != nil {
		return nil, err
	}
	// New tickets first: the first is the probe below.
	ids = append(fresh, ids...)
	ch := make(chan string, len(ids))
	for _, id := range ids {
		ch <- id
	}
	if _, err := r.settle(ctx); err != nil {
		return nil, err
	}
	// The tickets reach the orders service by events: wait for the pool's
	// first one, new if any is, to be orderable (the seller orders it, so
	// it leaves the pool). Others may still be on their way; the steps put
	// those back.
	probe := <-ch
	err = r.poll(ctx, func() (bool, error) {
		_, err := r.seller.createOrder(ctx, probe)
		if isStatus(err, http.StatusNotFound) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return nil, fmt.Errorf("the ticket pool does not become orderable: %w", err)
	}
	return ch, nil
}

// reuse returns up to n tickets known to be orderable, and forgets them:
// those the create step made, then those of orders that expired unpaid
// once the tickets service shows them released. An expiry is handled
// late under load, and not at all while the expiration service is down:
// a ticket still held stays for a later pool.
func (r *runner) reuse(ctx context.Context, n int) []string {
	r.mu.Lock()
	k := min(n, len(r.available))
	ids := append([]string(nil), r.available[:k]...)
	r.available = r.available[k:]
	r.mu.Unlock()
	var held []expiring
	now := time.Now()
	for len(ids) < n && len(r.recyclable) > 0 && r.recyclable[0].at.Before(now) {
		var batch []expiring
		for len(batch) < n-len(ids) && len(r.recyclable) > 0 && r.recyclable[0].at.Before(now) {
			batch, r.recyclable = append(batch, r.recyclable[0]), r.recyclable[1:]
		}
		free, still := r.released(ctx, batch)
		ids = append(ids, free...)
		held = append(held, still...)
		if len(free) == 0 {
			break // the later expiries are not handled either
		}
	}
	r.recyclable = append(held, r.recyclable...)
	return ids
}

// released returns the tickets of batch that no order holds any more, as
// the tickets service shows them, and the others.
func (r *runner) released(ctx context.Context, batch []expiring) (free []string, held []expiring) {
	ok := make([]bool, len(batch))
	var wg sync.WaitGroup
	for w := range r.cfg.Users {
		wg.Go(func() {
			for i := w; i < len(batch); i += r.cfg.Users {
				t, err := r.users[w].showTicket(ctx, batch[i].id)
				ok[i] = err == nil && t.OrderID == ""
			}
		})
	}
	wg.Wait()
	for i, e := range batch {
		if ok[i] {
			free = append(free, e.id)
		} else {
			held = append(held, e)
		}
	}
	return free, held
}

// countRows returns how many rows the collection rows holds: by
// Config.CountRows, or else those this run added.
func (r *runner) countRows(ctx context.Context, rows string) (int, error) {
	if r.cfg.CountRows == nil {
		r.addMade(r.meter.takeCalls())
		r.meter.takeOrders() // the run's own, outside any step
		return r.made[rows], nil
	}
	n, err := r.cfg.CountRows(ctx, rows)
	if err != nil {
		return 0, fmt.Errorf("load: count %s: %w", rows, err)
	}
	return n, nil
}

// madeBy are the calls that add a row, by the collection they add to.
var madeBy = map[string]string{
	Call("POST", "/api/tickets", http.StatusCreated):  "tickets",
	Call("POST", "/api/orders", http.StatusCreated):   "orders",
	Call("POST", "/api/payments", http.StatusCreated): "payments",
}

// addMade counts the rows calls added.
func (r *runner) addMade(calls map[string]int) {
	for k, n := range calls {
		if rows, ok := madeBy[k]; ok {
			r.made[rows] += n
		}
	}
}
