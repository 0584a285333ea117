package task_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/lifecycle"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/testkit"
	"ticketing.dev/expiration/internal/task"
)

// stuckWorker takes due tasks and never finishes them, as a worker killed
// mid-task leaves them: active, until asynq's recovery minutes later.
func stuckWorker(t *testing.T, rdb *redis.Client) {
	t.Helper()
	srv := task.NewServer(rdb, testkit.Logger(t))
	release := make(chan struct{})
	require.NoError(t, srv.Start(asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})))
	t.Cleanup(srv.Shutdown)
	t.Cleanup(func() { close(release) }) // runs first
}

func TestRescuer_PublishesOnceTheExpirationOfATaskItsWorkerLeftActive(t *testing.T) {
	n := testkit.NATS(t)
	seen := observe(t, testkit.Bus(t, n))
	rdb := redis.NewClient(&redis.Options{Addr: testkit.RedisServer(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	stuckWorker(t, rdb)

	const stuckAfter, sweepEvery = 700 * time.Millisecond, 50 * time.Millisecond
	expiresAt := events.NewTime(time.Now().Add(300 * time.Millisecond)).Time
	scheduled, err := task.NewScheduler(rdb).Schedule(t.Context(), "order-stuck", expiresAt)
	require.NoError(t, err)
	require.True(t, scheduled)

	pub := bus.NewPublisher[events.ExpirationComplete](testkit.Bus(t, n))
	reg := prometheus.NewRegistry()
	lateness, err := metrics.NewExpiration(reg)
	require.NoError(t, err)
	rescuer := task.NewRescuer(rdb, pub, testkit.Logger(t), task.WithStuckAfter(stuckAfter), task.WithSweepEvery(sweepEvery),
		task.WithRescueMetrics(lateness))
	running := lifecycle.Go(t.Context(), rescuer.Run)
	t.Cleanup(func() { assert.NoError(t, running.Stop()) })

	testkit.Eventually(t, func() bool { return len(seen.of("order-stuck")) > 0 }, "the stuck expiration published")
	// Ten more sweeps, each of which would rescue the task again had the
	// first not recorded it.
	assert.Never(t, func() bool { return len(seen.of("order-stuck")) > 1 }, 10*sweepEvery, tick, "rescued twice")
	arrivals := seen.of("order-stuck")
	require.Len(t, arrivals, 1, "published once although the task stays active")
	late := arrivals[0].Sub(expiresAt)
	assert.GreaterOrEqual(t, late, stuckAfter, "a task is only rescued once it is stuck")
	assert.Less(t, late, stuckAfter+time.Second, "and soon after")
	h := metricstest.Gather(t, reg)[metrics.ExpirationLateness].GetMetric()[0].GetHistogram()
	assert.EqualValues(t, 1, h.GetSampleCount(), "the rescue's lateness is measured")
	assert.GreaterOrEqual(t, h.GetSampleSum(), stuckAfter.Seconds())
}

func TestRescuer_LeavesTasksThatRunNormallyAlone(t *testing.T) {
	n := testkit.NATS(t)
	seen := observe(t, testkit.Bus(t, n))
	conn := testkit.Bus(t, n)
	addr := testkit.RedisServer(t)
	tasks := startWorker(t, addr, conn)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })

	pub := bus.NewPublisher[events.ExpirationComplete](conn)
	const stuckAfter = time.Second
	rescuer := task.NewRescuer(rdb, pub, testkit.Logger(t), task.WithStuckAfter(stuckAfter), task.WithSweepEvery(20*time.Millisecond))
	running := lifecycle.Go(t.Context(), rescuer.Run)
	t.Cleanup(func() { assert.NoError(t, running.Stop()) })

	for _, id := range []string{"order-1", "order-2", "order-3"} {
		_, err := tasks.Schedule(t.Context(), id, time.Now().Add(200*time.Millisecond))
		require.NoError(t, err)
	}
	testkit.Eventually(t, func() bool { return seen.total() >= 3 }, "three expirations")
	// Past the time they would count as stuck, with a margin for the sweep
	// and the publish: a rescuer that took them for stuck would publish
	// them again by then.
	assert.Never(t, func() bool { return seen.total() > 3 }, stuckAfter+500*time.Millisecond, tick, "an expiration published again")
	assert.Equal(t, 3, seen.total(), "each published once, by its worker")
}
