// Package bench measures the floor under each step of the load tool: the
// MongoDB commands the step's budget allows (Budgets: the least a correct
// design needs, events and relay included), sent directly with the driver
// to the same server at the same concurrency, for as long and on
// collections as large, plus the password hash where the step hashes one.
// A step's figures divided by its floor's say how much the services add;
// its commands per request set against its budget say whether the design
// does more database work than it must. Each command is sent as the store
// behind it sends it (floorstores.go), which TestFloor_SendsWhatTheStoresSend
// checks against the commands the stores' own tests pin.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/crypto/scrypt"

	"ticketing.dev/common/outbox"
	"ticketing.dev/infra/load"
)

// FloorConfig is what the floor shares with the load it is compared with.
type FloorConfig struct {
	// Users is the number of concurrent clients.
	Users int
	// Duration is how long each floor runs at least.
	Duration time.Duration
	// MinRows keeps the floor of each of load.RowSteps going until its
	// collection holds that many rows, as the step does; MaxDuration
	// stops it regardless (default Duration).
	MinRows     int
	MaxDuration time.Duration
}

// FloorResult is one floor's throughput and latency.
type FloorResult struct {
	Name     string
	Requests int // iterations that succeeded
	Errors   int
	Elapsed  time.Duration
	// Stop is when the floor stopped starting iterations.
	Stop time.Duration
	RPS  float64
	P50  time.Duration
	P99  time.Duration
	// Commands is how many MongoDB commands one iteration sends, for the
	// floors of FloorPlans: the budget of their stories.
	Commands float64 `json:",omitempty"`
	// Rows is how many rows the floor's collection held when it stopped,
	// for the floors of load.RowSteps.
	Rows   int `json:",omitempty"`
	Series []load.Second
	Worst  *load.Window `json:",omitempty"`
}

// floorDB is where the floor writes, apart from the services' databases.
const floorDB = "floor"

// op is one floor iteration by worker w, iteration i. It returns when the
// timed part of it started and ended; the zero time for the whole of it.
type op func(ctx context.Context, w, i int) (start, end time.Time, err error)

// whole times the whole of a floor operation.
func whole(f func(ctx context.Context, w, i int) error) op {
	return func(ctx context.Context, w, i int) (time.Time, time.Time, error) {
		return time.Time{}, time.Time{}, f(ctx, w, i)
	}
}

