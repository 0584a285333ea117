package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/deadletter/redisstore"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// deadLetters stores a dead letter of ticket:updated for each version in a
// fresh database, oldest first, and returns the database's URI and the
// letters' ids.
func deadLetters(t *testing.T, versions ...int64) (string, []string) {
	t.Helper()
	uri := testkit.MongoURI(t)
	db, disconnect, err := mongodb.Open(uri, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = disconnect() })
	var updates []any
	for _, v := range versions {
		updates = append(updates, events.TicketUpdated{ID: "t1", Version: v, Title: "concert", Price: 2500, UserID: "u1"})
	}
	return uri, putDeadLetters(t, deadletter.New(db), events.SubjectTicketUpdated, "orders-service", "version gap", updates)
}

// putDeadLetters puts into store a dead letter of each event, oldest first,
// on subject, given up on by group for reason after 10 deliveries, and
// returns the letters' ids.
func putDeadLetters(t *testing.T, store bus.DeadLetterSink, subject events.Subject, group, reason string, evs []any) []string {
	t.Helper()
	var ids []string
	for i, e := range evs {
		data, err := json.Marshal(e)
		require.NoError(t, err)
		d := bus.DeadLetter{
			Subject: string(subject), Group: group, Data: data,
			Err: reason, Deliveries: 10, Sequence: uint64(i + 1),
			Published: time.Now().Add(-time.Minute), At: time.Now().Add(time.Duration(i) * time.Millisecond),
		}
		require.NoError(t, store.Put(t.Context(), d))
		ids = append(ids, deadletter.ID(d))
	}
	return ids
}

func runCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runCommandEnv(t, nil, args...)
}

// runCommandEnv runs the command with the environment env.
func runCommandEnv(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	t.Logf("deadletters %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), &stdout, &stderr)
	return stdout.String(), err
}

func TestList_PrintsEveryDeadLetter(t *testing.T) {
	t.Parallel()
	uri, ids := deadLetters(t, 2, 3)

	out, err := runCommand(t, "list", "-mongo", uri)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, "a header and one line each")
	assert.True(t, strings.HasPrefix(lines[1], ids[0]), "oldest first")
	assert.True(t, strings.HasPrefix(lines[2], ids[1]))
	assert.Contains(t, lines[1], "ticket:updated")
	assert.Contains(t, lines[1], "orders-service")
	assert.Contains(t, lines[1], "version gap")

	out, err = runCommand(t, "list", "-json", "-mongo", uri)
	require.NoError(t, err)
	var first letterJSON
	require.NoError(t, json.Unmarshal([]byte(strings.Split(out, "\n")[0]), &first))
	assert.Equal(t, ids[0], first.ID)
	assert.JSONEq(t, `{"id":"t1","version":2,"title":"concert","price":25,"userId":"u1"}`, first.Data)
	assert.Equal(t, 10, first.Deliveries)
}

func TestList_NamesAnEmptyDatabase(t *testing.T) {
	t.Parallel()
	uri, _ := deadLetters(t)
	out, err := runCommand(t, "list", "-mongo", uri)
	require.NoError(t, err)
	assert.Contains(t, out, "no dead letters in ")
}

func TestReplay_PublishesAndDeletesByIDThenAll(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		uri, ids := deadLetters(t, 1, 2, 3)
		got := listen(t, testkit.Bus(t, n), "orders-service", func(e events.TicketUpdated) int64 { return e.Version })
		nats := []string{"-bus", n.Transport(), "-nats", n.URL(), "-cluster", n.ClusterID(), "-client", "deadletters-test"}

		_, err := runCommand(t, append([]string{"replay", "-mongo", uri, "-id", ids[1]}, nats...)...)
		require.NoError(t, err)
		assert.Equal(t, int64(2), receive(t, got))
		left := remaining(t, uri)
		assert.Equal(t, []string{ids[0], ids[2]}, left)

		out, err := runCommand(t, append([]string{"replay", "-mongo", uri, "-all"}, nats...)...)
		require.NoError(t, err)
		assert.Contains(t, out, "replayed 2 dead letters")
		assert.Equal(t, []int64{1, 3}, []int64{receive(t, got), receive(t, got)})
		assert.Empty(t, remaining(t, uri))

		_, err = runCommand(t, append([]string{"replay", "-mongo", uri, "-id", ids[0]}, nats...)...)
		assert.ErrorIs(t, err, deadletter.ErrNotFound, "replayed once only")
	})
}

