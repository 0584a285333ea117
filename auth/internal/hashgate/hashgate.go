// Package hashgate bounds the memory password hashing takes. scrypt with
// N=16384, r=8 (the hash the original app used, and a requirement) needs
// 16 MiB for each hash in flight. Unbounded, 16 sign-ups at once made auth
// peak at ~500 MiB, and the Go runtime keeps freed memory resident until a
// garbage collection and its scavenger give it back, which in an idle
// process can take minutes: auth then sat well above the other services.
//
// A Gate lets as many hashes run as there are processors to run them, so
// that throughput is the same and memory in use is bounded, and once a
// burst of hashes has ended and none has run for a while, it returns the
// memory to the operating system once.
//
// A hash waits a bounded time for its turn: past it, the Gate answers
// ErrBusy, so that a flood of sign-ins is refused promptly (auth answers
// 503) instead of piling up requests, each holding a connection, that would
// be served too late to matter.
package hashgate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrBusy is Enter's answer when no turn came within the Gate's wait.
var ErrBusy = errors.New("no turn to hash in time")

// Gate admits at most n hashes at once and calls release once after each
// burst of them, when none has run for the idle time.
type Gate struct {
	slots   chan struct{}
	wait    time.Duration
	idle    time.Duration
	release func()
	waiting atomic.Int64 // in Enter, for a slot

	mu      sync.Mutex
	running int
	// pending is set when a hash has ended since the last release.
	pending bool
	timer   *time.Timer
}

// New returns a Gate admitting n hashes at once (at least one), each after
// waiting at most wait for its turn, that calls release once no hash has
// run for idle after a burst. auth passes runtime.GOMAXPROCS(0), two
// seconds, a second and debug.FreeOSMemory.
func New(n int, wait, idle time.Duration, release func()) *Gate {
	return &Gate{slots: make(chan struct{}, max(n, 1)), wait: wait, idle: idle, release: release}
}

// Enter waits for a turn to hash, for the Gate's wait at most: then it
// fails with ErrBusy, or earlier with ctx's error when ctx is done. The
// caller hashes, then calls leave, once.
func (g *Gate) Enter(ctx context.Context) (leave func(), err error) {
	g.waiting.Add(1)
	select {
	case g.slots <- struct{}{}:
	default:
		err = g.queue(ctx)
	}
	g.waiting.Add(-1)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.running++
	if g.timer != nil {
		// A burst goes on: no release until it ends. Should the timer
		// have fired already, fire sees the hash running and does nothing.
		g.timer.Stop()
	}
	g.mu.Unlock()
	var once sync.Once
	return func() { once.Do(g.leave) }, nil
}

// queue waits for a slot when none was free at once.
func (g *Gate) queue(ctx context.Context) error {
	timer := time.NewTimer(g.wait)
	defer timer.Stop()
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-timer.C:
		return fmt.Errorf("wait to hash: %w after %v", ErrBusy, g.wait)
	case <-ctx.Done():
		return fmt.Errorf("wait to hash: %w", ctx.Err())
	}
}

// Load returns how many hashes wait for a turn and how many run, for
// metrics; the two are read one after the other, not at one instant.
func (g *Gate) Load() (waiting, running int) {
	g.mu.Lock()
	running = g.running
	g.mu.Unlock()
	return int(g.waiting.Load()), running
}

func (g *Gate) leave() {
	<-g.slots
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running--
	g.pending = true
	if g.running > 0 {
		return
	}
	if g.timer == nil {
		g.timer = time.AfterFunc(g.idle, g.fire)
	} else {
		g.timer.Reset(g.idle)
	}
}

// fire releases the memory when the burst is over and has not been
// released yet.
func (g *Gate) fire() {
	g.mu.Lock()
	due := g.running == 0 && g.pending
	g.pending = false
	g.mu.Unlock()
	if due {
		g.release()
	}
}
