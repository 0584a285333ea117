// Command load drives a running ticketing stack through its gateway with
// concurrent users and prints each step's throughput, latency and errors,
// the event lags and, given the services' process ids, their memory and
// CPU time. Start a stack first (make run), for example:
//
//	go run ./infra/cmd/load -url http://127.0.0.1:8080 -users 16 -duration 5s
//
// Orders must expire quickly for the expire step: run the stack with
// EXPIRATION_WINDOW=2s.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"ticketing.dev/infra/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "the gateway's base URL")
	users := fs.Int("users", 16, "concurrent users per step")
	duration := fs.Duration("duration", 5*time.Second, "how long each step runs")
	steps := fs.String("steps", strings.Join(load.Steps, ","), "comma-separated steps to run")
	tickets := fs.Int("tickets", 100, "available tickets the listing holds (created when missing)")
	pool := fs.Int("pool", 1000, "tickets created in advance for the order and pay steps")
	pids := fs.String("pids", "", "services' process ids, as name=pid,name=pid, for memory and CPU time")
	if err := fs.Parse(args); err != nil {
		return err
	}
	procs := map[string]int{}
	for kv := range strings.SplitSeq(*pids, ",") {
		if kv == "" {
			continue
		}
		name, pid, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil {
			return fmt.Errorf("bad -pids entry %q: want name=pid", kv)
		}
		procs[name] = n
	}
	rep, err := load.Run(ctx, load.Config{
		URL: *url, Users: *users, Duration: *duration, Steps: strings.Split(*steps, ","),
		Tickets: *tickets, Pool: *pool, Procs: procs,
		Progress: func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) },
	})
	if err != nil {
		return err
	}
	rep.WriteText(stdout)
	return nil
}
