package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/infra/bench"
	"ticketing.dev/infra/load"
)

// collapse is a step that runs fast for a second and then stalls.
func collapse() []load.Second {
	s := []load.Second{{At: 0, Requests: 600, P50: 20 * time.Millisecond, P99: 50 * time.Millisecond}}
	for i := 1; i < 20; i++ {
		s = append(s, load.Second{At: time.Duration(i) * time.Second, Requests: 10 + 7*(i%3), P50: time.Second, P99: 3 * time.Second})
	}
	return append(s, load.Second{At: 20 * time.Second, Requests: 2, Partial: true})
}

// testRun is a run of 16 users for 20 seconds a step over cells.
func testRun(cells ...Cell) Run {
	return Run{Started: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), Host: "test", Users: 16, Duration: 20 * time.Second,
		Cells: cells}
}

// writtenReport writes r's report into a folder of its own and returns the
// folder and what report.md says.
func writtenReport(t *testing.T, r Run) (dir, md string) {
	t.Helper()
	dir = t.TempDir()
	require.NoError(t, writeReport(dir, r))
	raw, err := os.ReadFile(filepath.Join(dir, "report.md"))
	require.NoError(t, err)
	return dir, string(raw)
}

func TestWriteReport_StepsSecondBySecondAndTheirBudget(t *testing.T) {
	series := collapse()
	create := load.StepResult{
		Name: "create", Requests: 890, Elapsed: 20300 * time.Millisecond, Stop: 20 * time.Second, RPS: 43.8,
		P50: time.Second, P90: 2 * time.Second, P99: 3 * time.Second, Rows: 10000,
		Series: series, Worst: load.WorstSecond(series),
		Calls:            map[string]int{load.Call("POST", "/api/tickets", 201): 890},
		CommandsMeasured: true,
		Settled:          2340 * time.Millisecond,
		Commands: []load.CommandCount{
			{Service: "tickets", Collection: "tickets", Command: "insert", Count: 890},
			{Service: "tickets", Collection: "tickets", Command: "update", Count: 890},
			{Service: "tickets", Collection: "tickets", Command: "find", Count: 890},
			{Service: "orders", Collection: "tickets", Command: "insert", Count: 890},
			{Service: "orders", Collection: "", Command: "ping", Count: 30},
		},
	}
	show := load.StepResult{
		Name: "show", Requests: 4000, Elapsed: 20 * time.Second, Stop: 20 * time.Second, RPS: 200,
		P50: time.Millisecond, P90: time.Millisecond, P99: 2 * time.Millisecond,
		Series:      []load.Second{{At: 0, Requests: 200, P99: 2 * time.Millisecond}},
		Worst:       &load.Window{At: 0, Requests: 200, P99: 2 * time.Millisecond, Mean: 200, Ratio: 1},
		Calls:       map[string]int{load.Call("GET", "/api/tickets/:id", 200): 4000},
		CommandsErr: "tickets: GET http://127.0.0.1:1/metrics: 404 Not Found",
		Settled:     5 * time.Minute, Unsettled: "not settled: audit: the system did not become quiet: nothing changed for 30s",
	}
	floorSeries := []load.Second{{At: 0, Requests: 900, P99: 30 * time.Millisecond}, {At: time.Second, Requests: 850, P99: 40 * time.Millisecond}}
	c := Cell{
		Backend: "sqlite", Tickets: 100,
		Load: &load.Report{Users: 16, Duration: 20 * time.Second, Tickets: 100, Steps: []load.StepResult{show, create}},
		Floor: []bench.FloorResult{
			{Name: "create", Requests: 1750, RPS: 875, P50: 5 * time.Millisecond, P99: 30 * time.Millisecond, Commands: 3,
				Series: floorSeries, Worst: load.WorstSecond(floorSeries)},
		},
		Budgets: map[string]bench.Comparison{},
	}
	for _, s := range c.Load.Steps {
		cmp, ok := bench.Compare(s)
		require.True(t, ok)
		c.Budgets[s.Name] = cmp
	}
	r := testRun(c)
	r.MinRows, r.MaxDuration = 10000, 3*time.Minute

	dir, md := writtenReport(t, r)
	for _, want := range []string{
		"until their collection holds 10000 rows, for 3m0s at most",
		"### sqlite: create",
		"worst second at 3s: 10 requests, p99 3000.00 ms, 0.22 × the mean of 46.1 req/s over the full seconds; its events were all handled 2.3s after its last request.",
		"its events were still in flight 5m0s after its last request.",
		"![create second by second](sqlite-100-step-create.png)",
		"Floor: 1750 iterations, 875.0/s, each the budget of create (3 commands)",
		"| tickets | tickets | find | **1.00** | 0.00 | **not in the budget** |",
		"| orders | tickets | insert | 1.00 | 1.00 | create: ticket:created",
		"| orders |  | ping | 0.03 | – | connection overhead",
		"MongoDB commands per request: 4.00 against a budget of 3.00: **over budget by 33 %**.",
		"| create | 20s | 10000 | 3s | 10 | 3000.00 ms | 0.22 | 0.97 | 4.00 | 3.00 | 3 | **over budget by 33 %** |",
		"MongoDB commands per request: n/a (`tickets: GET http://127.0.0.1:1/metrics: 404 Not Found`); the budget is 1.00.",
		"**expire** — an unpaid order expires",
		"| show | 20s |  | 0s | 200 | 2.00 ms | 1.00 |  | n/a | 1.00 |  | n/a |",
	} {
		assert.Contains(t, md, want)
	}
	assert.NotContains(t, md, "Event lags by bus", "one bus: nothing to set side by side")
	for _, png := range []string{"sqlite-100-step-create.png", "sqlite-100-step-show.png", "sqlite-100-rps.png"} {
		info, err := os.Stat(filepath.Join(dir, png))
		if assert.NoError(t, err, png) {
			assert.Positive(t, info.Size(), png)
		}
	}
}

func TestSeriesChart_NothingWithoutAFullSecond(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.png")
	drawn, err := seriesChart(file, "x", []load.Second{{Requests: 3, Partial: true}}, nil)
	require.NoError(t, err)
	assert.False(t, drawn)
	assert.NoFileExists(t, file)
}

func TestCounted(t *testing.T) {
	assert.Equal(t, []string{"a (3 times)", "b"}, counted([]string{"a", "b", "a", "a"}))
	assert.Empty(t, counted(nil))
}

func TestWriteReport_LagsOfEachBusSideBySide(t *testing.T) {
	lags := func(p50, p99 time.Duration) *load.Report {
		return &load.Report{Users: 16, Duration: 20 * time.Second, Tickets: 100, Lags: []load.LagResult{
			{Name: load.LagOrderable, Samples: 100, P50: p50, P90: p99, P99: p99, Max: p99},
		}}
	}
	r := testRun(
		Cell{Backend: "sqlite", Bus: "stan", Tickets: 100, Load: lags(10*time.Millisecond, 25*time.Millisecond)},
		Cell{Backend: "sqlite", Bus: "jetstream", Tickets: 100, Load: lags(8*time.Millisecond, 20*time.Millisecond)},
	)

	_, md := writtenReport(t, r)
	assert.Contains(t, md, "## Event lags by bus")
	assert.Contains(t, md, "| event lag | sqlite, stan | sqlite, jetstream |")
	assert.Contains(t, md, "| ticket created → orderable | 10.00 ms / 25.00 ms | 8.00 ms / 20.00 ms |")
	assert.Contains(t, md, "## sqlite on jetstream, 100 tickets listed")
}
