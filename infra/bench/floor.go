// Package bench measures the floor under each endpoint of the load tool:
// the same database operations the endpoint's store issues, sent directly
// with the MongoDB driver to the same server at the same concurrency, plus
// the password hash where the endpoint hashes one. An endpoint's figures
// divided by its floor's say how much the service adds.
package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/crypto/scrypt"

	"ticketing.dev/infra/load"
)

// FloorResult is one floor operation's throughput and latency.
type FloorResult struct {
	Name     string
	Requests int
	Errors   int
	RPS      float64
	P50      time.Duration
	P99      time.Duration
}

// floorDB is where the floor writes, apart from the services' databases.
const floorDB = "floor"

// op is one floor operation by worker w, iteration i.
type op func(ctx context.Context, w, i int) error

// Floor measures, for each named step of the load tool, the database
// operations behind it with users concurrent clients for d each. It reads
// the services' own collections, as they are at the time, and writes into
// a database of its own.
func Floor(ctx context.Context, mongoURI string, steps []string, users int, d time.Duration) ([]FloorResult, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(mongoURI).SetMaxPoolSize(uint64(4 * users)))
	if err != nil {
		return nil, fmt.Errorf("floor: connect: %w", err)
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	f := &floor{c: client}
	if err := f.prepare(ctx); err != nil {
		return nil, err
	}
	ops := map[string]op{
		"signup":   f.signUp,
		"signin":   f.signIn,
		"list":     f.list,
		"listpage": f.listPage,
		"show":     f.show,
		"create":   f.create,
		"order":    f.order,
		"pay":      f.pay,
		"scrypt":   func(context.Context, int, int) error { _, err := hash(); return err },
	}
	var out []FloorResult
	for _, s := range steps {
		o := ops[s]
		if o == nil {
			continue
		}
		out = append(out, measure(ctx, s, o, users, d))
	}
	return out, nil
}

type floor struct {
	c        *mongo.Client
	tickets  []bson.ObjectID // in tickets.tickets
	replicas []bson.ObjectID // in orders.tickets
	orders   []bson.ObjectID // in floor.orders, as payments' replicas
	emails   []string        // in auth.users
}

// prepare reads the ids the reads look up, and fills what the services do
// not hold yet.
func (f *floor) prepare(ctx context.Context) error {
	var err error
	if f.tickets, err = ids(ctx, f.c.Database("tickets").Collection("tickets")); err != nil {
		return err
	}
	if f.replicas, err = ids(ctx, f.c.Database("orders").Collection("tickets")); err != nil {
		return err
	}
	cur, err := f.c.Database("auth").Collection("users").Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "email", Value: 1}}).SetLimit(100))
	if err != nil {
		return fmt.Errorf("floor: read users: %w", err)
	}
	var users []struct {
		Email string `bson:"email"`
	}
	if err := cur.All(ctx, &users); err != nil {
		return fmt.Errorf("floor: read users: %w", err)
	}
	for _, u := range users {
		f.emails = append(f.emails, u.Email)
	}
	if len(f.tickets) == 0 || len(f.replicas) == 0 || len(f.emails) == 0 {
		return errors.New("floor: the services hold no tickets, replicas or users yet")
	}
	// Payments' order replicas: as many as the tickets, in a collection of
	// the floor's own.
	docs := make([]any, len(f.tickets))
	for i := range docs {
		id := bson.NewObjectID()
		f.orders = append(f.orders, id)
		docs[i] = bson.D{{Key: "_id", Value: id}, {Key: "userId", Value: "u"}, {Key: "status", Value: "created"}, {Key: "price", Value: 2000}, {Key: "version", Value: 0}}
	}
	if _, err := f.c.Database(floorDB).Collection("orders").InsertMany(ctx, docs); err != nil {
		return fmt.Errorf("floor: insert orders: %w", err)
	}
	return nil
}

