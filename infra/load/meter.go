package load

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Call is the key under which a step counts its calls of the API (see
// StepResult.Calls): the method, the route with every id written :id and
// only the names of the query's parameters, and the status, or "error"
// when no answer came. For example "GET /api/tickets/:id 200".
func Call(method, route string, status int) string {
	code := "error"
	if status > 0 {
		code = fmt.Sprint(status)
	}
	return method + " " + route + " " + code
}

// routeOf turns a path as requested into its route: ids become :id, and
// the query keeps its parameters' names only.
func routeOf(path string) string {
	p, query, _ := strings.Cut(path, "?")
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if isObjectID(s) {
			segs[i] = ":id"
		}
	}
	route := strings.Join(segs, "/")
	if query == "" {
		return route
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		return route + "?"
	}
	names := sortedKeys(values)
	return route + "?" + strings.Join(names, "&")
}

func isObjectID(s string) bool {
	if len(s) != 24 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// meter records what the users of a step asked of the API: every call by
// route and status, and the orders placed and paid, whose expiry follows
// within the step's accounting when the lock window is short. Every user
// of a run shares one; a nil meter records nothing.
type meter struct {
	mu     sync.Mutex
	calls  map[string]int
	orders map[string]*placed
}

// placed is an order a step placed.
type placed struct {
	ticketID  string
	expiresAt time.Time
	paid      bool
}

func newMeter() *meter {
	return &meter{calls: map[string]int{}, orders: map[string]*placed{}}
}

func (m *meter) call(method, path string, status int) {
	if m == nil {
		return
	}
	k := Call(method, routeOf(path), status)
	m.mu.Lock()
	m.calls[k]++
	m.mu.Unlock()
}

func (m *meter) placed(o order, ticketID string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.orders[o.ID] = &placed{ticketID: ticketID, expiresAt: o.ExpiresAt}
	m.mu.Unlock()
}

func (m *meter) paid(orderID string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	if p := m.orders[orderID]; p != nil {
		p.paid = true
	}
	m.mu.Unlock()
}

// takeCalls returns the calls recorded since the last take and starts
// afresh.
func (m *meter) takeCalls() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	calls := m.calls
	m.calls = map[string]int{}
	return calls
}

// takeOrders returns the orders recorded since the last take and starts
// afresh.
func (m *meter) takeOrders() map[string]*placed {
	m.mu.Lock()
	defer m.mu.Unlock()
	orders := m.orders
	m.orders = map[string]*placed{}
	return orders
}

// lastExpiry is when the last of orders expires; zero without orders.
func lastExpiry(orders map[string]*placed) time.Time {
	var last time.Time
	for _, p := range orders {
		if p.expiresAt.After(last) {
			last = p.expiresAt
		}
	}
	return last
}

// unpaid returns the tickets of the orders left unpaid, earliest expiry
// first: they can be ordered again once their expiry has been handled.
func unpaid(orders map[string]*placed) []expiring {
	var out []expiring
	for _, p := range orders {
		if !p.paid {
			out = append(out, expiring{id: p.ticketID, at: p.expiresAt})
		}
	}
	slices.SortFunc(out, func(a, b expiring) int { return a.at.Compare(b.at) })
	return out
}

// expiring is a ticket whose order expires, or expired, at at.
type expiring struct {
	id string
	at time.Time
}
