// Package keylock serialises work on one key within a process.
//
// Stores need it because FerretDB, the embedded MongoDB-compatible server of
// the tests and the local stack, does not apply conditional updates or $inc
// atomically: concurrent FindOneAndUpdate calls filtering on one version all
// succeed, and an update can write back a stale copy of the document over a
// concurrent one. A store therefore holds the lock of a document's id around
// every read-modify-write of that document and still filters on its
// version: the lock orders the writers of one process, the version filter
// those of different processes on real MongoDB.
package keylock

import "sync"

// Locks is a set of mutexes, one per key, created on first use and
// forgotten when nobody holds or waits for them, so that the set stays as
// small as the number of keys in use. The zero value is ready to use.
type Locks struct {
	mu    sync.Mutex
	locks map[string]*entry
}

type entry struct {
	mu   sync.Mutex
	refs int // holders and waiters; guarded by Locks.mu
}

// Lock blocks until it holds key's lock and returns the function that
// releases it. Calling unlock more than once is harmless.
func (l *Locks) Lock(key string) (unlock func()) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = make(map[string]*entry)
	}
	e := l.locks[key]
	if e == nil {
		e = &entry{}
		l.locks[key] = e
	}
	e.refs++
	l.mu.Unlock()

	e.mu.Lock()
	var once sync.Once
	return func() {
		once.Do(func() {
			e.mu.Unlock()
			l.mu.Lock()
			defer l.mu.Unlock()
			e.refs--
			if e.refs == 0 {
				delete(l.locks, key)
			}
		})
	}
}
