package main

import (
	"cmp"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"ticketing.dev/infra/bench"
	"ticketing.dev/infra/load"
	"ticketing.dev/infra/stack"
)

// Targets of the issue, checked in the report.
const (
	minThroughputRatio = 0.80 // endpoint req/s over floor req/s
	maxP50Ratio        = 1.25 // endpoint p50 over floor p50
	maxIdleRSS         = 20 << 20
	maxReady           = 100 * time.Millisecond // from a service's start to its first ready answer
)

// writeReport writes report.md and its charts into dir.
func writeReport(dir string, r Run) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p("# Benchmark %s", r.Started.Format("2006-01-02 15:04"))
	p("")
	p("%d users (and %d floor clients) for %v per step at least, on %s; load average %s at the start, %s at the end. "+
		"Each cell is a freshly started stack (`make bench`; orders expire after 2 s, services log at warn).", r.Users, r.Users, r.Duration, r.Host, r.Load1, r.LoadEnd)
	if r.MinRows > 0 {
		p("")
		p("The steps that add rows (create: tickets, order: orders, pay and purchase: payments), and their floors, run on until their collection holds %d rows, for %v at most, "+
			"so that each is measured at that size and in its steady state, not only in its first seconds.", r.MinRows, r.MaxDuration)
	}
	p("")
	p("The floor of a read is the query its store issues; the floor of a step that writes runs the whole budget of its story (see below), events and relay included, " +
		"in a database of its own whose collections have the services' indexes; both are sent directly with mongo-driver v2 to the same embedded FerretDB, " +
		"at the same concurrency, for as long and on collections as large " +
		"(sign-up and sign-in include the scrypt hash, N=16384 r=8 p=1, as auth does; pay excludes the stripe-mock charge). " +
		"Targets: req/s ≥ 80 %% of the floor's, p50 ≤ 1.25 × the floor's, ticket created → orderable p99 ≤ 50 ms for one user and ≤ 250 ms at 16 buyers, idle RSS < 20 MiB, " +
		"every service ready within 100 ms of its start (the databases are up before the services start, and each service starts once the one before it is ready, " +
		"as a rollout starts a pod beside others that run; /readyz polled every 2 ms).")
	p("")
	p("Each step is also shown second by second: requests completed and their p99 in each second (the seconds after the step stopped starting requests are left out), "+
		"and its worst second, the full second with the fewest requests, against the mean. "+
		"Its MongoDB commands are read from every service's `%s` before the step and once its events are handled (expired orders included; "+
		"the auditor finds the system quiet, waited for %v at the most, or until nothing has changed for %v), "+
		"and divided by its successful requests; connection overhead (handshakes, the pings of /readyz) is shown but not counted. "+
		"Its budget is the sum of the budgets of the calls it made (polls and retries included) and of its orders that expired; "+
		"a step is over budget when its commands per request exceed the budget by more than %.0f %%.", load.CommandsMetric, settleMost, settleStall, bench.Tolerance*100)
	writeBudgets(p)
	writeLagsByBus(p, r.Cells)
	for _, c := range r.Cells {
		p("")
		p("## %s", cellTitle(c))
		p("")
		if c.Err != "" {
			p("Not measured: `%s`", strings.ReplaceAll(firstLine(c.Err), "`", "'"))
			continue
		}
		for _, n := range counted(c.Notes) {
			p("- note: %s", n)
		}
		if len(c.Notes) > 0 {
			p("")
		}
		floors := map[string]bench.FloorResult{}
		for _, f := range c.Floor {
			floors[f.Name] = f
		}
		p("| step | requests | req/s | p50 | p90 | p99 | errors | floor req/s | floor p50 | req/s ÷ floor | p50 ÷ floor | target |")
		p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
		for _, s := range c.Load.Steps {
			f, ok := floors[s.Name]
			fr, fp, rr, pr, ok2 := "", "", "", "", "n/a"
			if ok && f.RPS > 0 && f.P50 > 0 {
				ratio, p50 := s.RPS/f.RPS, float64(s.P50)/float64(f.P50)
				fr, fp = fmt.Sprintf("%.1f", f.RPS), load.Ms(f.P50)
				rr, pr = fmt.Sprintf("%.2f", ratio), fmt.Sprintf("%.2f", p50)
				ok2 = verdict(ratio >= minThroughputRatio && p50 <= maxP50Ratio && s.Errors == 0)
				if s.Name == "expire" {
					// Each of its requests waits for the lock to run out;
					// the floor does not.
					ok2 = "n/a: waits out the lock"
				}
			}
			p("| %s | %d | %.1f | %s | %s | %s | %d | %s | %s | %s | %s | %s |", s.Name, s.Requests, s.RPS, load.Ms(s.P50), load.Ms(s.P90), load.Ms(s.P99), s.Errors, fr, fp, rr, pr, ok2)
		}
		if f, ok := floors["scrypt"]; ok {
			p("")
			p("scrypt alone (N=16384, r=8, p=1) at %d clients: %.1f hashes/s, p50 %s.", r.Users, f.RPS, load.Ms(f.P50))
		}
		for _, s := range c.Load.Steps {
			for _, e := range s.FirstErrors {
				p("")
				p("- %s error: `%s`", s.Name, strings.ReplaceAll(firstLine(e), "`", "'"))
			}
		}
		if len(c.Load.Lags) > 0 {
			p("")
			p("| event lag | samples | p50 | p90 | p99 | max | target |")
			p("|---|---:|---:|---:|---:|---:|---|")
			for _, l := range c.Load.Lags {
				p("| %s | %d | %s | %s | %s | %s | %s |", l.Name, l.Samples, load.Ms(l.P50), load.Ms(l.P90), load.Ms(l.P99), load.Ms(l.Max), lagVerdict(l))
			}
		}
		if len(c.Ready) > 0 {
			p("")
			p("| service | ready after its start | target |")
			p("|---|---:|---|")
			for _, name := range stack.Services {
				if d, ok := c.Ready[name]; ok {
					p("| %s | %s | %s |", name, load.Ms(d), verdict(d <= maxReady))
				}
			}
		}
		if c.Profiles != "" {
			p("")
			p("Profiles in [%s](%s): CPU during the load (`<service>-cpu-NN.pb.gz`, merge them with `go tool pprof -http : %s/<service>-cpu-*.pb.gz`) and heap after it (`<service>-heap.pb.gz`).", c.Profiles, c.Profiles, c.Profiles)
		}
		if len(c.Load.Procs) > 0 {
			p("")
			p("| service | idle RSS | peak RSS | CPU time during the run | idle target |")
			p("|---|---:|---:|---:|---|")
			for _, pr := range c.Load.Procs {
				p("| %s | %s | %s | %v | %s |", pr.Name, load.MiB(pr.IdleRSS), load.MiB(pr.PeakRSS), pr.CPU.Round(10*time.Millisecond), verdict(pr.IdleRSS < maxIdleRSS))
			}
		}
		base := cellName(c.Backend, c.Bus, c.Tickets)
		if c.Tickets == 100 && len(c.Floor) > 0 {
			if err := charts(dir, base, c); err != nil {
				return err
			}
			p("")
			p("![req/s against the floor](%s-rps.png) ![p50 against the floor](%s-p50.png) ![idle RSS](%s-rss.png)", base, base, base)
		}
		writeSteadiness(p, c, floors)
		if err := writeStepDetails(p, dir, base, c, floors); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(b.String()), 0o644)
}

