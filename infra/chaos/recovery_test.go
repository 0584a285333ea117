package chaos_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/infra/audit"
)

// The kill-under-load runs: creators list tickets as fast as the system
// takes them while the service in the middle of the event flow is killed.
const (
	creators    = 16
	burst       = 15 * time.Second // the whole load
	killAfter   = 7 * time.Second  // into the load
	recoverMax  = 30 * time.Second // after the load, to complete replicas and quiet
	probeMax    = 10 * time.Second // a new ticket's way to orders after the restart
	restartWait = time.Second      // how long the killed service stays dead
)

// TestRecovery_KilledUnderACreateBurstConvergesWithin30s kills tickets,
// and in another run orders, in the middle of a burst of creates. The
// killed tickets leaves published and unpublished events in its outbox;
// its successor publishes them in batches while new events go out beside
// them, so that every replica is complete and the auditor quiet within
// recoverMax of the load's end. A killed orders takes the events it was
// handed back on restart from NATS Streaming.
func TestRecovery_KilledUnderACreateBurstConvergesWithin30s(t *testing.T) {
	for _, victim := range []string{"tickets", "orders"} {
		t.Run(victim, func(t *testing.T) { killUnderCreateBurst(t, victim) })
	}
}

func killUnderCreateBurst(t *testing.T, victim string) {
	ctx, cancel := context.WithTimeout(t.Context(), burst+recoverMax+2*time.Minute)
	defer cancel()
	dbs, disconnect, err := audit.Connect(stk.MongoURI())
	require.NoError(t, err)
	defer func() { _ = disconnect(context.WithoutCancel(ctx)) }()

	book := newLedger()
	l := &load{base: stk.URL, rec: &recorder{}, book: book, run: fmt.Sprintf("%s-%x", victim, time.Now().UnixNano())}
	users := make([]*user, creators+1)
	for i := range users {
		users[i], err = l.account(ctx, fmt.Sprintf("creator%d", i))
		require.NoError(t, err)
	}
	probe := users[creators]

	stopping, stop := context.WithTimeout(ctx, burst)
	defer stop()
	var created, failed atomic.Int64
	var wg sync.WaitGroup
	for _, u := range users[:creators] {
		wg.Go(func() {
			for stopping.Err() == nil {
				var tk ticket
				body := map[string]any{"title": fmt.Sprintf("burst %s-%d", l.run, l.seq.Add(1)), "price": events.Money(1000)}
				// Requests in flight at the end finish: every 201 is seen.
				if u.do(ctx, http.MethodPost, "/api/tickets", body, &tk) == http.StatusCreated {
					l.book.listed(tk)
					created.Add(1)
				} else {
					failed.Add(1)
					time.Sleep(50 * time.Millisecond) // the victim is down: no busy loop
				}
			}
		})
	}

	sleep(ctx, killAfter)
	require.NoError(t, stk.Kill(victim))
	pending, err := dbs.Tickets.Collection("tickets").CountDocuments(ctx, bson.M{"outbox.0": bson.M{"$exists": true}})
	require.NoError(t, err)
	atKill := created.Load()
	sleep(ctx, restartWait)
	require.NoError(t, stk.Restart(ctx, victim), "%s did not come back", victim)

	// A ticket listed now reaches orders while the leftovers go out.
	probeTook, _ := propagation(ctx, t, l, probe, dbs)
	wg.Wait()
	loadEnd := time.Now()

	report, quietErr := audit.WaitQuiet(ctx, dbs, recoverMax, auditConfig)
	tookQuiet := time.Since(loadEnd)
	t.Logf("%s killed after %d creates with %d tickets holding events; %d created in all, %d failed; "+
		"a new ticket reached orders %v after the restart; quiet %v after the load",
		victim, atKill, pending, created.Load(), failed.Load(), probeTook.Round(time.Millisecond), tookQuiet.Round(time.Millisecond))
	require.NoError(t, quietErr, "not quiet within %v of the load's end:\n%s", recoverMax, report)
	assert.True(t, report.OK(), "%s", report)
	assert.Less(t, probeTook, probeMax, "a new event waited behind the leftovers")

	snap, err := audit.Load(ctx, dbs)
	require.NoError(t, err)
	assertAcceptedWritesKept(t, book, snap)
	assert.Greater(t, created.Load(), int64(creators), "the burst created tickets")
}