func TestReplay_PublishesAsTheUserItIsGiven(t *testing.T) {
	t.Parallel()
	uri, ids := deadLetters(t, 1)
	operator := bus.OperatorGrant().Permissions("ticketing")
	n, err := embedded.StartNATSStreaming(embedded.NATSConfig{StoreDir: t.TempDir(), Users: []embedded.NATSUser{
		{Name: "operator", Password: "operator-pw", Publish: operator.Publish, Subscribe: operator.Subscribe},
		{Name: "orders", Password: "orders-pw"},
	}})
	require.NoError(t, err)
	t.Cleanup(n.Stop)
	cfg := testkit.BusConfig(n)
	cfg.User, cfg.Password = "orders", "orders-pw"
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := bus.Connect(ctx, cfg, testkit.Logger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	got := listen(t, conn, "orders-service", func(e events.TicketUpdated) int64 { return e.Version })
	args := []string{"replay", "-mongo", uri, "-id", ids[0], "-bus", n.Transport(), "-nats", n.URL(), "-cluster", n.ClusterID(), "-client", "deadletters-user-test", "-user", "operator"}

	_, err = runCommand(t, args...)
	require.ErrorIs(t, err, errUsage, "-user without NATS_PASSWORD")
	_, err = runCommandEnv(t, map[string]string{"NATS_PASSWORD": "operator-pw"}, args...)
	require.NoError(t, err)
	assert.Equal(t, int64(1), receive(t, got))
	assert.Empty(t, remaining(t, uri))
}

func TestDiscard_DeletesWithoutPublishing(t *testing.T) {
	t.Parallel()
	uri, ids := deadLetters(t, 1, 2, 3)

	out, err := runCommand(t, "discard", "-mongo", uri, "-id", ids[0]+","+ids[2])
	require.NoError(t, err)
	assert.Contains(t, out, "discarded "+ids[2])
	assert.Equal(t, []string{ids[1]}, remaining(t, uri))

	_, err = runCommand(t, "discard", "-mongo", uri, "-id", ids[0])
	assert.ErrorIs(t, err, deadletter.ErrNotFound, "discarded once only")
	_, err = runCommand(t, "discard", "-mongo", uri)
	assert.ErrorIs(t, err, errUsage, "discard needs -id")
}

// redisDeadLetters stores a dead letter of order:created for each order in
// a fresh Redis, as expiration does, oldest first, and returns the Redis's
// address and the letters' ids.
func redisDeadLetters(t *testing.T, orders ...string) (string, []string) {
	t.Helper()
	addr := testkit.MiniRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	var created []any
	for _, id := range orders {
		created = append(created, events.OrderCreated{ID: id, Status: events.StatusCreated, ExpiresAt: events.NewTime(time.Now())})
	}
	return addr, putDeadLetters(t, redisstore.New(rdb), events.SubjectOrderCreated, "expiration-service", "redis unavailable", created)
}

// Expiration keeps its dead letters in its Redis: -redis lists, replays
// and discards them as -mongo does the other services'.
func TestRedis_ListsReplaysAndDiscardsExpirationsDeadLetters(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	addr, ids := redisDeadLetters(t, "o1", "o2", "o3", "o4")
	got := listen(t, testkit.Bus(t, n), "expiration-service", func(e events.OrderCreated) string { return e.ID })
	nats := []string{"-bus", n.Transport(), "-nats", n.URL(), "-cluster", n.ClusterID(), "-client", "deadletters-redis-test"}
	left := func() []string {
		t.Helper()
		out, err := runCommand(t, "list", "-json", "-redis", "redis://"+addr+"/0")
		require.NoError(t, err)
		var ids []string
		for line := range strings.Lines(out) {
			var l letterJSON
			require.NoError(t, json.Unmarshal([]byte(line), &l))
			ids = append(ids, l.ID)
		}
		return ids
	}

	out, err := runCommand(t, "list", "-redis", addr)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 5, "a header and one line each")
	assert.True(t, strings.HasPrefix(lines[1], ids[0]), "oldest first")
	assert.Contains(t, lines[1], "order:created")
	assert.Contains(t, lines[1], "expiration-service")
	assert.Contains(t, lines[1], "redis unavailable")

	_, err = runCommand(t, "discard", "-redis", addr, "-id", ids[3])
	require.NoError(t, err)
	_, err = runCommand(t, append([]string{"replay", "-redis", addr, "-id", ids[1]}, nats...)...)
	require.NoError(t, err)
	assert.Equal(t, "o2", receive(t, got))
	assert.Equal(t, []string{ids[0], ids[2]}, left())

	out, err = runCommand(t, append([]string{"replay", "-redis", addr, "-all"}, nats...)...)
	require.NoError(t, err)
	assert.Contains(t, out, "replayed 2 dead letters")
	assert.Equal(t, []string{"o1", "o3"}, []string{receive(t, got), receive(t, got)})
	assert.Empty(t, left())
	out, err = runCommand(t, "list", "-redis", addr)
	require.NoError(t, err)
	assert.Equal(t, "no dead letters in Redis "+addr+"\n", out)

	_, err = runCommand(t, "discard", "-redis", addr, "-id", ids[3])
	assert.ErrorIs(t, err, deadletter.ErrNotFound, "discarded once only")
	_, err = runCommand(t, append([]string{"replay", "-redis", addr, "-id", ids[0]}, nats...)...)
	assert.ErrorIs(t, err, deadletter.ErrNotFound, "replayed once only")
}

