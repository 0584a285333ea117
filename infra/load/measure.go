package load

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// stopRule says whether a step starts another request: it runs for min at
// least, then on until it has added need rows, and never past max.
type stopRule struct {
	min, max time.Duration
	need     int64
	added    atomic.Int64 // rows added so far: successful requests
}

func (s *stopRule) more(elapsed time.Duration) bool {
	if elapsed >= s.max {
		return false
	}
	return elapsed < s.min || s.added.Load() < s.need
}

// run runs it with users workers for Duration, or on for MinRows, or until
// every worker has nothing left to do; summarises the latencies, overall
// and second by second; and, once the step's events are handled, reads
// what the step cost the services.
func (r *runner) run(ctx context.Context, name string, users int, it iteration) (StepResult, error) {
	rule := &stopRule{min: r.cfg.Duration, max: r.cfg.MaxDuration}
	rows, addsRows := RowSteps[name]
	had := 0
	if addsRows {
		var err error
		if had, err = r.countRows(ctx, rows); err != nil {
			return StepResult{}, err
		}
		rule.need = int64(max(r.cfg.MinRows-had, 0))
	}
	if rule.need == 0 {
		rule.max = rule.min
	}
	// The last settle before the count starts says whether work of the
	// step before is still in flight, and so counted here.
	inherited := r.unsettled
	before, countedBefore, errBefore := r.scrape(ctx)
	// What came before the step is not its cost.
	r.addMade(r.meter.takeCalls())
	r.meter.takeOrders()

	res := r.work(ctx, name, users, it, rule)
	res.Inherited = inherited
	if addsRows {
		res.Rows = had + int(rule.added.Load())
	}
	if err := r.account(ctx, &res, before, countedBefore, errBefore); err != nil {
		return StepResult{}, err
	}
	return res, nil
}