func ids(ctx context.Context, c *mongo.Collection) ([]bson.ObjectID, error) {
	cur, err := c.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetLimit(1000))
	if err != nil {
		return nil, fmt.Errorf("floor: read %s: %w", c.Name(), err)
	}
	var docs []struct {
		ID bson.ObjectID `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("floor: read %s: %w", c.Name(), err)
	}
	out := make([]bson.ObjectID, len(docs))
	for i, d := range docs {
		out[i] = d.ID
	}
	return out, nil
}

// hash is the password hash of sign-up and sign-in: scrypt at the cost
// auth uses (N=16384, r=8, p=1, 64-byte key).
func hash() ([]byte, error) {
	return scrypt.Key([]byte("password-of-load"), []byte(rand.Text()[:16]), 1<<14, 8, 1, 64)
}

// signUp is userdb.Insert plus the hash.
func (f *floor) signUp(ctx context.Context, _, _ int) error {
	h, err := hash()
	if err != nil {
		return err
	}
	_, err = f.c.Database(floorDB).Collection("users").InsertOne(ctx, bson.D{
		{Key: "_id", Value: bson.NewObjectID()}, {Key: "email", Value: strings.ToLower(rand.Text()) + "@example.com"}, {Key: "password", Value: h},
	})
	return err
}

// signIn is userdb.ByEmail plus the hash.
func (f *floor) signIn(ctx context.Context, w, i int) error {
	var doc bson.Raw
	err := f.c.Database("auth").Collection("users").FindOne(ctx, bson.D{{Key: "email", Value: f.emails[(w+i)%len(f.emails)]}}).Decode(&doc)
	if err != nil {
		return err
	}
	_, err = hash()
	return err
}

var withoutOutbox = bson.D{{Key: "outbox", Value: 0}}

// list is ticketdb.Available.
func (f *floor) list(ctx context.Context, _, _ int) error {
	cur, err := f.c.Database("tickets").Collection("tickets").Find(ctx,
		bson.D{{Key: "orderId", Value: bson.D{{Key: "$exists", Value: false}}}},
		options.Find().SetProjection(withoutOutbox).SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return err
	}
	var docs []bson.Raw
	return cur.All(ctx, &docs)
}

// listPage is ticketdb.Available with a page of load.PageLimit tickets
// from the start: one ticket more is read, to tell whether a next page
// follows.
func (f *floor) listPage(ctx context.Context, _, _ int) error {
	cur, err := f.c.Database("tickets").Collection("tickets").Find(ctx,
		bson.D{{Key: "orderId", Value: bson.D{{Key: "$exists", Value: false}}}},
		options.Find().SetProjection(withoutOutbox).SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(load.PageLimit+1))
	if err != nil {
		return err
	}
	var docs []bson.Raw
	return cur.All(ctx, &docs)
}

// show is ticketdb.Get.
func (f *floor) show(ctx context.Context, w, i int) error {
	var doc bson.Raw
	return f.c.Database("tickets").Collection("tickets").FindOne(ctx,
		bson.D{{Key: "_id", Value: f.tickets[(w*31+i)%len(f.tickets)]}},
		options.FindOne().SetProjection(withoutOutbox)).Decode(&doc)
}

// create is ticketdb.Insert: the ticket with its pending event.
func (f *floor) create(ctx context.Context, _, _ int) error {
	_, err := f.c.Database(floorDB).Collection("tickets").InsertOne(ctx, bson.D{
		{Key: "_id", Value: bson.NewObjectID()}, {Key: "title", Value: "load test concert"}, {Key: "price", Value: 2000},
		{Key: "userId", Value: "u"}, {Key: "version", Value: 0},
		{Key: "outbox", Value: bson.A{bson.D{{Key: "id", Value: rand.Text()}, {Key: "subject", Value: "ticket:created"}, {Key: "data", Value: bson.Binary{Data: make([]byte, 120)}}}}},
	})
	return err
}

// order is orderdb's Ticket, the claim and the order with its event.
func (f *floor) order(ctx context.Context, w, i int) error {
	var doc bson.Raw
	if err := f.c.Database("orders").Collection("tickets").FindOne(ctx,
		bson.D{{Key: "_id", Value: f.replicas[(w*31+i)%len(f.replicas)]}}).Decode(&doc); err != nil {
		return err
	}
	id := bson.NewObjectID()
	if _, err := f.c.Database(floorDB).Collection("claims").InsertOne(ctx, bson.D{
		{Key: "_id", Value: bson.NewObjectID()}, {Key: "orderId", Value: id}, {Key: "createdAt", Value: time.Now()},
	}); err != nil {
		return err
	}
	_, err := f.c.Database(floorDB).Collection("orders").InsertOne(ctx, bson.D{
		{Key: "_id", Value: id}, {Key: "userId", Value: "u"}, {Key: "status", Value: "created"},
		{Key: "expiresAt", Value: time.Now()}, {Key: "ticketId", Value: bson.NewObjectID()}, {Key: "version", Value: 0},
		{Key: "outbox", Value: bson.A{bson.D{{Key: "id", Value: rand.Text()}, {Key: "subject", Value: "order:created"}, {Key: "data", Value: bson.Binary{Data: make([]byte, 200)}}}}},
	})
	return err
}

// pay is paymentdb's Order, Claim and Complete; the charge at stripe-mock
// is not part of the floor.
func (f *floor) pay(ctx context.Context, w, i int) error {
	var doc bson.Raw
	if err := f.c.Database(floorDB).Collection("orders").FindOne(ctx,
		bson.D{{Key: "_id", Value: f.orders[(w*31+i)%len(f.orders)]}}).Decode(&doc); err != nil {
		return err
	}
	id := bson.NewObjectID()
	payments := f.c.Database(floorDB).Collection("payments")
	if _, err := payments.InsertOne(ctx, bson.D{
		{Key: "_id", Value: id}, {Key: "orderId", Value: bson.NewObjectID().Hex()}, {Key: "token", Value: "tok_visa"}, {Key: "claimedAt", Value: time.Now()},
	}); err != nil {
		return err
	}
	_, err := payments.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "stripeId", Value: "ch_1"}}}})
	return err
}

// measure runs o with users workers for d.
func measure(ctx context.Context, name string, o op, users int, d time.Duration) FloorResult {
	lats := make([][]time.Duration, users)
	errs := make([]int, users)
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for w := range users {
		wg.Go(func() {
			for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
				t0 := time.Now()
				if err := o(ctx, w, i); err != nil {
					errs[w]++
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	res := FloorResult{Name: name}
	for w := range users {
		all = append(all, lats[w]...)
		res.Errors += errs[w]
	}
	slices.Sort(all)
	res.Requests = len(all)
	res.RPS = float64(len(all)) / elapsed.Seconds()
	if len(all) > 0 {
		res.P50 = all[min(len(all)/2, len(all)-1)]
		res.P99 = all[min(len(all)*99/100, len(all)-1)]
	}
	return res
}

// WaitReplicas waits until the orders service holds a replica of every
// ticket, so that the events of seeding do not compete with what is
// measured next, for up to timeout.
func WaitReplicas(ctx context.Context, mongoURI string, timeout time.Duration) error {
	client, err := mongo.Connect(options.Client().ApplyURI(mongoURI))
	if err != nil {
		return fmt.Errorf("wait replicas: connect: %w", err)
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	deadline := time.Now().Add(timeout)
	for {
		want, err := client.Database("tickets").Collection("tickets").EstimatedDocumentCount(ctx)
		if err != nil {
			return fmt.Errorf("wait replicas: %w", err)
		}
		got, err := client.Database("orders").Collection("tickets").EstimatedDocumentCount(ctx)
		if err != nil {
			return fmt.Errorf("wait replicas: %w", err)
		}
		if got >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait replicas: %d of %d tickets replicated after %v", got, want, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
