// Command bench measures the system on this machine: for each FerretDB
// backend it starts a fresh local stack, measures the database floor of
// every step and runs the load tool, once with 100 tickets listed and
// once, on another fresh stack, with 10,000, and writes a Markdown report
// with PNG charts into a folder of its own under results/. `make bench`
// runs it. With -transports stan,jetstream (the default) each backend also
// gets a cell on NATS JetStream measuring the steps whose figures are the
// events' (purchase, lags, expire), reported beside NATS Streaming's.
//
// Every step runs long enough to reach a steady state: -duration at least,
// and the steps that add rows on until their collection holds -min-rows
// rows (at most -max-duration). The report shows each step second by
// second, its worst second, and its MongoDB commands per request, read
// from the services' /metrics, next to the budget of the least a correct
// design needs (bench.Budgets); each floor runs that budget.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/infra/audit"
	"ticketing.dev/infra/bench"
	"ticketing.dev/infra/load"
	"ticketing.dev/infra/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Cell is one measurement on one fresh stack.
type Cell struct {
	Backend string
	// Bus is the stack's transport, as BUS names it.
	Bus     string
	Tickets int
	// Err says why the cell could not be measured.
	Err string `json:",omitempty"`
	// Notes are what the reader of the figures should know.
	Notes []string            `json:",omitempty"`
	Load  *load.Report        `json:",omitempty"`
	Floor []bench.FloorResult `json:",omitempty"`
	// Budgets are the steps' MongoDB commands per request next to their
	// budgets, by step.
	Budgets map[string]bench.Comparison `json:",omitempty"`
	// Ready is each service's time from its start (the exec) to its first
	// answer 200 from /readyz, in nanoseconds in results.json; the
	// databases were up before.
	Ready map[string]time.Duration `json:",omitempty"`
	// Profiles is the folder, relative to the report, holding the CPU
	// profiles taken during the load and the heap profiles after it (-pprof).
	Profiles string `json:",omitempty"`
}

// Run is a whole bench run.
type Run struct {
	Started     time.Time
	Host        string
	Load1       string // the load average when the run started
	LoadEnd     string
	Users       int
	Duration    time.Duration
	MinRows     int
	MaxDuration time.Duration
	Cells       []Cell
}