// listen listens on conn as group and sends on the channel it returns what
// of each event it is handed, as field takes it.
func listen[E events.Event, T any](t *testing.T, conn *bus.Conn, group string, field func(E) T) <-chan T {
	t.Helper()
	got := make(chan T, 10)
	require.NoError(t, bus.NewListener(conn, group, func(_ context.Context, e E) error {
		got <- field(e)
		return nil
	}).Listen(t.Context()))
	return got
}

// receive returns what the listener sends on got for the next replayed
// event, failing the test if none comes within 10 seconds.
func receive[T any](t *testing.T, got <-chan T) T {
	t.Helper()
	select {
	case v := <-got:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("replayed event not delivered")
		var none T
		return none
	}
}

func remaining(t *testing.T, uri string) []string {
	t.Helper()
	db, disconnect, err := mongodb.Open(uri, "")
	require.NoError(t, err)
	defer func() { _ = disconnect() }()
	letters, err := deadletter.New(db).List(t.Context())
	require.NoError(t, err)
	var ids []string
	for _, l := range letters {
		ids = append(ids, l.ID)
	}
	return ids
}

func TestRun_RefusesWhatItCannotDo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "list, replay or discard"},
		{"unknown command", []string{"purge", "-mongo", "mongodb://db/orders"}, "list, replay or discard"},
		{"no store", []string{"list"}, "-mongo or -redis is required"},
		{"two stores", []string{"list", "-mongo", "mongodb://db/orders", "-redis", "redis:6379"}, "give one"},
		{"a database in Redis", []string{"list", "-redis", "redis:6379", "-db", "orders"}, "-redis takes none"},
		{"a Redis URL of another scheme", []string{"list", "-redis", "http://redis:6379"}, "-redis must be"},
		{"replay without NATS", []string{"replay", "-mongo", "mongodb://db/orders", "-all"}, "-nats is required"},
		{"replay of nothing", []string{"replay", "-mongo", "mongodb://db/orders", "-nats", "nats://n:4222"}, "either -id or -all"},
		{"replay of both", []string{"replay", "-mongo", "mongodb://db/orders", "-nats", "nats://n:4222", "-all", "-id", "x"}, "either -id or -all"},
		{"stray arguments", []string{"list", "-mongo", "mongodb://db/orders", "extra"}, "unexpected arguments"},
		{"unknown flag", []string{"list", "-mongo", "mongodb://db/orders", "-all"}, "-all"},
		{"no database named", []string{"list", "-mongo", "mongodb://127.0.0.1:1/"}, "-db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := runCommand(t, tt.args...)
			require.ErrorIs(t, err, errUsage)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestRedisOptions_TakesAURLOrAHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, addr string
		db       int
	}{
		{"redis", "redis:6379", 0},
		{"127.0.0.1:6380", "127.0.0.1:6380", 0},
		{"::1", "[::1]:6379", 0},
		{"redis://:secret@expiration-redis-srv:6379/2", "expiration-redis-srv:6379", 2},
	}
	for _, tt := range tests {
		opts, err := redisOptions(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.addr, opts.Addr, tt.in)
		assert.Equal(t, tt.db, opts.DB, tt.in)
	}
}

func TestIDs_TakesRepeatsAndCommaLists(t *testing.T) {
	var s ids
	require.NoError(t, s.Set("a, b"))
	require.NoError(t, s.Set("c"))
	assert.Equal(t, ids{"a", "b", "c"}, s)
}
