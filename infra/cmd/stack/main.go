// Command stack runs the whole ticketing system locally — `make run`.
//
// Environment: GATEWAY_ADDR (default 127.0.0.1:8080), DATA_DIR (keep data
// across runs), BUS (stan, NATS Streaming, the default; or jetstream),
// FERRETDB_BACKEND (sqlite, the default, or postgresql),
// EXPIRATION_WINDOW and EXPIRY_GRACE (passed to orders; a short window also
// shortens payments' charge timeout), MAX_UNSOLD_TICKETS (passed to
// tickets), RATE_LIMIT (passed to auth),
// LOG_LEVEL (passed to every service), PPROF (true: every service serves
// its metrics (DEBUG_ADDR) and its profiles (PPROF_ADDR) on loopback ports
// of their own, printed at start; the stack itself, where FerretDB, the bus
// server and the gateway run, serves its profiles too).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"ticketing.dev/common/config"
	"ticketing.dev/common/lifecycle"
	"ticketing.dev/common/web"
	"ticketing.dev/infra/stack"
)

func main() { lifecycle.Main("ticketing", run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	env := config.NewEnv(getenv)
	cfg := stack.Config{
		GatewayAddr: env.String("GATEWAY_ADDR", "127.0.0.1:8080"),
		DataDir:     env.String("DATA_DIR", ""),
		RateLimit:   env.String("RATE_LIMIT", ""),
		LogLevel:    env.String("LOG_LEVEL", "info"),
		Debug:       env.Bool("PPROF", false),
		Out:         stdout,
		// As Kubernetes would: a service that exits, for instance after
		// losing the bus for good, is started again.
		Restart: true,
	}
	if getenv("EXPIRATION_WINDOW") != "" {
		cfg.ExpirationWindow = env.Duration("EXPIRATION_WINDOW", 0).String()
	}
	cfg.MaxUnsoldTickets = env.String("MAX_UNSOLD_TICKETS", "")
	if getenv("EXPIRY_GRACE") != "" {
		cfg.ExpiryGrace = env.Duration("EXPIRY_GRACE", 0).String()
	}
	cfg.Backend = env.String("FERRETDB_BACKEND", "sqlite")
	cfg.Bus = env.String("BUS", "stan")
	if err := env.Err(); err != nil {
		return err
	}
	root, err := findRoot()
	if err != nil {
		return err
	}
	cfg.Root = root

	s, err := stack.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Stop()
	if cfg.Debug {
		// FerretDB, the bus server and the gateway run in this process:
		// their profiles are the stack's own (the address is logged).
		log := slog.New(slog.NewTextHandler(stdout, nil)).With("process", "stack")
		stopPprof, err := web.Pprof("127.0.0.1:0", log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	ready, debug, profiles := s.ReadyTimes(), s.DebugAddrs(), s.PprofAddrs()
	var times []string
	for _, name := range stack.Services {
		times = append(times, fmt.Sprintf("%s %.1f ms", name, float64(ready[name])/float64(time.Millisecond)))
		if addr := debug[name]; addr != "" {
			fmt.Fprintf(stdout, "%s metrics: curl http://%s/metrics\n", name, addr)
		}
		if addr := profiles[name]; addr != "" {
			fmt.Fprintf(stdout, "%s profiles: go tool pprof http://%s/debug/pprof/profile?seconds=10\n", name, addr)
		}
	}
	fmt.Fprintf(stdout, "services ready after their start: %s\n", strings.Join(times, ", "))
	fmt.Fprintf(stdout, "ticketing is ready at %s (Ctrl-C stops it)\n", s.URL)

	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "stopping")
		return nil
	case name := <-s.Exited():
		return fmt.Errorf("%s stopped unexpectedly; its last lines:\n%s", name, s.LastLines(name))
	}
}

// findRoot returns the folder holding go.work, searching up from here.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the ticketing repository (no go.work found)")
		}
		dir = parent
	}
}
