// Package chaos_test puts the local stack under steady load from buyers and
// sellers while its parts die: each service in turn is killed with SIGKILL
// and restarted, NATS Streaming is stopped and started again on its file
// store, and Redis is restarted empty; a poison event is published by hand
// and a handler panics. It then checks that nothing the API accepted was
// lost, that only the part that was down failed requests, that the
// consistency auditor finds every invariant intact, and that every charge
// Stripe made is a complete order's or was refunded exactly once.
package chaos_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"ticketing.dev/common/testkit"
	"ticketing.dev/infra/audit"
	"ticketing.dev/infra/stack"
)

// window is the stack's EXPIRATION_WINDOW: short, so that many orders expire
// during the run, some of them while a part is down. It also shortens
// payments' charge timing (stack.Config.ExpirationWindow).
const window = 3 * time.Second

// grace is orders' EXPIRY_GRACE: an order whose expiry Redis lost is
// cancelled by the sweeper 1 to 1.5 s after it expired.
const grace = time.Second

// auditConfig tells the auditor the grace the stack runs with, so that its
// expiry rule allows what the sweeper takes.
var auditConfig = audit.Config{ExpiryGrace: grace}

var (
	stk  *stack.Stack
	logs testkit.Buffer
)

func TestMain(m *testing.M) {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	var err error
	stk, err = stack.Start(ctx, stack.Config{
		Root:             root,
		GatewayAddr:      "127.0.0.1:0",
		ExpirationWindow: window.String(),
		ExpiryGrace:      grace.String(),
		RateLimit:        "0",
		// make test runs the chaos run on each transport (BUS).
		Bus: os.Getenv("BUS"),
		// The kill-under-load runs list thousands of tickets per seller.
		MaxUnsoldTickets: "0",
		// A marked event's first delivery panics (bus.ChaosPanicMarker).
		BuildTags: []string{"chaos"},
		LogLevel:  "warn",
		Out:       &logs,
		// As Kubernetes would, the stack restarts a service that exits on
		// its own; the test restarts those it kills itself.
		Restart: true,
	})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos: stack did not start: %v\n%s", err, logs.String())
		os.Exit(1)
	}
	code := m.Run()

	var pids []int
	for _, name := range stack.Services {
		if pid, ok := stk.Pid(name); ok {
			pids = append(pids, pid)
		}
	}
	stk.Stop()
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			fmt.Fprintf(os.Stderr, "chaos: service process %d outlived the stack\n", pid)
			code = 1
		}
	}
	if path := os.Getenv("CHAOS_LOG"); path != "" {
		if err := os.WriteFile(path, []byte(logs.String()), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "chaos: keep the stack's log: %v\n", err)
		}
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "chaos: the stack's last log lines (CHAOS_LOG=file keeps them all):\n%s\n", tail(logs.String(), 200))
	}
	os.Exit(code)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
