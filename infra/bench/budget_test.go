package bench_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/infra/bench"
	"ticketing.dev/infra/load"
)

func TestBudgets_EveryStoryNamedHasOne(t *testing.T) {
	names := map[string]bool{}
	for _, st := range bench.Budgets {
		assert.False(t, names[st.Name], "story %q twice", st.Name)
		names[st.Name] = true
		assert.NotEmpty(t, st.Summary, st.Name)
		for _, c := range st.Commands {
			assert.NotEmpty(t, c.Reason, "%s: %s %s.%s", st.Name, c.Command, c.Service, c.Collection)
			assert.Equal(t, math.Round(c.Count), c.Count, "%s: the floor runs whole commands", st.Name)
			assert.Contains(t, []string{"find", "insert", "update", "delete"}, c.Command, st.Name)
		}
	}
	for call, story := range bench.CallStories {
		assert.True(t, names[story], "%s: story %q", call, story)
	}
	for step, plan := range bench.FloorPlans {
		assert.Contains(t, load.Steps, step)
		for _, story := range plan.Stories {
			assert.True(t, names[story], "floor of %s: story %q", step, story)
		}
	}
	assert.True(t, names["expire"], "Compare charges expired orders to the expire story")
}

func TestBudgets_WhatTheIssueCounts(t *testing.T) {
	total := func(name string) (n float64) {
		st, ok := bench.BudgetOf(name)
		require.True(t, ok, name)
		for _, c := range st.Commands {
			n += c.Count
		}
		return n
	}
	// create: the ticket, its replica in orders, and the relay's removal.
	assert.Equal(t, 3.0, total("create"))
	assert.Equal(t, 9.0, total("order"))
	assert.Equal(t, 7.0, total("pay"))
	assert.Equal(t, 9.0, total("expire"))
}

// step returns a step result of n requests that made calls and sent
// commands.
func step(name string, n int, calls map[string]int, commands ...load.CommandCount) load.StepResult {
	return load.StepResult{Name: name, Requests: n, Calls: calls, CommandsMeasured: true, Commands: commands}
}

func cmd(service, collection, command string, n float64) load.CommandCount {
	return load.CommandCount{Service: service, Collection: collection, Command: command, Count: n}
}

