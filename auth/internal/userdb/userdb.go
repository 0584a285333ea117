// Package userdb keeps users in MongoDB. It is the only package of the auth
// service that knows the driver: its errors are translated into the user
// package's before they leave.
package userdb

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/auth/internal/user"
	"ticketing.dev/common/mongodb"
)

// Collection is where users live, the name the original app's mongoose
// model gave it, so an existing database can be used as is.
const Collection = "users"

// document is a user as stored: the original app's field names.
type document struct {
	ID       bson.ObjectID `bson:"_id"`
	Email    string        `bson:"email"`
	Password string        `bson:"password"`
}

// Store is a user.Store on a MongoDB database.
type Store struct {
	coll *mongo.Collection
}

var _ user.Store = (*Store)(nil)

// New returns a Store on db. Call EnsureIndexes before serving.
func New(db *mongo.Database) *Store {
	return &Store{coll: db.Collection(Collection)}
}

// EnsureIndexes creates the unique index on email if it is missing. That
// index is what makes emails unique: sign-ups never check before inserting,
// so racing sign-ups cannot both pass a check.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	return mongodb.CreateIndexes(ctx, s.coll, mongo.IndexModel{
		Keys:    bson.D{{Key: "email", Value: 1}},
		Options: options.Index().SetUnique(true).SetName("email_unique"),
	})
}

// Insert stores u under a new ObjectID. An email that is already stored
// fails with user.ErrEmailInUse.
func (s *Store) Insert(ctx context.Context, u user.User) (user.User, error) {
	doc := document{ID: bson.NewObjectID(), Email: u.Email, Password: u.PasswordHash}
	if _, err := s.coll.InsertOne(ctx, doc); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return user.User{}, user.ErrEmailInUse
		}
		return user.User{}, fmt.Errorf("insert user: %w", err)
	}
	u.ID = doc.ID.Hex()
	return u, nil
}

// ByEmail returns the user with the email, or user.ErrNotFound.
func (s *Store) ByEmail(ctx context.Context, email string) (user.User, error) {
	var doc document
	// email is a Go string, so the filter can only ever be an equality: a
	// client cannot smuggle in a query operator.
	err := s.coll.FindOne(ctx, bson.D{{Key: "email", Value: email}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return user.User{}, user.ErrNotFound
	}
	if err != nil {
		return user.User{}, fmt.Errorf("find user: %w", err)
	}
	return user.User{ID: doc.ID.Hex(), Email: doc.Email, PasswordHash: doc.Password}, nil
}
