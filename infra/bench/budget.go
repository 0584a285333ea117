package bench

import (
	"fmt"
	"slices"
	"strings"

	"ticketing.dev/infra/load"
)

// Command is one MongoDB command a story needs, sent by Service to its own
// database.
type Command struct {
	Service    string
	Collection string
	// Command is named as the driver names it: find, insert, update,
	// delete.
	Command string
	Count   float64
	// Async marks a command the request does not wait for: an event
	// handler's, or the outbox relay's.
	Async  bool
	Reason string
}

// Story is the least a correct design needs for one thing a user does,
// whatever the implementation: the reads and writes that the contract
// (docs/DESIGN.md) makes necessary on a MongoDB without multi-document
// transactions, including those of the events it sets off.
type Story struct {
	Name    string
	Summary string
	// Commands are in the order the story runs them.
	Commands []Command
}

// relayRemoval is the outbox relay's share of one event. The relay removes
// published events in batches, one bulk write per 200 ms at most, so that
// one command removes many: the least is well under one write per event. The budget allows one,
// an upper bound any batching stays below.
const relayRemoval = "the outbox relay removes the published event (amortised: batched, budgeted at one write per event)"

// Budgets are the stories' budgets, one per thing the load tool does.
var Budgets = []Story{
	{Name: "signup", Summary: "sign up", Commands: []Command{
		{"auth", "users", "insert", 1, false, "the user; its unique email index refuses one in use, no check before"},
	}},
	{Name: "signin", Summary: "sign in", Commands: []Command{
		{"auth", "users", "find", 1, false, "the user by email"},
	}},
	{Name: "list", Summary: "list the available tickets", Commands: []Command{
		{"tickets", "tickets", "find", 1, false, "the tickets no order holds, in one query"},
	}},
	{Name: "listpage", Summary: "read a page of available tickets", Commands: []Command{
		{"tickets", "tickets", "find", 1, false, "a page, and one ticket more to tell whether another follows"},
	}},
	{Name: "show", Summary: "show a ticket", Commands: []Command{
		{"tickets", "tickets", "find", 1, false, "the ticket by id"},
	}},
	{Name: "show order", Summary: "show an order with its ticket", Commands: []Command{
		{"orders", "orders", "find", 1, false, "the order by id"},
		{"orders", "tickets", "find", 1, false, "its ticket's replica, kept in a collection of its own"},
	}},
	{Name: "create", Summary: "put a ticket on sale", Commands: []Command{
		{"tickets", "tickets", "insert", 1, false, "the ticket with its ticket:created pending in the same document (outbox)"},
		{"tickets", "tickets", "update", 1, true, relayRemoval},
		{"orders", "tickets", "insert", 1, true, "ticket:created: the orders service's replica of the ticket"},
	}},
	{Name: "order", Summary: "order a ticket (lock it)", Commands: []Command{
		{"orders", "tickets", "find", 1, false, "the ticket's replica: that it exists, and its price for the order"},
		{"orders", "claims", "insert", 1, false, "claim the ticket: an insert with the ticket's id as _id, the only race-free lock on FerretDB (no double sale)"},
		{"orders", "orders", "insert", 1, false, "the order with its order:created pending"},
		{"orders", "orders", "update", 1, true, relayRemoval},
		{"tickets", "tickets", "find", 1, true, "order:created: the ticket, for the version its update names"},
		{"tickets", "tickets", "update", 1, true, "order:created: lock the ticket, version + 1, ticket:updated pending"},
		{"tickets", "tickets", "update", 1, true, relayRemoval},
		{"orders", "tickets", "update", 1, true, "ticket:updated: the replica takes the new version"},
		{"payments", "orders", "insert", 1, true, "order:created: the payments service's replica of the order"},
	}},
	{Name: "pay", Summary: "pay for an order", Commands: []Command{
		{"payments", "orders", "find", 1, false, "the order's replica: owner, status, price, time left"},
		{"payments", "payments", "insert", 1, false, "claim the payment: its unique orderId allows one per order"},
		{"payments", "payments", "update", 1, false, "the charge succeeded: its id, payment:created pending"},
		{"payments", "payments", "update", 1, true, relayRemoval},
		{"orders", "orders", "find", 1, true, "payment:created: the order, for the version its update names"},
		{"orders", "orders", "update", 1, true, "payment:created: the order is complete, version + 1"},
		{"orders", "orders", "find", 1, true, "expiration:complete still comes for the paid order: read, found complete, left alone"},
	}},
	{Name: "expire", Summary: "an unpaid order expires (no request: counted per expired order)", Commands: []Command{
		{"orders", "orders", "find", 1, true, "expiration:complete: the order, to cancel it unless complete"},
		{"orders", "orders", "update", 1, true, "expiration:complete: cancelled, version + 1, order:cancelled pending"},
		{"orders", "claims", "delete", 1, true, "free the ticket's claim, so that it can be ordered again"},
		{"orders", "orders", "update", 1, true, relayRemoval},
		{"tickets", "tickets", "find", 1, true, "order:cancelled: the ticket, for the version its update names"},
		{"tickets", "tickets", "update", 1, true, "order:cancelled: release the ticket, version + 1, ticket:updated pending"},
		{"tickets", "tickets", "update", 1, true, relayRemoval},
		{"orders", "tickets", "update", 1, true, "ticket:updated: the replica takes the new version"},
		{"payments", "orders", "update", 1, true, "order:cancelled: the payments replica is cancelled, version + 1"},
	}},
	{Name: "order, ticket unknown yet", Summary: "an order refused with 404: ticket:created has not reached the orders service", Commands: []Command{
		{"orders", "tickets", "find", 1, false, "the ticket's replica, not found"},
	}},
	{Name: "pay, order unknown yet", Summary: "a payment refused with 404: order:created has not reached the payments service", Commands: []Command{
		{"payments", "orders", "find", 1, false, "the order's replica, not found"},
	}},
}

