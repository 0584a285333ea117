// Package testkit gives integration tests the real servers the services use,
// embedded in the test process: FerretDB for MongoDB and NATS Streaming or
// JetStream, and starts the services themselves through their run functions
// (StartService).
//
// A test package calls Main from TestMain; its tests then ask for a fresh
// database with DB and a fresh bus server with NATS. Everything started is
// stopped when the test or the package ends.
package testkit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/embedded"
)

var (
	mongoOnce sync.Once
	mongoSrv  *embedded.FerretDB
	mongoCli  *mongo.Client
	mongoDir  string
	mongoErr  error
	dbCount   atomic.Int64
	clientSeq atomic.Int64
)

// Main runs the package's tests, then stops the servers shared by the
// package: FerretDB and stripe-mock.
func Main(m *testing.M) {
	code := m.Run()
	stopStripeMock()
	if mongoCli != nil {
		_ = mongoCli.Disconnect(context.Background())
	}
	if mongoSrv != nil {
		mongoSrv.Stop()
	}
	if mongoDir != "" {
		_ = os.RemoveAll(mongoDir)
	}
	os.Exit(code)
}

func startMongo() {
	mongoDir, mongoErr = os.MkdirTemp("", "testkit-ferretdb-")
	if mongoErr != nil {
		return
	}
	mongoSrv, mongoErr = embedded.StartFerretDB(embedded.FerretDBConfig{Dir: mongoDir})
	if mongoErr != nil {
		return
	}
	mongoCli, mongoErr = mongo.Connect(options.Client().ApplyURI(mongoSrv.URI()).SetTimeout(10 * time.Second))
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// MongoURI returns the URI of a fresh, empty database on the package's
// FerretDB, for code that connects by itself (a service's run function).
// The database is dropped when the test ends.
func MongoURI(t testing.TB) string {
	t.Helper()
	db := DB(t)
	return strings.TrimSuffix(mongoSrv.URI(), "/") + "/" + db.Name()
}

// DB returns a fresh, empty database on the package's FerretDB, dropped
// when the test ends.
func DB(t testing.TB) *mongo.Database {
	t.Helper()
	mongoOnce.Do(startMongo)
	if mongoErr != nil {
		t.Fatalf("testkit: start ferretdb: %v", mongoErr)
	}
	name := unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "_")
	name = fmt.Sprintf("t%d_%.40s", dbCount.Add(1), name)
	db := mongoCli.Database(name)
	t.Cleanup(func() { _ = db.Drop(context.Background()) })
	return db
}

// NATS starts a bus server of its own for the test, of the transport the
// test process's BUS variable names (bus.STAN unless it says bus.JetStream),
// so that one suite runs on either: `BUS=jetstream go test ./...`. It has a
// file store, so that it can be stopped and started again without losing
// events or durable queue groups, and is stopped when the test ends.
func NATS(t testing.TB) embedded.Bus {
	t.Helper()
	return BusServer(t, Transport())
}

// Transport is the transport the test process's BUS variable names:
// bus.STAN when it is unset.
func Transport() string {
	if tr := os.Getenv("BUS"); tr != "" {
		return tr
	}
	return bus.STAN
}

// BusServer starts a bus server of the transport given, bus.STAN or
// bus.JetStream, for the test alone, with a file store so that it can be
// stopped and started again without losing events or durable queue
// groups. It is stopped when the test ends.
func BusServer(t testing.TB, transport string) embedded.Bus {
	t.Helper()
	n, err := embedded.StartBus(transport, embedded.NATSConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(n.Stop)
	return n
}

// EachTransport runs test once per transport, as a subtest named after
// it, each with a server of its own: the behaviour suite of the bus holds
// on both.
func EachTransport(t *testing.T, test func(t *testing.T, n embedded.Bus)) {
	t.Helper()
	for _, tr := range bus.Transports() {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			test(t, BusServer(t, tr))
		})
	}
}

// BusConfig returns a configuration for a new client of n.
func BusConfig(n embedded.Bus) bus.Config {
	return bus.Config{
		Transport: n.Transport(),
		URL:       n.URL(),
		ClusterID: n.ClusterID(),
		ClientID:  fmt.Sprintf("test-%d-%d", os.Getpid(), clientSeq.Add(1)),
	}
}

// Bus connects a new client to n, closed when the test ends.
func Bus(t testing.TB, n embedded.Bus) *bus.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := bus.Connect(ctx, BusConfig(n), Logger(t))
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// BusEnv is the environment that points a service at n: BUS, NATS_URL,
// NATS_CLUSTER_ID and a NATS_CLIENT_ID no other client of n has.
func BusEnv(n embedded.Bus) map[string]string {
	cfg := BusConfig(n)
	return map[string]string{
		"BUS":             cfg.Transport,
		"NATS_URL":        cfg.URL,
		"NATS_CLUSTER_ID": cfg.ClusterID,
		"NATS_CLIENT_ID":  cfg.ClientID,
	}
}

// Logger returns a logger that writes into the test's log, shown only
// when the test fails or runs with -v. Lines logged by goroutines that
// outlive the test are dropped instead of failing it.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(quietAfter(t, t.Output()), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// quietAfter returns a writer to w that drops what is written once the
// test has ended.
func quietAfter(t testing.TB, w io.Writer) io.Writer {
	tw := &testWriter{w: w}
	t.Cleanup(func() {
		tw.mu.Lock()
		defer tw.mu.Unlock()
		tw.done = true
	})
	return tw
}

type testWriter struct {
	mu   sync.Mutex
	w    io.Writer
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return len(p), nil
	}
	return w.w.Write(p)
}

// Eventually waits until cond holds, polling every 10 ms for up to 10 s.
func Eventually(t testing.TB, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("testkit: timed out waiting: "+msg, args...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Snapshot returns every document of every collection of db, by
// collection and in _id order, for tests that check that a request wrote
// nothing: two snapshots are equal when no document was added, removed or
// changed.
func Snapshot(t testing.TB, db *mongo.Database) map[string][]bson.Raw {
	t.Helper()
	ctx := context.Background()
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatalf("testkit: list collections: %v", err)
	}
	out := make(map[string][]bson.Raw, len(names))
	for _, name := range names {
		cur, err := db.Collection(name).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			t.Fatalf("testkit: read %s: %v", name, err)
		}
		var docs []bson.Raw
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatalf("testkit: read %s: %v", name, err)
		}
		out[name] = docs
	}
	return out
}