func TestCompare(t *testing.T) {
	created := map[string]int{load.Call("POST", "/api/tickets", 201): 100}
	tests := []struct {
		name          string
		step          load.StepResult
		budget, meas  float64
		over          bool
		verdict       string
		stories       map[string]float64
		overLines     []string
		unbudgeted    map[string]int
		notMeasured   bool
		linesShownNot []string
	}{
		{
			name: "create within budget, the relay batching its removals",
			step: step("create", 100, created,
				cmd("tickets", "tickets", "insert", 100), cmd("tickets", "tickets", "update", 5),
				cmd("orders", "tickets", "insert", 100), cmd("tickets", "", "ping", 40), cmd("tickets", "tickets", "find", 4)),
			budget: 3, meas: 2.09, verdict: "within budget",
			stories:       map[string]float64{"create": 1},
			overLines:     []string{"tickets.tickets find"},
			linesShownNot: []string{"tickets. ping"},
		},
		{
			name: "create at 10 % over budget is within",
			step: step("create", 100, created,
				cmd("tickets", "tickets", "insert", 100), cmd("tickets", "tickets", "update", 130), cmd("orders", "tickets", "insert", 100)),
			budget: 3, meas: 3.3, verdict: "within budget",
			stories:   map[string]float64{"create": 1},
			overLines: []string{"tickets.tickets update"},
		},
		{
			name: "create over budget: a read before every insert",
			step: step("create", 100, created,
				cmd("tickets", "tickets", "find", 100), cmd("tickets", "tickets", "insert", 100),
				cmd("tickets", "tickets", "update", 100), cmd("orders", "tickets", "insert", 100)),
			budget: 3, meas: 4, over: true, verdict: "**over budget by 33 %**",
			stories:   map[string]float64{"create": 1},
			overLines: []string{"tickets.tickets find"},
		},
		{
			name: "orders that expired and polls before the replica count in the budget",
			step: func() load.StepResult {
				s := step("order", 10, map[string]int{
					load.Call("POST", "/api/orders", 201): 10,
					load.Call("POST", "/api/orders", 404): 5,
					load.Call("POST", "/api/orders", 400): 1,
				}, cmd("orders", "tickets", "find", 15), cmd("orders", "orders", "getMore", 3))
				s.Expired = 8
				return s
			}(),
			budget: 9 + 0.5 + 0.8*9, meas: 1.5, verdict: "within budget",
			stories:       map[string]float64{"order": 1, "order, ticket unknown yet": 0.5, "expire": 0.8},
			unbudgeted:    map[string]int{load.Call("POST", "/api/orders", 400): 1},
			linesShownNot: []string{"orders.orders getMore"},
		},
		{
			name: "background reads spread thin are not over, and events in flight leave it incomplete",
			step: func() load.StepResult {
				s := step("create", 1000, map[string]int{load.Call("POST", "/api/tickets", 201): 1000},
					cmd("tickets", "tickets", "insert", 1000), cmd("orders", "tickets", "insert", 900), cmd("tickets", "tickets", "find", 5))
				s.Unsettled = "not settled: audit: the system did not become quiet within 1m30s"
				return s
			}(),
			budget: 3, meas: 1.905, verdict: "within budget so far (events still in flight)",
			stories: map[string]float64{"create": 1},
		},
		{
			name: "over budget after an unsettled step says so",
			step: func() load.StepResult {
				s := step("pay", 100, map[string]int{load.Call("POST", "/api/payments", 201): 100},
					cmd("payments", "payments", "insert", 100), cmd("orders", "orders", "update", 3000))
				s.Inherited = "not settled: audit: the system did not become quiet within 1m30s"
				return s
			}(),
			budget: 7, meas: 31, over: true, verdict: "over budget by 343 %, with the step before's unfinished work",
			stories:   map[string]float64{"pay": 1},
			overLines: []string{"orders.orders update"},
		},
		{
			name:   "commands not measured",
			step:   load.StepResult{Name: "create", Requests: 100, Calls: created, CommandsErr: "tickets: GET /metrics: 404 Not Found"},
			budget: 3, meas: 0, verdict: "n/a",
			stories:     map[string]float64{"create": 1},
			notMeasured: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := bench.Compare(tt.step)
			require.True(t, ok)
			assert.InDelta(t, tt.budget, c.Budget, 1e-9)
			assert.InDelta(t, tt.meas, c.Measured, 1e-9)
			assert.Equal(t, tt.over, c.Over)
			assert.Equal(t, tt.verdict, c.Verdict())
			assert.InDeltaMapValues(t, tt.stories, c.Stories, 1e-9)
			assert.Equal(t, tt.unbudgeted, c.Unbudgeted)
			assert.Equal(t, tt.notMeasured, c.NotMeasured != "")
			var over, notCompared []string
			for _, l := range c.Lines {
				key := l.Service + "." + l.Collection + " " + l.Command
				if l.Over {
					over = append(over, key)
				}
				if !l.Compared {
					notCompared = append(notCompared, key)
				}
			}
			assert.Equal(t, tt.overLines, over)
			assert.Equal(t, tt.linesShownNot, notCompared)
		})
	}
}

func TestCompare_NoRequestNoComparison(t *testing.T) {
	_, ok := bench.Compare(load.StepResult{Name: "create"})
	assert.False(t, ok)
}

func TestCompare_ReasonsByStory(t *testing.T) {
	c, ok := bench.Compare(step("pay", 1, map[string]int{
		load.Call("POST", "/api/orders", 201):   1,
		load.Call("POST", "/api/payments", 201): 1,
	}))
	require.True(t, ok)
	assert.InDelta(t, 16, c.Budget, 1e-9)
	for _, l := range c.Lines {
		if l.Service == "orders" && l.Collection == "orders" && l.Command == "find" {
			assert.InDelta(t, 2, l.Budget, 1e-9)
			assert.Len(t, l.Reasons, 2, "two reasons of the pay story")
			return
		}
	}
	t.Fatal("no line for orders.orders find")
}