// BudgetOf returns the budget of the story name.
func BudgetOf(name string) (Story, bool) {
	i := slices.IndexFunc(Budgets, func(s Story) bool { return s.Name == name })
	if i < 0 {
		return Story{}, false
	}
	return Budgets[i], true
}

// CallStories are the stories behind the calls of the load tool, by
// load.Call key. A step's budget is the sum of its calls' stories, plus
// "expire" for each of its orders that expired unpaid.
var CallStories = map[string]string{
	load.Call("POST", "/api/users/signup", 201): "signup",
	load.Call("POST", "/api/users/signin", 200): "signin",
	load.Call("GET", "/api/tickets", 200):       "list",
	load.Call("GET", "/api/tickets?limit", 200): "listpage",
	load.Call("GET", "/api/tickets/:id", 200):   "show",
	load.Call("POST", "/api/tickets", 201):      "create",
	load.Call("POST", "/api/orders", 201):       "order",
	load.Call("POST", "/api/orders", 404):       "order, ticket unknown yet",
	load.Call("GET", "/api/orders/:id", 200):    "show order",
	load.Call("POST", "/api/payments", 201):     "pay",
	load.Call("POST", "/api/payments", 404):     "pay, order unknown yet",
}

// Tolerance is how far a step's commands per request may exceed its
// budget before the report calls it over budget.
const Tolerance = 0.10

// Continuation reports whether command only continues or closes a find's
// cursor: how many a listing takes depends on the driver's batch sizes,
// not on the design, so they are shown but not compared with the budget.
func Continuation(command string) bool { return command == "getMore" || command == "killCursors" }

// Line is one kind of command of a step, per successful request: what the
// budget allows and what was measured.
type Line struct {
	Service, Collection, Command string
	Budget                       float64
	Measured                     float64
	// Compared is false for the commands that are shown only: connection
	// overhead and cursor continuations.
	Compared bool
	Over     bool
	// Reasons say why the budget allows each command, by story.
	Reasons []string `json:",omitempty"`
}

// Comparison is a step's MongoDB commands per request next to its budget.
type Comparison struct {
	Step     string
	Requests int
	// Stories are how many times each story ran per request of the step.
	Stories map[string]float64
	// Unbudgeted are the calls of the step that no story covers, such as
	// failed requests: their commands are measured but not budgeted.
	Unbudgeted map[string]int `json:",omitempty"`
	Lines      []Line
	// Budget and Measured are the commands per request of the lines
	// compared; Ratio is Measured ÷ Budget, Over when it exceeds
	// 1 + Tolerance.
	Budget   float64
	Measured float64
	Ratio    float64
	Over     bool
	// NotMeasured says why the step's commands were not measured: the
	// comparison then holds the budget alone.
	NotMeasured string `json:",omitempty"`
	// Incomplete says why some of the step's events were still in flight
	// when its commands were read: they cost more than measured.
	Incomplete string `json:",omitempty"`
	// Inherited says why the commands measured include unfinished work
	// of what came before the step: it costs less than measured.
	Inherited string `json:",omitempty"`
}

