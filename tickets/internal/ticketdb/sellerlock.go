package ticketdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// SellerLocks is the collection of the sellers' create locks.
const SellerLocks = "sellerlocks"

// DefaultSellerLease is how long a create lock holds unless released: far
// longer than a count and an insert take, even through the embedded
// server's stalls of a few seconds, and short enough that a create waiting
// behind a lock a crash left is still answered within the API's 30 s.
const DefaultSellerLease = 10 * time.Second

// cleanupTimeout bounds the release of a lock, which must happen even
// after the request that took it was cancelled.
const cleanupTimeout = 5 * time.Second

// Waiting for a lock another process holds: it is taken again every
// lockRetry at first, and at most every maxLockRetry.
const (
	lockRetry    = time.Millisecond
	maxLockRetry = 25 * time.Millisecond
)

// sellerLock is the document that holds a seller's create lock: its _id is
// the seller's id, so that only one can exist, whichever process inserts
// it. Owner tells the holder's release from a later holder's lock.
type sellerLock struct {
	SellerID  string        `bson:"_id"`
	Owner     bson.ObjectID `bson:"owner"`
	ExpiresAt time.Time     `bson:"expiresAt"`
}

// Option configures a Store.
type Option func(*Store)

// WithSellerLease replaces DefaultSellerLease; tests shorten it.
func WithSellerLease(d time.Duration) Option {
	return func(s *Store) { s.lease = d }
}

// LockSeller holds the create lock of userID until unlock is called,
// waiting while another holds it (in this process or another on the same
// database) until ctx is done. It is a document inserted under the
// seller's id: MongoDB, and FerretDB too, refuse a second insert of one _id
// atomically, across processes. That is the one write FerretDB applies
// atomically: its conditional updates and $inc are not, so a counter of
// tickets for sale would not hold there. The count stays the tickets' own
// (CountForSale), taken under the lock, so nothing else needs keeping in
// step when tickets are reserved, released or fail to insert.
//
// A lock left by a crash lapses after its lease (WithSellerLease), and the
// next create takes it over, deleting it only while it still names the
// crashed holder (mongodb.Guard: atomic on MongoDB; on FerretDB safe
// within the one process that serves there, whose creates of a seller
// take this lock one at a time). Unlock deletes the lock only while it is
// still the caller's; when that fails the lock lapses with its lease.
func (s *Store) LockSeller(ctx context.Context, userID string) (unlock func(context.Context) error, err error) {
	owner := bson.NewObjectID()
	wait := lockRetry
	for {
		err := s.lockOnce(ctx, userID, owner)
		if err == nil {
			return func(ctx context.Context) error { return s.unlockSeller(ctx, userID, owner) }, nil
		}
		if !errors.Is(err, errLockHeld) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lock seller %s: %w", userID, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, maxLockRetry)
	}
}

// errLockHeld is lockOnce's answer while another holds the lock.
var errLockHeld = errors.New("seller lock held")

// lockOnce inserts the seller's lock, or takes over one whose lease has
// lapsed, or fails with errLockHeld.
func (s *Store) lockOnce(ctx context.Context, userID string, owner bson.ObjectID) error {
	err := s.insertLock(ctx, userID, owner)
	if !mongo.IsDuplicateKeyError(err) {
		return err
	}
	var held sellerLock
	err = s.sellerLocks.FindOne(ctx, bson.D{{Key: "_id", Value: userID}}).Decode(&held)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		// Released since our insert: take it.
	case err != nil:
		return fmt.Errorf("find seller lock: %w", err)
	case s.now().Before(held.ExpiresAt):
		return errLockHeld
	default:
		if _, err := s.guard.DeleteOne(ctx, s.sellerLocks, userID, bson.D{{Key: "owner", Value: held.Owner}}); err != nil {
			return fmt.Errorf("delete lapsed seller lock: %w", err)
		}
	}
	err = s.insertLock(ctx, userID, owner)
	if mongo.IsDuplicateKeyError(err) {
		return errLockHeld
	}
	return err
}

func (s *Store) insertLock(ctx context.Context, userID string, owner bson.ObjectID) error {
	_, err := s.sellerLocks.InsertOne(ctx, sellerLock{SellerID: userID, Owner: owner, ExpiresAt: s.now().Add(s.lease).UTC()})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("insert seller lock: %w", err)
	}
	return err
}

// unlockSeller deletes owner's lock of userID, if it still holds it.
func (s *Store) unlockSeller(ctx context.Context, userID string, owner bson.ObjectID) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if _, err := s.guard.DeleteOne(ctx, s.sellerLocks, userID, bson.D{{Key: "owner", Value: owner}}); err != nil {
		return fmt.Errorf("unlock seller %s: %w", userID, err)
	}
	return nil
}