// settings are what every cell of a run shares.
type settings struct {
	users    int
	duration time.Duration
	maxDur   time.Duration
	minRows  int
	pool     int
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	root := fs.String("root", ".", "the repository's root folder")
	outDir := fs.String("out", "results", "where the run's folder is created")
	users := fs.Int("users", 16, "concurrent users and floor clients")
	duration := fs.Duration("duration", 20*time.Second, "how long each step and each floor runs at least")
	minRows := fs.Int("min-rows", 10000, "run each step that adds rows (create, order, pay, purchase), and its floor, until its collection holds this many (0: off)")
	maxDuration := fs.Duration("max-duration", 3*time.Minute, "how long a step or floor runs at most, however far from -min-rows")
	backends := fs.String("backends", "sqlite,postgresql", "FerretDB backends to measure")
	transports := fs.String("transports", "stan,jetstream", "event buses to measure: stan measures every step, each other only the event steps ("+strings.Join(eventSteps, ",")+")")
	big := fs.Int("big", 10000, "tickets listed in the second cell of each backend (0: skip it)")
	pool := fs.Int("pool", 400, "tickets set aside for the order and pay steps at least (more when -min-rows needs more)")
	pprof := fs.Bool("pprof", false, "save CPU profiles of every service taken during the load, and heap profiles after it, into the run's folder")
	pprofChunk := fs.Duration("pprof-chunk", 10*time.Second, "length of each CPU profile taken with -pprof; go tool pprof merges a service's chunks")
	if err := fs.Parse(args); err != nil {
		return err
	}
	absRoot, err := filepath.Abs(*root)
	if err != nil {
		return err
	}
	started := time.Now()
	dir := filepath.Join(*outDir, started.Format("20060102-150405"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	host, _ := os.Hostname()
	r := Run{Started: started, Host: host, Load1: loadAvg(), Users: *users, Duration: *duration, MinRows: *minRows, MaxDuration: *maxDuration}
	set := settings{users: *users, duration: *duration, maxDur: max(*maxDuration, *duration), minRows: *minRows, pool: *pool}
	logf := func(format string, a ...any) { fmt.Fprintf(stdout, "bench | "+format+"\n", a...) }
	for _, backend := range strings.Split(*backends, ",") {
		sizes := []int{100}
		if *big > 0 {
			sizes = append(sizes, *big)
		}
		type plan struct {
			bus string
			n   int
		}
		var plans []plan
		for _, tr := range strings.Split(*transports, ",") {
			if tr != "stan" {
				plans = append(plans, plan{tr, 100})
				continue
			}
			for _, n := range sizes {
				plans = append(plans, plan{tr, n})
			}
		}
		for _, pl := range plans {
			name := cellName(backend, pl.bus, pl.n)
			logf("%s: starting a fresh stack", name)
			var prof *profiler
			if *pprof {
				prof = &profiler{dir: filepath.Join(dir, "pprof-"+name), chunk: *pprofChunk, logf: logf}
			}
			c := cell(ctx, absRoot, dir, backend, pl.bus, pl.n, set, prof, logf)
			if c.Err != "" {
				logf("%s: %s", name, c.Err)
			} else {
				c.Load.WriteText(stdout)
			}
			r.Cells = append(r.Cells, c)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	r.LoadEnd = loadAvg()
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), raw, 0o644); err != nil {
		return err
	}
	if err := writeReport(dir, r); err != nil {
		return err
	}
	logf("report: %s", filepath.Join(dir, "report.md"))
	return nil
}

// settleMost bounds each wait for the events of a step to be handled, and
// settleStall ends it sooner when nothing changes: on FerretDB over
// PostgreSQL the 8,000 orders of a 60 s order step, each expiring after
// 2 s, took two minutes to be cancelled and their tickets released.
const (
	settleMost  = 5 * time.Minute
	settleStall = 30 * time.Second
)

// eventSteps are the steps a cell on a bus other than NATS Streaming
// measures: those whose figures are the events' lags.
var eventSteps = []string{"purchase", "lags", "expire"}

// eventWarmup is how long the event steps' cells run the purchase story
// unmeasured first.
const eventWarmup = 5 * time.Second

// cellName names a cell in file names and the log: backend-100, or
// backend-jetstream-100 on another bus than NATS Streaming.
func cellName(backend, bus string, n int) string {
	if bus == "" || bus == "stan" {
		return fmt.Sprintf("%s-%d", backend, n)
	}
	return fmt.Sprintf("%s-%s-%d", backend, bus, n)
}

// cell starts a fresh stack on backend and bus, seeds n tickets, measures
// the floor and runs the load, and stops the stack; the stack's log goes
// into dir. Every service serves its debug listener, where the load reads
// its metrics; with prof, it profiles every service during the load too.
func cell(ctx context.Context, root, dir, backend, bus string, n int, set settings, prof *profiler, logf func(string, ...any)) Cell {
	c := Cell{Backend: backend, Bus: bus, Tickets: n}
	// The stack's own log, for the errors behind a failed request.
	logFile, err := os.Create(filepath.Join(dir, "stack-"+cellName(backend, bus, n)+".log"))
	if err != nil {
		c.Err = err.Error()
		return c
	}
	defer logFile.Close()
	s, err := stack.Start(ctx, stack.Config{
		Root:             root,
		GatewayAddr:      "127.0.0.1:0",
		ExpirationWindow: "2s",
		RateLimit:        "1000000", // sign-up and sign-in are measured, not limited
		MaxUnsoldTickets: "0",       // 16 sellers list 10,000 tickets
		Backend:          backend,
		Bus:              bus,
		LogLevel:         "warn",
		Out:              logFile,
		Debug:            true,
		OneAtATime:       true, // each service's ready time is its own start's
	})
	if err != nil {
		c.Err = err.Error()
		return c
	}
	defer s.Stop()
	c.Ready = s.ReadyTimes()
	for _, name := range stack.Services {
		logf("%-10s ready %v after its start", name, c.Ready[name].Round(100*time.Microsecond))
	}
	stopProfiling := func() {}
	defer func() { stopProfiling() }()
	procs := map[string]int{}
	for _, name := range stack.Services {
		if pid, ok := s.Pid(name); ok {
			procs[name] = pid
		}
	}
	// settle waits for the orders service to hold every ticket, then for
	// every event of the step before to be handled (the auditor's quiet:
	// outboxes empty, replicas, locks and payments applied, expired orders
	// cancelled), so that a step does not pay for its predecessor's
	// backlog; when that takes longer than the bound, the run goes on and
	// the report says so.
	dbs, disconnect, err := audit.Connect(s.MongoURI())
	if err != nil {
		c.Err = err.Error()
		return c
	}
	defer disconnect(context.WithoutCancel(ctx))
	settle := func(ctx context.Context) error {
		err := bench.WaitReplicas(ctx, s.MongoURI(), settleMost)
		if err == nil {
			var r audit.Report
			if r, err = audit.WaitSettled(ctx, dbs, settleStall, settleMost, audit.Config{}); errors.Is(err, audit.ErrNotQuiet) {
				// What was still in flight, for the run's log.
				logf("%s", r.Summary(5))
			}
		}
		if err != nil && ctx.Err() == nil {
			logf("not settled: %v", err)
			c.Notes = append(c.Notes, "not settled in time (the run went on): "+err.Error())
			return fmt.Errorf("%w: %v", load.ErrNotSettled, err)
		}
		return err
	}
	steps := load.Steps
	floorSteps := append([]string{"scrypt"}, load.Steps...)
	var warmup time.Duration
	switch {
	case bus != "stan":
		steps, floorSteps = eventSteps, nil // the database's floor is the same on either bus
		// Here the purchase step writes first, on a stack whose
		// collections its first writes make; on NATS Streaming it comes
		// after the create, order and pay steps. A warm-up makes both a
		// steady state.
		warmup = eventWarmup
	case n != 100:
		steps, floorSteps = []string{"list", "listpage"}, []string{"list", "listpage"}
	}
	c.Load, err = load.Run(ctx, load.Config{
		URL: s.URL, Users: set.users, Duration: set.duration, MinRows: set.minRows, MaxDuration: set.maxDur,
		Steps: steps, Tickets: n, Pool: set.pool, Procs: procs, Warmup: warmup,
		Metrics:   s.DebugAddrs(),
		CountRows: func(ctx context.Context, rows string) (int, error) { return countRows(ctx, dbs, rows) },
		Progress:  logf,
		Settle:    settle,
		BeforeSteps: func(ctx context.Context) error {
			// Replicas reach the orders service by events: let them land.
			start := time.Now()
			if err := settle(ctx); err != nil && !errors.Is(err, load.ErrNotSettled) {
				return err
			}
			logf("settled %v after seeding", time.Since(start).Round(time.Millisecond))
			var err error
			if len(floorSteps) > 0 {
				logf("floor: %v", floorSteps)
				c.Floor, err = bench.Floor(ctx, s.MongoURI(), floorSteps, bench.FloorConfig{
					Users: set.users, Duration: set.duration, MinRows: set.minRows, MaxDuration: set.maxDur,
				})
				for _, f := range c.Floor {
					logf("floor %-8s %8.1f req/s  p50 %s  errors %d", f.Name, f.RPS, load.Ms(f.P50), f.Errors)
				}
			}
			if err == nil && prof != nil {
				stopProfiling = prof.start(ctx, s.PprofAddrs())
			}
			return err
		},
	})
	if err != nil {
		c.Err = err.Error()
	}
	if prof != nil {
		stopProfiling()
		stopProfiling = func() {}
		prof.heap(ctx, s.PprofAddrs())
		c.Profiles = filepath.Base(prof.dir)
	}
	if c.Load != nil {
		c.Budgets = map[string]bench.Comparison{}
		for _, st := range c.Load.Steps {
			if cmp, ok := bench.Compare(st); ok {
				c.Budgets[st.Name] = cmp
			}
		}
	}
	return c
}

// countRows counts the documents of a collection of load.RowSteps.
func countRows(ctx context.Context, dbs audit.Databases, rows string) (int, error) {
	var coll *mongo.Collection
	switch rows {
	case "tickets":
		coll = dbs.Tickets.Collection("tickets")
	case "orders":
		coll = dbs.Orders.Collection("orders")
	case "payments":
		coll = dbs.Payments.Collection("payments")
	default:
		return 0, fmt.Errorf("no collection of %q", rows)
	}
	n, err := coll.EstimatedDocumentCount(ctx)
	return int(n), err
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}