// Compare sets a step's measured commands against the budget of the calls
// it made; ok is false when the step made no successful request.
func Compare(s load.StepResult) (c Comparison, ok bool) {
	if s.Requests == 0 {
		return Comparison{}, false
	}
	c = Comparison{Step: s.Name, Requests: s.Requests, Stories: map[string]float64{}, Incomplete: s.Unsettled, Inherited: s.Inherited}
	per := 1 / float64(s.Requests)
	for call, n := range s.Calls {
		story, ok := CallStories[call]
		if !ok {
			if c.Unbudgeted == nil {
				c.Unbudgeted = map[string]int{}
			}
			c.Unbudgeted[call] += n
			continue
		}
		c.Stories[story] += float64(n) * per
	}
	if s.Expired > 0 {
		c.Stories["expire"] += float64(s.Expired) * per
	}

	type key struct{ service, collection, command string }
	lines := map[key]*Line{}
	line := func(k key) *Line {
		l := lines[k]
		if l == nil {
			l = &Line{Service: k.service, Collection: k.collection, Command: k.command,
				Compared: !load.Overhead(k.command) && !Continuation(k.command)}
			lines[k] = l
		}
		return l
	}
	for _, name := range sortedStories(c.Stories) {
		st, _ := BudgetOf(name)
		for _, cmd := range st.Commands {
			l := line(key{cmd.Service, cmd.Collection, cmd.Command})
			l.Budget += cmd.Count * c.Stories[name]
			reason := name + ": " + cmd.Reason
			if !slices.Contains(l.Reasons, reason) {
				l.Reasons = append(l.Reasons, reason)
			}
		}
	}
	if s.CommandsMeasured {
		for _, m := range s.Commands {
			line(key{m.Service, m.Collection, m.Command}).Measured += m.Count * per
		}
	} else {
		c.NotMeasured = s.CommandsErr
		if c.NotMeasured == "" {
			c.NotMeasured = "no metrics read"
		}
	}
	for _, l := range lines {
		if l.Compared {
			c.Budget += l.Budget
			c.Measured += l.Measured
			l.Over = s.CommandsMeasured && lineOver(l.Measured, l.Budget)
		}
		c.Lines = append(c.Lines, *l)
	}
	// The lines compared first, then those shown only.
	slices.SortFunc(c.Lines, func(a, b Line) int {
		if a.Compared != b.Compared {
			if a.Compared {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Service+"\x00"+a.Collection+"\x00"+a.Command, b.Service+"\x00"+b.Collection+"\x00"+b.Command)
	})
	if s.CommandsMeasured {
		if c.Budget > 0 {
			c.Ratio = c.Measured / c.Budget
		}
		c.Over = over(c.Measured, c.Budget)
	}
	return c, true
}

// minExcess is the least excess, in commands per request, that makes a
// line over budget: less is background work, such as a relay's look for
// pending events every few seconds, spread over many requests.
const minExcess = 0.01

// over reports whether measured exceeds budget by more than Tolerance.
func over(measured, budget float64) bool {
	return measured > budget*(1+Tolerance)+1e-9
}

// lineOver reports whether one kind of command exceeds its budget by more
// than Tolerance and minExcess.
func lineOver(measured, budget float64) bool {
	return over(measured, budget) && measured-budget >= minExcess
}

// sortedStories returns the stories in the order of Budgets.
func sortedStories(stories map[string]float64) []string {
	var out []string
	for _, st := range Budgets {
		if _, ok := stories[st.Name]; ok {
			out = append(out, st.Name)
		}
	}
	return out
}

// Verdict says in a few words how a comparison came out.
func (c Comparison) Verdict() string {
	switch {
	case c.NotMeasured != "":
		return "n/a"
	case c.Budget == 0:
		return "no budget"
	case c.Over && c.Inherited != "":
		return fmt.Sprintf("over budget by %.0f %%, with the step before's unfinished work", (c.Ratio-1)*100)
	case c.Over:
		return fmt.Sprintf("**over budget by %.0f %%**", (c.Ratio-1)*100)
	case c.Incomplete != "":
		return "within budget so far (events still in flight)"
	default:
		return "within budget"
	}
}