// Floor measures, for each named step of the load tool, the database work
// behind it with cfg.Users concurrent clients. The reads read the
// services' own collections as they are at the time; the steps that write
// (FloorPlans) run their budget in a database of their own, whose
// collections mirror the services' with their indexes.
func Floor(ctx context.Context, mongoURI string, steps []string, cfg FloorConfig) ([]FloorResult, error) {
	cfg.Users = max(cfg.Users, 1)
	cfg.MaxDuration = max(cfg.MaxDuration, cfg.Duration)
	client, err := mongo.Connect(options.Client().ApplyURI(mongoURI).SetMaxPoolSize(uint64(4 * cfg.Users)))
	if err != nil {
		return nil, fmt.Errorf("floor: connect: %w", err)
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	f := &floor{c: client, known: map[string][]bson.ObjectID{}}
	if err := f.prepare(ctx); err != nil {
		return nil, err
	}
	ops := map[string]op{
		"signup":   whole(f.signUp),
		"signin":   whole(f.signIn),
		"list":     whole(f.list),
		"listpage": whole(f.listPage),
		"show":     whole(f.show),
		"scrypt":   whole(func(context.Context, int, int) error { _, err := hash(); return err }),
	}
	for step, plan := range FloorPlans {
		if ops[step], err = f.plan(plan); err != nil {
			return nil, err
		}
	}
	var out []FloorResult
	for _, s := range steps {
		o := ops[s]
		if o == nil {
			continue
		}
		rows, need := "", 0
		if r, ok := load.RowSteps[s]; ok && FloorPlans[s].Stories != nil {
			rows = r
			have, err := f.rows(ctx, rows)
			if err != nil {
				return out, err
			}
			need = max(cfg.MinRows-have, 0)
		}
		res := measure(ctx, s, o, cfg, need)
		if plan, ok := FloorPlans[s]; ok {
			res.Commands = plan.commands()
		}
		if rows != "" {
			n, err := f.rows(ctx, rows)
			if err != nil {
				return out, err
			}
			res.Rows = n
		}
		out = append(out, res)
	}
	return out, nil
}

type floor struct {
	c       *mongo.Client
	tickets []bson.ObjectID // in tickets.tickets
	emails  []string        // in auth.users

	mu sync.Mutex
	// known are ids of documents in the floor's collections, by
	// collection: where a story reads or updates a document it did not
	// insert itself.
	known map[string][]bson.ObjectID
}

// prepare reads the ids the reads look up, and creates the floor's
// collections.
func (f *floor) prepare(ctx context.Context) error {
	var err error
	if f.tickets, err = ids(ctx, f.c.Database("tickets").Collection("tickets")); err != nil {
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
	if len(f.tickets) == 0 || len(f.emails) == 0 {
		return errors.New("floor: the services hold no tickets or users yet")
	}
	return f.prepareCollections(ctx)
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
// auth uses (N=16384, r=8, p=1, 64-byte key), encoded as auth stores it.
func hash() (string, error) {
	salt := []byte(rand.Text()[:16])
	key, err := scrypt.Key([]byte("password-of-load"), salt, 1<<14, 8, 1, 64)
	if err != nil {
		return "", err
	}
	return encodeHash(salt, key), nil
}

// encodeHash is the form auth stores a hash in (user.HashPassword):
// scrypt$ln=14,r=8,p=1$<salt>$<key>, base64 without padding.
func encodeHash(salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return "scrypt$ln=14,r=8,p=1$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key)
}

// signUp is userdb.Insert, into a collection with the same unique index,
// plus the hash.
func (f *floor) signUp(ctx context.Context, _, _ int) error {
	h, err := hash()
	if err != nil {
		return err
	}
	_, err = f.coll("auth", "users").InsertOne(ctx, bson.D{
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

// list is ticketdb.Available.
func (f *floor) list(ctx context.Context, _, _ int) error {
	cur, err := f.c.Database("tickets").Collection("tickets").Find(ctx,
		bson.D{{Key: "orderId", Value: bson.D{{Key: "$exists", Value: false}}}},
		options.Find().SetProjection(outbox.Without).SetSort(bson.D{{Key: "_id", Value: 1}}))
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
		options.Find().SetProjection(outbox.Without).SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(load.PageLimit+1))
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
		options.FindOne().SetProjection(outbox.Without)).Decode(&doc)
}

// measure runs o with cfg.Users workers for cfg.Duration, and on until
// need iterations succeeded, never past cfg.MaxDuration.
func measure(ctx context.Context, name string, o op, cfg FloorConfig, need int) FloorResult {
	samples := make([][]load.Sample, cfg.Users)
	var added atomic.Int64
	start := time.Now()
	var stopOnce sync.Once
	var stop time.Duration
	more := func() bool {
		elapsed := time.Since(start)
		ok := ctx.Err() == nil && elapsed < cfg.MaxDuration && (elapsed < cfg.Duration || added.Load() < int64(need))
		if !ok {
			stopOnce.Do(func() { stop = elapsed })
		}
		return ok
	}
	var wg sync.WaitGroup
	for w := range cfg.Users {
		wg.Go(func() {
			for i := 0; more(); i++ {
				t0 := time.Now()
				from, to, err := o(ctx, w, i)
				done := time.Now()
				if from.IsZero() {
					from, to = t0, done
				}
				samples[w] = append(samples[w], load.Sample{Done: done.Sub(start), Latency: to.Sub(from), Failed: err != nil})
				if err == nil {
					added.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := FloorResult{Name: name, Elapsed: elapsed, Stop: stop}
	var all []load.Sample
	var lat []time.Duration
	for _, s := range samples {
		all = append(all, s...)
		for _, x := range s {
			if x.Failed {
				res.Errors++
			} else {
				lat = append(lat, x.Latency)
			}
		}
	}
	slices.Sort(lat)
	res.Requests = len(lat)
	res.RPS = float64(len(lat)) / elapsed.Seconds()
	if len(lat) > 0 {
		res.P50 = lat[min(len(lat)/2, len(lat)-1)]
		res.P99 = lat[min(len(lat)*99/100, len(lat)-1)]
	}
	res.Series = load.PerSecond(all, elapsed, stop)
	res.Worst = load.WorstSecond(res.Series)
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
