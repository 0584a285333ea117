package ticket

import (
	"context"
	"errors"
	"fmt"

	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
)

// Service lists, edits and reserves tickets. Every change is applied to the
// stored state as it is when written (see Store.Update): a change that
// loses a race is applied again to the winner's result, rules and all,
// never written over it.
type Service struct {
	store Store
	// maxForSale bounds the tickets one seller has for sale; 0 for none.
	maxForSale int
	// sellers serialises one seller's creates in this process, so that
	// they queue here rather than on the store's lock (Store.LockSeller),
	// which serialises them across processes.
	sellers keylock.Locks
}

// NewService returns a Service keeping tickets in store that lets a seller
// have at most maxForSale tickets for sale at once (0: no bound).
func NewService(store Store, maxForSale int) *Service {
	return &Service{store: store, maxForSale: max(maxForSale, 0)}
}

// Create lists a ticket for sale by userID. The title is normalized with
// NormalizeTitle; a broken rule fails with an *errs.ValidationError, and a
// seller who already has the most tickets for sale allowed with an
// *errs.Error of kind Invalid (see TooManyForSale).
//
// The count and the insert happen under the seller's lock, in this process
// and in the store, so that racing creates cannot pass the bound together,
// from one replica or several.
func (s *Service) Create(ctx context.Context, userID, title string, price events.Money) (Ticket, error) {
	title = NormalizeTitle(title)
	if err := Validate(title, price); err != nil {
		return Ticket{}, err
	}
	if s.maxForSale == 0 {
		return s.insert(ctx, userID, title, price)
	}
	// The process's lock first, so that its creates queue here rather
	// than on the store's.
	unlock := s.sellers.Lock(userID)
	defer unlock()
	unlockStore, err := s.store.LockSeller(ctx, userID)
	if err != nil {
		return Ticket{}, fmt.Errorf("create ticket: %w", err)
	}
	t, err := s.insertWithRoom(ctx, userID, title, price)
	// A lock not released lapses on its own: only a create that failed
	// anyway reports it. One that stored its ticket answers with it, since
	// its event is on its way.
	if uerr := unlockStore(ctx); uerr != nil && err != nil {
		err = errors.Join(err, uerr)
	}
	return t, err
}

// insertWithRoom inserts the ticket unless the seller already has
// maxForSale for sale; the caller holds the seller's lock.
func (s *Service) insertWithRoom(ctx context.Context, userID, title string, price events.Money) (Ticket, error) {
	n, err := s.store.CountForSale(ctx, userID, s.maxForSale)
	if err != nil {
		return Ticket{}, fmt.Errorf("create ticket: %w", err)
	}
	if n >= s.maxForSale {
		return Ticket{}, TooManyForSale(s.maxForSale)
	}
	return s.insert(ctx, userID, title, price)
}

func (s *Service) insert(ctx context.Context, userID, title string, price events.Money) (Ticket, error) {
	t, err := s.store.Insert(ctx, Ticket{Title: title, Price: price, UserID: userID})
	if err != nil {
		return Ticket{}, fmt.Errorf("create ticket: %w", err)
	}
	return t, nil
}

// Get returns the ticket, ErrNotFound or ErrInvalidID.
func (s *Service) Get(ctx context.Context, id string) (Ticket, error) {
	t, err := s.store.Get(ctx, id)
	if err != nil {
		return Ticket{}, fmt.Errorf("get ticket: %w", err)
	}
	return t, nil
}

// Available returns the tickets of page that are for sale, those no order
// holds, oldest first, and whether more follow the page.
func (s *Service) Available(ctx context.Context, page Page) (ts []Ticket, more bool, err error) {
	ts, more, err = s.store.Available(ctx, page)
	if err != nil {
		return nil, false, fmt.Errorf("list tickets: %w", err)
	}
	return ts, more, nil
}

// Edit sets the title and price of ticket id on behalf of userID. It fails
// with an *errs.ValidationError, then ErrNotFound, ErrNotOwner or
// ErrReserved, in that order.
func (s *Service) Edit(ctx context.Context, userID, id, title string, price events.Money) (Ticket, error) {
	title = NormalizeTitle(title)
	if err := Validate(title, price); err != nil {
		return Ticket{}, err
	}
	t, _, err := s.store.Update(ctx, id, func(t *Ticket) (bool, error) {
		return true, t.Edit(userID, title, price)
	})
	if err != nil {
		return Ticket{}, fmt.Errorf("edit ticket: %w", err)
	}
	return t, nil
}

// Reserve locks ticket id for orderID, as order:created asks. A redelivered
// event changes nothing; see Ticket.Reserve.
func (s *Service) Reserve(ctx context.Context, id, orderID string) (changed bool, err error) {
	_, changed, err = s.store.Update(ctx, id, func(t *Ticket) (bool, error) { return t.Reserve(orderID) })
	if err != nil {
		return false, fmt.Errorf("reserve ticket %s for order %s: %w", id, orderID, err)
	}
	return changed, nil
}

// Release unlocks ticket id held by orderID, as order:cancelled asks. A
// redelivered event changes nothing; see Ticket.Release.
func (s *Service) Release(ctx context.Context, id, orderID string) (changed bool, err error) {
	_, changed, err = s.store.Update(ctx, id, func(t *Ticket) (bool, error) { return t.Release(orderID) })
	if err != nil {
		return false, fmt.Errorf("release ticket %s from order %s: %w", id, orderID, err)
	}
	return changed, nil
}
