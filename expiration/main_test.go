package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/deadletter/redisstore"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/testkit"
	"ticketing.dev/expiration/internal/task"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// natsEnv is the NATS part of a complete environment.
var natsEnv = map[string]string{
	"NATS_URL":        "nats://127.0.0.1:1",
	"NATS_CLUSTER_ID": "ticketing",
	"NATS_CLIENT_ID":  "expiration-1",
}

func with(base map[string]string, kv ...string) map[string]string {
	m := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestRun_FailsAtOnceNamingMissingOrBadConfiguration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"nothing set", nil, []string{"NATS_URL must be defined", "NATS_CLUSTER_ID must be defined", "NATS_CLIENT_ID must be defined", "REDIS_HOST or REDIS_URL must be defined"}},
		{"no Redis", natsEnv, []string{"REDIS_HOST or REDIS_URL must be defined"}},
		{"no NATS_URL", with(natsEnv, "NATS_URL", "", "REDIS_HOST", "redis"), []string{"NATS_URL must be defined"}},
		{"no NATS_CLIENT_ID", with(natsEnv, "NATS_CLIENT_ID", " ", "REDIS_HOST", "redis"), []string{"NATS_CLIENT_ID must be defined"}},
		{"both Redis variables", with(natsEnv, "REDIS_HOST", "redis", "REDIS_URL", "redis://redis"), []string{"REDIS_HOST and REDIS_URL"}},
		{"REDIS_URL not a URL", with(natsEnv, "REDIS_URL", "http://redis:6379"), []string{"REDIS_URL must be a redis://"}},
		{"REDIS_HOST a URL", with(natsEnv, "REDIS_HOST", "redis://redis:6379"), []string{"REDIS_HOST must be a host or host:port"}},
		{"REDIS_HOST bad port", with(natsEnv, "REDIS_HOST", "redis:port"), []string{"REDIS_HOST must be a host or host:port"}},
		{"bad LOG_LEVEL", with(natsEnv, "REDIS_HOST", "redis", "LOG_LEVEL", "loud"), []string{"LOG_LEVEL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			start := time.Now()

			err := run(t.Context(), testkit.Getenv(tt.env), &out)

			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "configuration: "), err.Error())
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Less(t, time.Since(start), time.Second, "must not try to connect first")
		})
	}
}

func TestReadSettings_FindsRedisFromEitherVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, host, url, addr string
		db                    int
	}{
		{"host", "redis", "", "redis:6379", 0},
		{"host and port", "redis:6380", "", "redis:6380", 0},
		{"IPv6 host", "::1", "", "[::1]:6379", 0},
		{"bracketed IPv6 host and port", "[::1]:6380", "", "[::1]:6380", 0},
		{"URL", "", "redis://:secret@redis:6381/2", "redis:6381", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := readSettings(testkit.Getenv(with(natsEnv, "REDIS_HOST", tt.host, "REDIS_URL", tt.url)))
			require.NoError(t, err)
			assert.Equal(t, tt.addr, s.Redis.Addr)
			assert.Equal(t, tt.db, s.Redis.DB)
			assert.Equal(t, ":3000", s.ListenAddr)
		})
	}
}

func TestRun_ServesHealthAndTurnsOrderCreatedIntoExpirationComplete(t *testing.T) {
	n := testkit.NATS(t)
	expired := observe(t, testkit.Bus(t, n))
	svc := startRun(t, n, "REDIS_HOST", testkit.RedisServer(t))

	svc.assertReadiness(t, http.StatusOK, map[string]string{"redis": "ok", "nats": "ok"})

	e := publishOrder(t, n, time.Now().Add(1500*time.Millisecond))
	testkit.Eventually(t, func() bool { return len(expired.of(e.ID)) > 0 }, "expiration:complete")
	assert.False(t, expired.of(e.ID)[0].Before(e.ExpiresAt.Time), "expired early")

	require.NoError(t, svc.StopAndWait(t))
	assert.Len(t, expired.of(e.ID), 1)
	testkit.AssertJSONLogs(t, svc.out.String())
}