// writeBudgets writes the budget of every story.
func writeBudgets(p func(string, ...any)) {
	p("")
	p("<details><summary>Budgets: the least a correct design needs, per story</summary>")
	for _, st := range bench.Budgets {
		p("")
		p("**%s** — %s", st.Name, st.Summary)
		p("")
		p("| service | collection | command | count | request waits | why |")
		p("|---|---|---|---:|---|---|")
		for _, c := range st.Commands {
			waits := "yes"
			if c.Async {
				waits = "no"
			}
			p("| %s | %s | %s | %g | %s | %s |", c.Service, c.Collection, c.Command, c.Count, waits, c.Reason)
		}
	}
	p("")
	p("</details>")
}

// counted returns notes once each, in order, with how many times each came
// when more than once.
func counted(notes []string) []string {
	n := map[string]int{}
	var out []string
	for _, s := range notes {
		if n[s] == 0 {
			out = append(out, s)
		}
		n[s]++
	}
	for i, s := range out {
		if n[s] > 1 {
			out[i] = fmt.Sprintf("%s (%d times)", s, n[s])
		}
	}
	return out
}

// lagTargets are the p99 targets of the lags that have one: the event's
// own lag at rest, and under 16 buyers.
var lagTargets = map[string]time.Duration{
	load.LagOrderable + load.AtRest: 50 * time.Millisecond,
	load.LagOrderable:               250 * time.Millisecond,
}

