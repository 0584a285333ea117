package keylock

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLock_SerialisesHoldersOfOneKey(t *testing.T) {
	var (
		l        Locks
		wg       sync.WaitGroup
		counts   [4]int // each guarded only by its key's lock; -race checks it
		inside   [4]atomic.Int32
		overlaps atomic.Int32
	)
	for g := range 40 {
		wg.Go(func() {
			k := g % 4
			key := fmt.Sprint(k)
			for range 200 {
				unlock := l.Lock(key)
				if inside[k].Add(1) != 1 {
					overlaps.Add(1)
				}
				counts[k]++ // a plain read-modify-write, as a store does
				inside[k].Add(-1)
				unlock()
			}
		})
	}
	wg.Wait()
	assert.Zero(t, overlaps.Load(), "two holders of one key at once")
	for k := range 4 {
		assert.Equal(t, 10*200, counts[k], "key %d lost increments", k)
	}
	assert.Empty(t, l.locks, "map keeps keys nobody holds")
}

func TestLock_DifferentKeysDoNotBlockEachOther(t *testing.T) {
	var l Locks
	unlockA := l.Lock("a")
	defer unlockA()

	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Lock("b")()
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("lock of b waited for the holder of a")
	}
}

func TestLock_WaiterGetsLockAfterRelease(t *testing.T) {
	var l Locks
	unlock := l.Lock("a")

	acquired := make(chan func())
	go func() { acquired <- l.Lock("a") }()
	select {
	case <-acquired:
		t.Fatal("second holder got the lock while the first held it")
	case <-time.After(50 * time.Millisecond):
	}
	unlock()
	select {
	case unlock2 := <-acquired:
		unlock2()
	case <-time.After(time.Second):
		t.Fatal("waiter never got the lock")
	}
	assert.Empty(t, l.locks)
}

func TestLock_MapEmptiesWhenKeysAreReleased(t *testing.T) {
	var l Locks
	unlocks := make([]func(), 0, 1000)
	for i := range 1000 {
		unlocks = append(unlocks, l.Lock(fmt.Sprint(i)))
	}
	require.Len(t, l.locks, 1000)
	for _, u := range unlocks {
		u()
	}
	assert.Empty(t, l.locks)
}

func TestLock_UnlockTwiceIsHarmless(t *testing.T) {
	var l Locks
	unlock := l.Lock("a")
	other := l.Lock("b")
	unlock()
	unlock()
	assert.Len(t, l.locks, 1, "second unlock released someone else's entry")
	other()
	assert.Empty(t, l.locks)

	// The key must still lock normally afterwards.
	l.Lock("a")()
}
