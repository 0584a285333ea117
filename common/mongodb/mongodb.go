// Package mongodb connects services to their database and holds the few
// helpers every store shares. Mongo types stay inside the services' *db
// packages and this one.
package mongodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"ticketing.dev/common/metrics"
)

// Option configures Connect.
type Option func(*config)

type config struct {
	metrics prometheus.Registerer
}

// WithMetrics counts and times every command the client sends, by
// collection and command, in reg (see metrics.NewMongo).
func WithMetrics(reg prometheus.Registerer) Option {
	return func(c *config) { c.metrics = reg }
}

// Connect connects to uri and returns the client and the database the URI's
// path names, or def when it names none. It does not wait for the server:
// readiness reports that, so a service may start before its database.
func Connect(uri, def string, opts ...Option) (*mongo.Client, *mongo.Database, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return nil, nil, fmt.Errorf("mongodb: parse MONGO_URI: %w", err)
	}
	name := cs.Database
	if name == "" {
		name = def
	}
	m, err := metrics.NewMongo(cfg.metrics)
	if err != nil {
		return nil, nil, fmt.Errorf("mongodb: %w", err)
	}
	client, err := mongo.Connect(options.Client().
		ApplyURI(uri).
		SetServerSelectionTimeout(5 * time.Second).
		SetTimeout(10 * time.Second).
		SetMonitor(m.Monitor()))
	if err != nil {
		return nil, nil, fmt.Errorf("mongodb: connect: %w", err)
	}
	return client, client.Database(name), nil
}

// disconnectTimeout bounds the wait for MongoDB at shutdown.
const disconnectTimeout = 10 * time.Second

// Open is Connect returning the database with the function that
// disconnects its client, for a service's shutdown.
func Open(uri, def string, opts ...Option) (*mongo.Database, func() error, error) {
	client, db, err := Connect(uri, def, opts...)
	if err != nil {
		return nil, nil, err
	}
	disconnect := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), disconnectTimeout)
		defer cancel()
		if err := client.Disconnect(ctx); err != nil {
			return fmt.Errorf("disconnect mongo: %w", err)
		}
		return nil
	}
	return db, disconnect, nil
}

// Ping reports whether the database answers; readiness checks use it.
func Ping(db *mongo.Database) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		return db.Client().Ping(ctx, nil)
	}
}

// ErrBadID is returned for an id that is not a 24-digit hex ObjectID.
var ErrBadID = errors.New("mongodb: malformed id")

// ObjectID parses an id from the API or an event. Ids are strings there:
// a filter built from what it returns can only ever be an equality, never
// an operator smuggled in as an id.
func ObjectID(id string) (bson.ObjectID, error) {
	oid, err := bson.ObjectIDFromHex(id)
	if err != nil {
		return bson.ObjectID{}, fmt.Errorf("%w: %q", ErrBadID, id)
	}
	return oid, nil
}

// ParseID is ObjectID for a store whose domain has an error of its own for
// a malformed id, one a client is shown: the error wraps both invalid and
// ErrBadID, so that the client's message stays the domain's while every
// store's malformed id is ErrBadID.
func ParseID(id string, invalid error) (bson.ObjectID, error) {
	oid, err := ObjectID(id)
	if err != nil {
		return bson.ObjectID{}, fmt.Errorf("%w: %w", invalid, err)
	}
	return oid, nil
}

// CheckID fails, wrapping ErrBadID, when id is no ObjectID; the error calls
// it what's id ("ticket", "order"). An event naming such an id can never
// apply: listeners check an event's ids before they handle it.
func CheckID(what, id string) error {
	if _, err := bson.ObjectIDFromHex(id); err != nil {
		return fmt.Errorf("malformed %s id %q: %w", what, id, ErrBadID)
	}
	return nil
}

// FindByID decodes into doc the document of coll whose _id is id, read
// with opts, or returns notFound when there is none.
func FindByID(ctx context.Context, coll *mongo.Collection, id, doc any, notFound error, opts ...options.Lister[options.FindOneOptions]) error {
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, opts...).Decode(doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return notFound
	}
	if err != nil {
		return fmt.Errorf("find %s %v: %w", coll.Name(), id, err)
	}
	return nil
}

// CreateIndexes creates those of models that coll lacks, by one command
// each: FerretDB 1.24 closed the connection on a createIndexes that named
// two indexes which both existed already.
func CreateIndexes(ctx context.Context, coll *mongo.Collection, models ...mongo.IndexModel) error {
	for _, m := range models {
		if _, err := coll.Indexes().CreateOne(ctx, m); err != nil {
			return fmt.Errorf("create %s index: %w", coll.Name(), err)
		}
	}
	return nil
}