// work runs the workers of a step and summarises their requests.
func (r *runner) work(ctx context.Context, name string, users int, it iteration, rule *stopRule) StepResult {
	ctx, cancel := context.WithTimeout(ctx, rule.max+pollTimeout)
	defer cancel()
	type worker struct {
		samples []Sample
		errors  int
		first   []string
	}
	workers := make([]worker, users)
	start := time.Now()
	var stopOnce sync.Once
	var stop time.Duration
	stopped := func() { stopOnce.Do(func() { stop = time.Since(start) }) }
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			me := &workers[w]
			for {
				if ctx.Err() != nil || !rule.more(time.Since(start)) {
					stopped()
					return
				}
				t0 := time.Now()
				more, err := it(ctx, w)
				if !more {
					stopped()
					return
				}
				if errors.Is(err, errSkip) {
					continue
				}
				if te, ok := err.(errTimed); ok {
					t0, err = te.start, te.err
				}
				done := time.Now()
				me.samples = append(me.samples, Sample{Done: done.Sub(start), Latency: done.Sub(t0), Failed: err != nil})
				if err != nil {
					me.errors++
					if len(me.first) < 3 {
						me.first = append(me.first, err.Error())
					}
					continue
				}
				rule.added.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := StepResult{Name: name, Elapsed: elapsed, Stop: stop}
	var all []Sample
	var lat []time.Duration
	for _, w := range workers {
		all = append(all, w.samples...)
		res.Errors += w.errors
		for _, e := range w.first {
			if len(res.FirstErrors) < 3 {
				res.FirstErrors = append(res.FirstErrors, e)
			}
		}
	}
	for _, s := range all {
		if !s.Failed {
			lat = append(lat, s.Latency)
		}
	}
	res.Requests = len(lat)
	res.RPS = float64(len(lat)) / elapsed.Seconds()
	slices.Sort(lat)
	res.P50, res.P90, res.P99 = quantile(lat, 0.50), quantile(lat, 0.90), quantile(lat, 0.99)
	res.Series = PerSecond(all, elapsed, stop)
	res.Worst = WorstSecond(res.Series)
	return res
}

// account waits for the expiry of the step's orders when it comes within
// pollTimeout, and for the step's events to be handled (Settle), then
// records the step's calls, its expired orders and the MongoDB commands
// the services sent since before.
func (r *runner) account(ctx context.Context, res *StepResult, before map[string]map[commandKey]float64, countedBefore bool, errBefore error) error {
	calls := r.meter.takeCalls()
	orders := r.meter.takeOrders()
	res.Calls = calls
	r.addMade(calls)
	if last := lastExpiry(orders); !last.IsZero() {
		if wait := time.Until(last); wait > 0 && wait <= pollTimeout {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
	}
	cutoff := time.Now()
	unsettled, err := r.settle(ctx)
	if err != nil {
		return err
	}
	if r.cfg.Settle != nil {
		res.Settled = time.Since(cutoff)
	}
	res.Unsettled = unsettled
	left := unpaid(orders)
	for _, e := range left {
		if !e.at.After(cutoff) {
			res.Expired++
		}
	}
	r.recyclable = append(r.recyclable, left...)
	slices.SortStableFunc(r.recyclable, func(a, b expiring) int { return a.at.Compare(b.at) })

	if len(r.cfg.Metrics) == 0 {
		return nil
	}
	var after map[string]map[commandKey]float64
	var countedAfter bool
	var errAfter error
	if r.cfg.Settle != nil {
		after, countedAfter, errAfter = r.scrape(ctx)
	} else {
		after, countedAfter, errAfter = r.scrapeQuiet(ctx)
	}
	if err := errors.Join(errBefore, errAfter); err != nil {
		res.CommandsErr = err.Error()
	}
	if !countedBefore || !countedAfter {
		if res.CommandsErr == "" {
			res.CommandsErr = "no service counts " + CommandsMetric
		}
		return nil
	}
	res.CommandsMeasured = true
	res.Commands = commandDelta(before, after)
	return nil
}

// scrape reads every service's commands counter; nothing without
// Config.Metrics.
func (r *runner) scrape(ctx context.Context) (map[string]map[commandKey]float64, bool, error) {
	if len(r.cfg.Metrics) == 0 {
		return nil, false, nil
	}
	return scrapeCommands(ctx, r.metrics, r.cfg.Metrics)
}

const (
	// quietFor is how long the commands counters must stay unchanged for a
	// step's events to count as handled when no Settle says they are:
	// longer than the outbox relay's pause between removals (1 s).
	quietFor = 2 * time.Second
	// quietMax bounds that wait.
	quietMax = 30 * time.Second
	// quietEvery is how often the counters are read meanwhile.
	quietEvery = 250 * time.Millisecond
)

// scrapeQuiet reads the commands counters until they have not moved, but
// for Overhead, for quietFor, or quietMax has passed.
func (r *runner) scrapeQuiet(ctx context.Context) (map[string]map[commandKey]float64, bool, error) {
	deadline := time.Now().Add(quietMax)
	counts, counted, err := r.scrape(ctx)
	last, since := requestCommands(counts), time.Now()
	for time.Since(since) < quietFor && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return counts, counted, err
		case <-time.After(quietEvery):
		}
		counts, counted, err = r.scrape(ctx)
		if n := requestCommands(counts); n != last {
			last, since = n, time.Now()
		}
	}
	return counts, counted, err
}

// requestCommands sums the counters but Overhead.
func requestCommands(counts map[string]map[commandKey]float64) float64 {
	var n float64
	for _, c := range counts {
		for k, v := range c {
			if !Overhead(k.command) {
				n += v
			}
		}
	}
	return n
}

func lagResult(name string, ds []time.Duration) LagResult {
	slices.Sort(ds)
	return LagResult{Name: name, Samples: len(ds), P50: quantile(ds, 0.50), P90: quantile(ds, 0.90), P99: quantile(ds, 0.99), Max: ds[len(ds)-1]}
}

// quantile is the nearest-rank q-quantile of sorted, zero when empty.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
