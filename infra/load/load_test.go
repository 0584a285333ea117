package load_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testkit"
	"ticketing.dev/infra/load"
	"ticketing.dev/infra/stack"
)

func TestSteps_InRunOrderWithTheRowsTheyAdd(t *testing.T) {
	assert.Equal(t, []string{"signup", "signin", "list", "listpage", "show", "create", "order", "pay", "purchase", "lags", "expire"}, load.Steps,
		"the reads before the steps that add tickets; cmd/load's default -steps")
	assert.Equal(t, map[string]string{"create": "tickets", "order": "orders", "pay": "payments", "purchase": "payments"}, load.RowSteps)
}

func TestRun_EveryStepAndLagMeasuredWithoutErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole stack")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out := new(testkit.Buffer) // the stack's goroutines share it
	// The window leaves the pay step time to pay its orders while other
	// test packages run beside this one under the race detector.
	s, err := stack.Start(ctx, stack.Config{
		Root: root, GatewayAddr: "127.0.0.1:0", ExpirationWindow: "3s", RateLimit: "0", MaxUnsoldTickets: "0", LogLevel: "warn", Out: out, Debug: true,
	})
	require.NoError(t, err, "stack: %s", out.String())
	defer s.Stop()
	procs := map[string]int{}
	for _, name := range stack.Services {
		pid, ok := s.Pid(name)
		require.True(t, ok, name)
		procs[name] = pid
	}

	rep, err := load.Run(ctx, load.Config{
		URL: s.URL, Users: 2, Duration: 500 * time.Millisecond, Tickets: 5, Pool: 10, Procs: procs, Metrics: s.DebugAddrs(),
	})
	require.NoError(t, err)

	require.Len(t, rep.Steps, len(load.Steps))
	for i, st := range rep.Steps {
		assert.Equal(t, load.Steps[i], st.Name)
		assert.Positive(t, st.Requests, st.Name)
		assert.Zero(t, st.Errors, "%s: %v", st.Name, st.FirstErrors)
		assert.Positive(t, st.RPS, st.Name)
		assert.True(t, st.P50 > 0 && st.P50 <= st.P90 && st.P90 <= st.P99, "%s: %v %v %v", st.Name, st.P50, st.P90, st.P99)
		requests := 0
		for _, sec := range st.Series {
			requests += sec.Requests
		}
		assert.Equal(t, st.Requests, requests, "%s: every request in its second", st.Name)
		assert.NotEmpty(t, st.Calls, st.Name)
		// Until every service counts its MongoDB commands, a step says why
		// it has none.
		assert.True(t, st.CommandsMeasured || st.CommandsErr != "", st.Name)
		assert.Zero(t, st.Settled, "%s: no Settle, no wait for it", st.Name)
	}
	order, _ := rep.Step("order")
	assert.Equal(t, order.Requests, order.Expired, "every order of the order step expired before its commands were read")
	assert.Equal(t, order.Requests, order.Calls[load.Call("POST", "/api/orders", 201)])
	if create, _ := rep.Step("create"); create.CommandsMeasured {
		var inserts float64
		for _, c := range create.Commands {
			if c.Service == "tickets" && c.Collection == "tickets" && c.Command == "insert" {
				inserts += c.Count
			}
		}
		// The store inserts through mongodb.Inserter: one command carries
		// every ticket created while the one before was in flight, so
		// there are at least one and at most as many as tickets created.
		assert.Positive(t, inserts, "the create step's inserts are counted")
		assert.LessOrEqual(t, inserts, float64(create.Requests), "no more inserts than tickets created")
	}
	var lags []string
	for _, l := range rep.Lags {
		lags = append(lags, l.Name)
		assert.Positive(t, l.Samples, l.Name)
	}
	assert.Equal(t, []string{load.LagOrderable, load.LagOrdered, load.LagLocked, load.LagOrderable + load.AtRest, load.LagOrdered + load.AtRest, load.LagLocked + load.AtRest, load.LagCancelled}, lags)
	require.Len(t, rep.Procs, len(stack.Services))
	for _, p := range rep.Procs {
		assert.Positive(t, p.IdleRSS, p.Name)
		assert.GreaterOrEqual(t, p.PeakRSS, p.IdleRSS, p.Name)
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	assert.Contains(t, text.String(), "purchase")

	// A warm-up runs the purchase story first, and none of its lags or
	// latencies reach the report: the lags step's are all there is.
	var progress []string
	warm, err := load.Run(ctx, load.Config{
		URL: s.URL, Users: 2, Duration: 500 * time.Millisecond, Tickets: 5, Warmup: 500 * time.Millisecond, Steps: []string{"lags"},
		Progress: func(format string, a ...any) { progress = append(progress, fmt.Sprintf(format, a...)) },
	})
	require.NoError(t, err)
	require.Len(t, warm.Steps, 1)
	assert.Contains(t, strings.Join(progress, "\n"), "warm-up: ")
	require.NotEmpty(t, warm.Lags)
	for _, l := range warm.Lags {
		assert.True(t, strings.HasSuffix(l.Name, load.AtRest), "%s: a lag of the warm-up reached the report", l.Name)
		assert.Equal(t, warm.Steps[0].Requests, l.Samples, l.Name)
	}

	// A step counts the unfinished work of what came before it when the
	// last settle before its count did not settle. Settle runs before each
	// step and after it (calls 1 and 2 are signup's, 3 and 4 signin's, ...):
	// signup's events settle only after the wait before signin, so signin
	// inherits them; list's settle by the wait before listpage, so
	// listpage does not.
	settles := 0
	chained, err := load.Run(ctx, load.Config{
		URL: s.URL, Users: 2, Duration: 500 * time.Millisecond, Tickets: 5, Steps: []string{"signup", "signin", "list", "listpage"},
		Settle: func(context.Context) error {
			if settles++; settles == 2 || settles == 3 || settles == 6 {
				return fmt.Errorf("%w: call %d", load.ErrNotSettled, settles)
			}
			if settles == 4 { // signin's events take a while
				time.Sleep(300 * time.Millisecond)
			}
			return nil
		},
	})
	require.NoError(t, err)
	require.Len(t, chained.Steps, 4)
	assert.Equal(t, 8, settles)
	assert.Equal(t, []string{"not settled: call 2", "", "not settled: call 6", ""},
		[]string{chained.Steps[0].Unsettled, chained.Steps[1].Unsettled, chained.Steps[2].Unsettled, chained.Steps[3].Unsettled})
	assert.Equal(t, []string{"", "not settled: call 3", "", ""},
		[]string{chained.Steps[0].Inherited, chained.Steps[1].Inherited, chained.Steps[2].Inherited, chained.Steps[3].Inherited})
	assert.GreaterOrEqual(t, chained.Steps[1].Settled, 300*time.Millisecond, "signin's settle is timed")
	for _, st := range chained.Steps {
		assert.Positive(t, st.Settled, "%s: a settle after the step", st.Name)
	}
}