// TestRun_ServesMetricsOnTheDebugAddress checks what expiration counts, as
// Prometheus scrapes it from DEBUG_ADDR: how late each order expired, and
// the events it handles and publishes.
func TestRun_ServesMetricsOnTheDebugAddress(t *testing.T) {
	n := testkit.NATS(t)
	expired := observe(t, testkit.Bus(t, n))
	debugAddr := testkit.FreeAddr(t)
	svc := startRun(t, n, "REDIS_HOST", testkit.RedisServer(t), "DEBUG_ADDR", debugAddr)
	url := "http://" + debugAddr + "/metrics"
	before := metricstest.Scrape(t, url)

	e := publishOrder(t, n, time.Now().Add(1500*time.Millisecond))
	resp, err := http.Get(svc.URL + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	testkit.Eventually(t, func() bool { return len(expired.of(e.ID)) > 0 }, "expiration:complete")

	rises := func(name string, labels prometheus.Labels) {
		t.Helper()
		metricstest.EventuallyRises(t, url, before, 1, name, labels)
	}
	rises(metrics.ExpirationLateness, nil)
	rises(metrics.BusHandled, prometheus.Labels{"subject": string(events.SubjectOrderCreated), "outcome": metrics.OutcomeAcked})
	rises(metrics.BusPublished, prometheus.Labels{"subject": string(events.SubjectExpirationComplete)})
	rises(metrics.HTTPRequests, prometheus.Labels{"route": "/readyz", "method": "GET", "code": "200"})
	lateness := metricstest.Scrape(t, url)[metrics.ExpirationLateness].GetMetric()[0].GetHistogram()
	assert.Less(t, lateness.GetSampleSum(), 5.0, "one expiration, seconds late at most")
	require.NoError(t, svc.StopAndWait(t))
}

// The service as run wires it keeps an order:created it can never apply
// in its dead letters, in its Redis, at once — an undecodable payload and
// an order id that is no ObjectID — counts and logs it, and goes on
// expiring orders.
func TestRun_AnEventThatCanNeverApplyIsADeadLetterAtOnce(t *testing.T) {
	n := testkit.NATS(t)
	addr := testkit.RedisServer(t)
	expired := observe(t, testkit.Bus(t, n))
	debugAddr := testkit.FreeAddr(t)
	svc := startRun(t, n, "REDIS_HOST", addr, "DEBUG_ADDR", debugAddr)
	url := "http://" + debugAddr + "/metrics"
	before := metricstest.Scrape(t, url)

	orders := testkit.Bus(t, n)
	require.NoError(t, orders.Publish(t.Context(), string(events.SubjectOrderCreated), []byte("not json")))
	testkit.Publish(t, orders, events.OrderCreated{
		ID: "order-1", Status: events.StatusCreated, UserID: "user-1",
		ExpiresAt: events.NewTime(time.Now().Add(time.Minute)),
		Ticket:    events.OrderTicket{ID: bson.NewObjectID().Hex()},
	})

	letters := redisstore.New(redisClient(t, addr))
	var stored []deadletter.Letter
	testkit.Eventually(t, func() bool {
		var err error
		stored, err = letters.List(t.Context())
		return err == nil && len(stored) == 2
	}, "both events are dead letters")
	var undecodable, malformed int
	for _, l := range stored {
		assert.Equal(t, string(events.SubjectOrderCreated), l.Subject)
		assert.Equal(t, "expiration-service", l.Group)
		assert.Equal(t, 1, l.Deliveries, "at once")
		switch {
		case string(l.Data) == "not json":
			undecodable++
		case strings.Contains(string(l.Data), `"id":"order-1"`):
			malformed++
			assert.Contains(t, l.Err, `malformed order id "order-1"`)
		}
	}
	assert.Equal(t, 1, undecodable, "the payload kept byte for byte")
	assert.Equal(t, 1, malformed)
	metricstest.EventuallyRises(t, url, before, 2, metrics.BusDeadLettered,
		prometheus.Labels{"subject": string(events.SubjectOrderCreated), "group": "expiration-service"})

	e := publishOrder(t, n, time.Now().Add(1500*time.Millisecond))
	testkit.Eventually(t, func() bool { return len(expired.of(e.ID)) > 0 }, "expiration:complete after the dead letters")
	require.NoError(t, svc.StopAndWait(t))
	assert.Equal(t, 2, strings.Count(svc.out.String(), "event given up on and stored as a dead letter"))
}

// A task in flight when the service stops finishes; one due later stays in
// Redis for the next process, which may name Redis by URL.
func TestRun_ShutdownLosesNoTask(t *testing.T) {
	n := testkit.NATS(t)
	addr := testkit.RedisServer(t)
	expired := observe(t, testkit.Bus(t, n))
	first := startRun(t, n, "REDIS_HOST", addr)

	// asynq hands a task over at the whole second before its expiresAt;
	// inFlight's is then waiting out its remainder when the service stops.
	second := time.Now().Add(1300 * time.Millisecond).Truncate(time.Second).Add(time.Second)
	inFlight := publishOrder(t, n, second.Add(900*time.Millisecond))
	later := publishOrder(t, n, second.Add(1700*time.Millisecond))
	inspector := asynq.NewInspectorFromRedisClient(redisClient(t, addr))
	testkit.Eventually(t, func() bool {
		_, err1 := inspector.GetTaskInfo(task.Queue, inFlight.ID)
		_, err2 := inspector.GetTaskInfo(task.Queue, later.ID)
		return err1 == nil && err2 == nil
	}, "both tasks to be scheduled")

	// asynq runs on the wall clock: only waiting brings the first task due
	// and leaves the second ahead.
	time.Sleep(time.Until(second.Add(600 * time.Millisecond)))
	require.NoError(t, first.StopAndWait(t))
	assert.True(t, loggedExpiry(t, first.out.String(), inFlight.ID), "the first process finishes the task in flight")
	assert.False(t, loggedExpiry(t, first.out.String(), later.ID), "the first process does not run the later task")

	next := startRun(t, n, "REDIS_URL", "redis://"+addr+"/0")
	testkit.Eventually(t, func() bool { return len(expired.of(later.ID)) > 0 }, "the later expiration")
	require.NoError(t, next.StopAndWait(t))

	for _, e := range []events.OrderCreated{inFlight, later} {
		got := expired.of(e.ID)
		if assert.Len(t, got, 1, "order %s", e.ID) {
			assert.False(t, got[0].Before(e.ExpiresAt.Time), "order %s expired early", e.ID)
		}
	}
}

func TestRun_StopsWithAnErrorWhenNATSIsLostForGood(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	// The default 10 s before giving the bus up would dominate the suite.
	lostSoon := func(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
		cfg, err := readSettings(getenv)
		if err != nil {
			return err
		}
		cfg.lostAfter = 2 * time.Second
		return serve(ctx, cfg, stdout)
	}
	svc := startRunning(t, lostSoon, with(testkit.BusEnv(n), "REDIS_HOST", testkit.MiniRedis(t)))

	n.Stop()

	assert.ErrorIs(t, svc.Wait(t, 20*time.Second), bus.ErrConnectionLost)
}

func TestRun_StartsWithoutRedisButIsNotReady(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	// A port free a moment ago: nothing listens there.
	svc := startRun(t, n, "REDIS_HOST", "127.0.0.1:"+testkit.FreePort(t))

	svc.assertReadiness(t, http.StatusServiceUnavailable, map[string]string{"redis": "unavailable", "nats": "ok"})

	require.NoError(t, svc.StopAndWait(t))
	assert.Contains(t, svc.out.String(), "redis not reachable yet")
}

// service is a run in the background, its logs in out.
type service struct {
	*testkit.Service
	out *testkit.Buffer
}

// startRun starts run against n and the Redis named by redisVar (REDIS_HOST
// or REDIS_URL), with the variables and values of extra added, and waits
// until it answers /healthz: /readyz waits for Redis, which some tests
// keep away.
func startRun(t *testing.T, n embedded.Bus, redisVar, redisValue string, extra ...string) *service {
	t.Helper()
	return startRunning(t, run, with(testkit.BusEnv(n), append([]string{redisVar, redisValue}, extra...)...))
}

func startRunning(t *testing.T, run testkit.Run, env map[string]string) *service {
	t.Helper()
	out := &testkit.Buffer{}
	return &service{Service: testkit.StartService(t, run, env, testkit.Stdout(out), testkit.ReadyPath("/healthz")), out: out}
}

// assertReadiness checks that /readyz answers status with the state of
// each dependency.
func (s *service) assertReadiness(t *testing.T, status int, checks map[string]string) {
	t.Helper()
	resp, err := http.Get(s.URL + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	var ready map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ready))
	assert.Equal(t, status, resp.StatusCode)
	assert.Equal(t, checks, ready)
}