func lagVerdict(l load.LagResult) string {
	target, ok := lagTargets[l.Name]
	if !ok {
		return "—"
	}
	return fmt.Sprintf("%s (≤ %s)", verdict(l.P99 <= target), load.Ms(target))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// charts draws the cell's req/s and p50 against the floor, and its idle RSS.
func charts(dir, base string, c Cell) error {
	floors := map[string]bench.FloorResult{}
	for _, f := range c.Floor {
		floors[f.Name] = f
	}
	var names []string
	var rps, p50 plotter.Values
	for _, s := range c.Load.Steps {
		f, ok := floors[s.Name]
		if !ok || f.RPS == 0 || f.P50 == 0 || s.Name == "expire" {
			continue
		}
		names = append(names, s.Name)
		rps = append(rps, s.RPS/f.RPS)
		p50 = append(p50, float64(s.P50)/float64(f.P50))
	}
	if err := bars(filepath.Join(dir, base+"-rps.png"), cellLabel(c)+": req/s ÷ floor's (target ≥ 0.8)", "ratio", names,
		"endpoint ÷ floor", rps); err != nil {
		return err
	}
	if err := bars(filepath.Join(dir, base+"-p50.png"), cellLabel(c)+": p50 ÷ floor's (target ≤ 1.25)", "ratio", names,
		"endpoint ÷ floor", p50); err != nil {
		return err
	}
	var svc []string
	var rss plotter.Values
	for _, pr := range c.Load.Procs {
		svc = append(svc, pr.Name)
		rss = append(rss, float64(pr.IdleRSS)/(1<<20))
	}
	return bars(filepath.Join(dir, base+"-rss.png"), cellLabel(c)+": idle RSS per service (target < 20)", "MiB", svc,
		"idle RSS", rss)
}

// bars draws a bar chart of values over names into a PNG file.
func bars(file, title, unit string, names []string, legend string, values plotter.Values) error {
	if len(names) == 0 {
		return nil
	}
	pl := plot.New()
	pl.Title.Text = title
	pl.Y.Label.Text = unit
	b, err := plotter.NewBarChart(values, vg.Points(18))
	if err != nil {
		return fmt.Errorf("chart %s: %w", file, err)
	}
	b.Color = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	b.LineStyle.Width = 0
	pl.Add(b, plotter.NewGrid())
	pl.Legend.Add(legend, b)
	pl.Legend.Top = true
	pl.NominalX(names...)
	if err := pl.Save(150*vg.Millimeter, 80*vg.Millimeter, file); err != nil {
		return fmt.Errorf("chart %s: %w", file, err)
	}
	return nil
}

// cellLabel names a cell's backend, and its bus when not NATS Streaming.
func cellLabel(c Cell) string {
	if c.Bus != "" && c.Bus != "stan" {
		return c.Backend + " on " + c.Bus
	}
	return c.Backend
}

// cellTitle is a cell's heading.
func cellTitle(c Cell) string {
	return fmt.Sprintf("%s, %d tickets listed", cellLabel(c), c.Tickets)
}

// writeLagsByBus sets the event lags of the cells of 100 tickets side by
// side, a column per backend and bus, when there is more than one bus.
func writeLagsByBus(p func(string, ...any), cells []Cell) {
	var cols []Cell
	buses := map[string]bool{}
	for _, c := range cells {
		if c.Tickets == 100 && c.Load != nil && len(c.Load.Lags) > 0 {
			cols = append(cols, c)
			buses[cmp.Or(c.Bus, "stan")] = true
		}
	}
	if len(buses) < 2 {
		return
	}
	p("")
	p("## Event lags by bus")
	p("")
	p("The same steps on NATS Streaming and on NATS JetStream, each cell a fresh stack: p50 / p99 of each lag.")
	p("")
	head, sep := "| event lag |", "|---|"
	for _, c := range cols {
		head += fmt.Sprintf(" %s, %s |", c.Backend, cmp.Or(c.Bus, "stan"))
		sep += "---:|"
	}
	p("%s", head)
	p("%s", sep)
	var names []string
	for _, c := range cols {
		for _, l := range c.Load.Lags {
			if !slices.Contains(names, l.Name) {
				names = append(names, l.Name)
			}
		}
	}
	for _, name := range names {
		row := "| " + name + " |"
		for _, c := range cols {
			i := slices.IndexFunc(c.Load.Lags, func(l load.LagResult) bool { return l.Name == name })
			if i < 0 {
				row += " – |"
				continue
			}
			l := c.Load.Lags[i]
			row += fmt.Sprintf(" %s / %s |", load.Ms(l.P50), load.Ms(l.P99))
		}
		p("%s", row)
	}
}
