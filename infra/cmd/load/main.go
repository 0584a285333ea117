// Command load drives a running ticketing stack through its gateway with
// concurrent users and prints each step's throughput, latency and errors,
// its worst second, the event lags and, given the services' process ids,
// their memory and CPU time, and given their debug addresses, the MongoDB
// commands per request read from their /metrics. Start a stack first
// (make run), for example:
//
//	go run ./infra/cmd/load -url http://127.0.0.1:8080 -users 16 -duration 20s
//
// Orders must expire quickly for the expire step: run the stack with
// EXPIRATION_WINDOW=2s.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"iter"
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
	duration := fs.Duration("duration", 20*time.Second, "how long each step runs at least")
	minRows := fs.Int("min-rows", 0, "run each step that adds rows (create, order, pay, purchase) until its collection holds this many, counting the rows this run added (0: off)")
	maxDuration := fs.Duration("max-duration", 3*time.Minute, "how long a step runs at most, however far from -min-rows")
	steps := fs.String("steps", strings.Join(load.Steps, ","), "comma-separated steps to run")
	tickets := fs.Int("tickets", 100, "available tickets the listing holds (created when missing)")
	warmup := fs.Duration("warmup", 5*time.Second, "how long users run the purchase story, unmeasured, before the first step (0: none)")
	pool := fs.Int("pool", 1000, "tickets created in advance for the order and pay steps")
	pids := fs.String("pids", "", "services' process ids, as name=pid,name=pid, for memory and CPU time")
	metrics := fs.String("metrics", "", "services' debug addresses (DEBUG_ADDR), as name=host:port,..., for the MongoDB commands per request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	procs := map[string]int{}
	for name, pid := range pairs(*pids) {
		n, err := strconv.Atoi(pid)
		if name == "" || err != nil {
			return fmt.Errorf("bad -pids entry %q: want name=pid", entry(name, pid))
		}
		procs[name] = n
	}
	addrs := map[string]string{}
	for name, addr := range pairs(*metrics) {
		if name == "" || addr == "" {
			return fmt.Errorf("bad -metrics entry %q: want name=host:port", entry(name, addr))
		}
		addrs[name] = addr
	}
	rep, err := load.Run(ctx, load.Config{
		URL: *url, Users: *users, Duration: *duration, MinRows: *minRows, MaxDuration: *maxDuration,
		Steps: strings.Split(*steps, ","), Tickets: *tickets, Pool: *pool, Warmup: *warmup, Procs: procs, Metrics: addrs,
		Progress: func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) },
	})
	if err != nil {
		return err
	}
	rep.WriteText(stdout)
	return nil
}

// pairs yields the name=value entries of a comma-separated list; an entry
// without "=" yields an empty name.
func pairs(list string) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for kv := range strings.SplitSeq(list, ",") {
			if kv == "" {
				continue
			}
			name, value, ok := strings.Cut(kv, "=")
			if !ok {
				name, value = "", kv
			}
			if !yield(name, value) {
				return
			}
		}
	}
}

func entry(name, value string) string {
	if name == "" {
		return value
	}
	return name + "=" + value
}