// publishOrder publishes order:created of a new order as the orders
// service would.
func publishOrder(t *testing.T, n embedded.Bus, expiresAt time.Time) events.OrderCreated {
	t.Helper()
	e := events.OrderCreated{
		ID:        bson.NewObjectID().Hex(),
		Status:    "created",
		UserID:    "user-1",
		ExpiresAt: events.NewTime(expiresAt),
		Ticket:    events.OrderTicket{ID: "ticket-1"},
	}
	require.NoError(t, bus.NewPublisher[events.OrderCreated](testkit.Bus(t, n)).Publish(t.Context(), e))
	return e
}

// observer records when each expiration:complete arrives.
type observer struct {
	mu  sync.Mutex
	got map[string][]time.Time
}

func observe(t *testing.T, conn *bus.Conn) *observer {
	t.Helper()
	o := &observer{got: make(map[string][]time.Time)}
	require.NoError(t, bus.NewListener(conn, "test-observer", func(_ context.Context, e events.ExpirationComplete) error {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.got[e.OrderID] = append(o.got[e.OrderID], time.Now())
		return nil
	}).Listen(t.Context()))
	return o
}

func (o *observer) of(id string) []time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Time(nil), o.got[id]...)
}

func redisClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// loggedExpiry reports whether a run's logs say it expired the order.
func loggedExpiry(t *testing.T, logs, orderID string) bool {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var entry struct {
			Msg     string `json:"msg"`
			OrderID string `json:"order_id"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &entry), sc.Text())
		if entry.Msg == "order expired" && entry.OrderID == orderID {
			return true
		}
	}
	return false
}
