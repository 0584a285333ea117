package hashgate_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/auth/internal/hashgate"
)

// idle is auth's own: the tests run in a synctest bubble, where time is
// fake, so they wait for nothing and can check each release to the instant.
const idle = time.Second

// burst runs n hashes of a millisecond each through g, at most
// concurrently at once.
func burst(t *testing.T, g *hashgate.Gate, n, concurrently int) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, concurrently)
	for range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			leave, err := g.Enter(context.Background())
			if !assert.NoError(t, err) {
				return
			}
			time.Sleep(time.Millisecond) // a hash's work, in the bubble's time: no real wait
			leave()
		})
	}
	wg.Wait()
}

// releasedAfter lets d pass and every goroutine of the bubble settle, then
// returns how many releases there have been.
func releasedAfter(d time.Duration, released *atomic.Int32) int32 {
	time.Sleep(d)
	synctest.Wait()
	return released.Load()
}

func TestGate_ReleasesOncePerBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var released atomic.Int32
		g := hashgate.New(2, time.Hour, idle, func() { released.Add(1) })

		burst(t, g, 20, 8)
		require.Zero(t, releasedAfter(idle-time.Nanosecond, &released), "no release before the burst has been idle for idle")
		require.EqualValues(t, 1, releasedAfter(time.Nanosecond, &released))
		assert.EqualValues(t, 1, releasedAfter(5*idle, &released), "one release for one burst, however many hashes")

		burst(t, g, 5, 5)
		require.EqualValues(t, 2, releasedAfter(idle, &released))
		assert.EqualValues(t, 2, releasedAfter(5*idle, &released), "one more for the next burst")
	})
}

func TestGate_NoReleaseWhileAHashRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var released atomic.Int32
		g := hashgate.New(2, time.Hour, idle, func() { released.Add(1) })
		first, err := g.Enter(context.Background())
		require.NoError(t, err)
		second, err := g.Enter(context.Background())
		require.NoError(t, err)

		first()
		assert.Zero(t, releasedAfter(5*idle, &released), "the burst has not ended while a hash runs")

		second()
		assert.EqualValues(t, 1, releasedAfter(idle, &released))
	})
}

func TestGate_NothingToReleaseWithoutHashes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var released atomic.Int32
		hashgate.New(2, time.Hour, idle, func() { released.Add(1) })
		assert.Zero(t, releasedAfter(5*idle, &released))
	})
}

func TestGate_AdmitsAtMostN(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := hashgate.New(2, time.Hour, time.Hour, func() {})
		var running, most atomic.Int32
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				leave, err := g.Enter(context.Background())
				if !assert.NoError(t, err) {
					return
				}
				n := running.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(time.Millisecond) // a hash's work, in the bubble's time
				running.Add(-1)
				leave()
			})
		}
		wg.Wait()
		assert.EqualValues(t, 2, most.Load())
	})
}

func TestGate_WaitEndsWithTheContext(t *testing.T) {
	g := hashgate.New(1, time.Hour, time.Hour, func() {})
	leave, err := g.Enter(context.Background())
	require.NoError(t, err)
	defer leave()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, err = g.Enter(ctx)

	assert.ErrorIs(t, err, context.Canceled)
}

func TestGate_LeaveTwiceFreesOneTurn(t *testing.T) {
	g := hashgate.New(1, time.Hour, time.Hour, func() {})
	leave, err := g.Enter(context.Background())
	require.NoError(t, err)
	leave()
	leave()
	next, err := g.Enter(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = g.Enter(ctx)
	assert.Error(t, err, "the second leave gave no extra turn")
	next()
}

func TestGate_LoadCountsHashesRunningAndWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := hashgate.New(1, time.Hour, time.Hour, func() {})
		leave, err := g.Enter(context.Background())
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		waited := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := g.Enter(ctx)
				waited <- err
			}()
		}

		synctest.Wait()
		waiting, running := g.Load()
		require.Equal(t, 2, waiting)
		require.Equal(t, 1, running)

		cancel()
		for range 2 {
			assert.Error(t, <-waited)
		}
		waiting, running = g.Load()
		assert.Equal(t, 0, waiting, "a wait given up no longer counts")
		assert.Equal(t, 1, running)
		leave()
		_, running = g.Load()
		assert.Equal(t, 0, running)
	})
}

func TestGate_RefusesWhenNoTurnComesWithinTheWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := hashgate.New(1, 2*time.Second, time.Hour, func() {})
		leave, err := g.Enter(context.Background())
		require.NoError(t, err)

		start := time.Now()
		_, err = g.Enter(context.Background())

		assert.ErrorIs(t, err, hashgate.ErrBusy)
		assert.Equal(t, 2*time.Second, time.Since(start), "the whole wait, and no longer")
		waiting, running := g.Load()
		assert.Zero(t, waiting, "a refused hash no longer waits")
		assert.Equal(t, 1, running)
		leave()
	})
}

func TestGate_ATurnFreedWithinTheWaitIsTaken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := hashgate.New(1, 2*time.Second, time.Hour, func() {})
		leave, err := g.Enter(context.Background())
		require.NoError(t, err)
		go func() {
			time.Sleep(1999 * time.Millisecond) // bubble time: a millisecond inside the wait
			leave()
		}()

		start := time.Now()
		next, err := g.Enter(context.Background())

		require.NoError(t, err)
		assert.Equal(t, 1999*time.Millisecond, time.Since(start))
		next()
	})
}
