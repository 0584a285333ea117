package outbox_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/testkit"
)

// The test binary re-executed as the publishing process learns its role
// and its servers from these variables.
const (
	envPublisher = "OUTBOX_TEST_PUBLISHER_PROCESS"
	envMongoURI  = "OUTBOX_TEST_MONGO_URI"
	envNATSURL   = "OUTBOX_TEST_NATS_URL"
	envClusterID = "OUTBOX_TEST_NATS_CLUSTER_ID"
)

// Lines the publishing process writes on stdout for the test to follow it.
const (
	lineReady   = "publisher: ready"
	lineWritten = "publisher: written "
	lineFailed  = "publisher: publish failed"
)

func TestRelay_PublishesEventWrittenWhileNATSDownAfterRestart(t *testing.T) {
	if os.Getenv(envPublisher) != "" {
		runPublisherProcess(t)
		return
	}
	t.Parallel()
	n := testkit.NATS(t)
	uri := testkit.MongoURI(t)

	child := startPublisherProcess(t, uri, n.URL(), n.ClusterID())
	child.expect(t, lineReady)
	n.Stop()
	child.send(t, "write")
	hex := child.expect(t, lineWritten)
	// Let its relay reach the publish that cannot be acknowledged, then
	// crash it there.
	child.expect(t, lineFailed)
	child.kill(t)

	id, err := bson.ObjectIDFromHex(hex)
	require.NoError(t, err)
	coll := openDB(t, uri).Collection("tickets")
	pending := pendingOf(t, coll, id)
	require.Len(t, pending, 1, "the crashed process's event is not pending")

	require.NoError(t, n.Start())
	got := listen[events.TicketCreated](t, n)
	startRelay(t, coll, testkit.Bus(t, n), &keylock.Locks{})

	want := events.TicketCreated{ID: hex, Title: "concert", Price: 2500, UserID: "u1"}
	waitDrained(t, coll, id)
	assert.Equal(t, []events.TicketCreated{want}, got.waitFor(t, 1), "not delivered exactly once")
}

// runPublisherProcess is the service process that crashes: it connects to
// both servers while they are up, runs a relay, and on request stores a
// ticket with its event.
func runPublisherProcess(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db := openDB(t, os.Getenv(envMongoURI))
	conn, err := bus.Connect(ctx, bus.Config{
		URL:       os.Getenv(envNATSURL),
		ClusterID: os.Getenv(envClusterID),
		ClientID:  fmt.Sprintf("publisher-%d", os.Getpid()),
	}, log)
	require.NoError(t, err)
	locks := &keylock.Locks{}
	coll := db.Collection("tickets")
	pub := reporting{conn, func(string) { fmt.Println(lineFailed) }}
	relay := outbox.NewRelay(coll, pub, locks, log)
	go func() { _ = relay.Run(ctx) }()
	fmt.Println(lineReady)

	in := bufio.NewScanner(os.Stdin)
	require.True(t, in.Scan(), "no request from the test")
	require.Equal(t, "write", in.Text())
	id := bson.NewObjectID()
	msg := message(t, events.TicketCreated{ID: id.Hex(), Title: "concert", Price: 2500, UserID: "u1"})
	unlock := locks.Lock(id.Hex())
	_, err = coll.InsertOne(ctx, ticket{ID: id, Title: "concert", Outbox: []outbox.Message{msg}})
	require.NoError(t, err)
	relay.Stored(id, msg)
	unlock()
	fmt.Println(lineWritten + id.Hex())

	// Wait for the kill; leave if the test goes away instead.
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// openDB connects to the database that uri names, as a service would.
func openDB(t *testing.T, uri string) *mongo.Database {
	t.Helper()
	u, err := url.Parse(uri)
	require.NoError(t, err)
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(10 * time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client.Database(strings.TrimPrefix(u.Path, "/"))
}

type process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *testkit.Buffer
}

func startPublisherProcess(t *testing.T, mongoURI, natsURL, clusterID string) *process {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+t.Name()+"$")
	cmd.Env = append(os.Environ(),
		envPublisher+"=1",
		envMongoURI+"="+mongoURI,
		envNATSURL+"="+natsURL,
		envClusterID+"="+clusterID,
	)
	p := &process{cmd: cmd, lines: make(chan string, 16), stderr: &testkit.Buffer{}}
	cmd.Stderr = p.stderr
	var err error
	p.stdin, err = cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("publisher process stderr:\n%s", p.stderr.String())
		}
	})
	go func() {
		defer close(p.lines)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			p.lines <- s.Text()
		}
	}()
	return p
}

// expect waits for the line starting with prefix and returns its rest.
func (p *process) expect(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("publisher process ended before %q", prefix)
			}
			if rest, found := strings.CutPrefix(line, prefix); found {
				return rest
			}
		case <-timeout:
			t.Fatalf("publisher process did not say %q", prefix)
		}
	}
}

func (p *process) send(t *testing.T, line string) {
	t.Helper()
	_, err := fmt.Fprintln(p.stdin, line)
	require.NoError(t, err)
}

// kill ends the process with SIGKILL, as a crash or an OOM kill would, so
// that nothing of it runs after the write.
func (p *process) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Kill())
	err := p.cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, "signal: killed", exit.Error())
}
