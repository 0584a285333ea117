package main

import (
	"fmt"
	"image/color"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"ticketing.dev/infra/bench"
	"ticketing.dev/infra/load"
)

var (
	stepColor  = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	floorColor = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
)

// writeSteadiness writes a cell's table of each step's steady state and
// database work, one line per step.
func writeSteadiness(p func(string, ...any), c Cell, floors map[string]bench.FloorResult) {
	p("")
	p("| step | ran | rows after | worst second | its req/s | its p99 | worst ÷ mean | floor's worst ÷ mean | commands/request | budget | floor commands/iteration | database work |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, s := range c.Load.Steps {
		rows, at, rps, p99, ratio, fratio := "", "none", "", "", "", ""
		if s.Rows > 0 {
			rows = fmt.Sprint(s.Rows)
		}
		if w := s.Worst; w != nil {
			at, rps, p99, ratio = fmt.Sprintf("%v", w.At), fmt.Sprint(w.Requests), load.Ms(w.P99), fmt.Sprintf("%.2f", w.Ratio)
		}
		f, hasFloor := floors[s.Name]
		if hasFloor && f.Worst != nil {
			fratio = fmt.Sprintf("%.2f", f.Worst.Ratio)
		}
		cmds, budget, fcmds, verdict := "n/a", "", "", "n/a"
		if cmp, ok := c.Budgets[s.Name]; ok {
			budget = fmt.Sprintf("%.2f", cmp.Budget)
			if cmp.NotMeasured == "" {
				cmds = fmt.Sprintf("%.2f", cmp.Measured)
			}
			verdict = cmp.Verdict()
		}
		if hasFloor && f.Commands > 0 {
			fcmds = fmt.Sprintf("%.0f", f.Commands)
		}
		p("| %s | %v | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", s.Name, s.Stop.Round(100*time.Millisecond), rows, at, rps, p99, ratio, fratio, cmds, budget, fcmds, verdict)
	}
}

// writeStepDetails writes, for each step of a cell, its second-by-second
// chart, its worst second and its commands next to its budget.
func writeStepDetails(p func(string, ...any), dir, base string, c Cell, floors map[string]bench.FloorResult) error {
	for _, s := range c.Load.Steps {
		p("")
		p("### %s: %s", cellLabel(c), s.Name)
		p("")
		var floor *bench.FloorResult
		if f, ok := floors[s.Name]; ok {
			floor = &f
		}
		line := fmt.Sprintf("%d requests in %v (new requests stopped at %v", s.Requests, s.Elapsed.Round(100*time.Millisecond), s.Stop.Round(100*time.Millisecond))
		if s.Rows > 0 {
			line += fmt.Sprintf(", with %d rows", s.Rows)
		}
		line += fmt.Sprintf("), %.1f req/s", s.RPS)
		switch w := s.Worst; {
		case s.Requests == 0:
			line += "; no request succeeded"
		case w != nil:
			line += fmt.Sprintf("; worst second at %v: %d requests, p99 %s, %.2f × the mean of %.1f req/s over the full seconds", w.At, w.Requests, load.Ms(w.P99), w.Ratio, w.Mean)
		default:
			line += "; no full second"
		}
		switch {
		case s.Unsettled != "":
			line += fmt.Sprintf("; its events were still in flight %v after its last request", s.Settled.Round(100*time.Millisecond))
		case s.Settled > 0:
			line += fmt.Sprintf("; its events were all handled %v after its last request", s.Settled.Round(100*time.Millisecond))
		}
		p("%s.", line)
		if floor != nil {
			fl := fmt.Sprintf("Floor: %d iterations, %.1f/s", floor.Requests, floor.RPS)
			if plan, ok := bench.FloorPlans[s.Name]; ok {
				fl += fmt.Sprintf(", each the budget of %s (%.0f commands)", plan, floor.Commands)
			}
			if floor.Rows > 0 {
				fl += fmt.Sprintf(", %d rows at the end", floor.Rows)
			}
			if w := floor.Worst; w != nil {
				fl += fmt.Sprintf("; worst second at %v: %d, %.2f × its mean", w.At, w.Requests, w.Ratio)
			}
			p("%s.", fl)
		}
		file := fmt.Sprintf("%s-step-%s.png", base, s.Name)
		drawn, err := seriesChart(filepath.Join(dir, file), fmt.Sprintf("%s, %s: second by second", cellLabel(c), s.Name), s.Series, floor)
		if err != nil {
			return err
		}
		if drawn {
			p("")
			p("![%s second by second](%s)", s.Name, file)
		}
		if cmp, ok := c.Budgets[s.Name]; ok {
			writeComparison(p, cmp)
		}
	}
	return nil
}

// writeComparison writes a step's commands per request next to its budget.
func writeComparison(p func(string, ...any), cmp bench.Comparison) {
	p("")
	var stories []string
	for _, st := range bench.Budgets {
		if n, ok := cmp.Stories[st.Name]; ok {
			stories = append(stories, fmt.Sprintf("%s × %.2f", st.Name, n))
		}
	}
	p("Per request, the budget counts: %s.", strings.Join(stories, ", "))
	if len(cmp.Unbudgeted) > 0 {
		var calls []string
		for _, k := range slices.Sorted(maps.Keys(cmp.Unbudgeted)) {
			calls = append(calls, fmt.Sprintf("`%s` × %d", k, cmp.Unbudgeted[k]))
		}
		p("Calls without a budget (their commands are measured, not budgeted): %s.", strings.Join(calls, ", "))
	}
	p("")
	p("| service | collection | command | per request | budget | why the budget allows it |")
	p("|---|---|---|---:|---:|---|")
	for _, l := range cmp.Lines {
		measured := "n/a"
		if cmp.NotMeasured == "" {
			measured = fmt.Sprintf("%.2f", l.Measured)
			if l.Over {
				measured = "**" + measured + "**"
			}
		}
		budget, why := fmt.Sprintf("%.2f", l.Budget), strings.Join(l.Reasons, "; ")
		switch {
		case load.Overhead(l.Command):
			budget, why = "–", "connection overhead (handshakes, /readyz pings): not compared"
		case bench.Continuation(l.Command):
			budget, why = "–", "continues a find's cursor, as the driver's batch size decides: not compared"
		case l.Budget == 0:
			why = "**not in the budget**"
		}
		p("| %s | %s | %s | %s | %s | %s |", l.Service, l.Collection, l.Command, measured, budget, why)
	}
	p("")
	if cmp.NotMeasured != "" {
		p("MongoDB commands per request: n/a (`%s`); the budget is %.2f.", strings.ReplaceAll(firstLine(cmp.NotMeasured), "`", "'"), cmp.Budget)
		return
	}
	p("MongoDB commands per request: %.2f against a budget of %.2f: %s.", cmp.Measured, cmp.Budget, cmp.Verdict())
	if cmp.Incomplete != "" {
		p("")
		p("The step's events were not all handled when its commands were read (`%s`): it costs more than measured.", strings.ReplaceAll(firstLine(cmp.Incomplete), "`", "'"))
	}
	if cmp.Inherited != "" {
		p("")
		p("The events of what came before it had not settled when its count started (`%s`): the commands counted here include that unfinished work, so this step costs less than measured.", strings.ReplaceAll(firstLine(cmp.Inherited), "`", "'"))
	}
}

// seriesChart draws a step's requests a second and p99 a second, over its
// full seconds, with its floor's when given, one above the other, into a
// PNG file. It draws nothing for a step without a full second.
func seriesChart(file, title string, series []load.Second, floor *bench.FloorResult) (bool, error) {
	rps, p99 := seriesXYs(series)
	if len(rps) == 0 {
		return false, nil
	}
	top, bottom := plot.New(), plot.New()
	top.Title.Text = title
	top.Y.Label.Text = "requests a second"
	bottom.Y.Label.Text = "p99 (ms)"
	bottom.X.Label.Text = "second of the step"
	for _, pl := range []*plot.Plot{top, bottom} {
		pl.Add(plotter.NewGrid())
		pl.Legend.Top = true
		pl.Y.Min = 0
	}
	if err := addLine(top, "step", rps, stepColor); err != nil {
		return false, fmt.Errorf("chart %s: %w", file, err)
	}
	if err := addLine(bottom, "step", p99, stepColor); err != nil {
		return false, fmt.Errorf("chart %s: %w", file, err)
	}
	if floor != nil {
		frps, fp99 := seriesXYs(floor.Series)
		if err := addLine(top, "floor", frps, floorColor); err != nil {
			return false, fmt.Errorf("chart %s: %w", file, err)
		}
		if err := addLine(bottom, "floor", fp99, floorColor); err != nil {
			return false, fmt.Errorf("chart %s: %w", file, err)
		}
	}
	for _, pl := range []*plot.Plot{top, bottom} {
		pl.Y.Max *= 1.3 // room for the legend above the lines
	}
	const w, h = 160 * vg.Millimeter, 110 * vg.Millimeter
	img := vgimg.New(w, h)
	dc := draw.New(img)
	plots := [][]*plot.Plot{{top}, {bottom}}
	canvases := plot.Align(plots, draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Millimeter}, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	f, err := os.Create(file)
	if err != nil {
		return false, fmt.Errorf("chart %s: %w", file, err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return false, fmt.Errorf("chart %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("chart %s: %w", file, err)
	}
	return true, nil
}

// seriesXYs returns the requests and the p99 in milliseconds of each full
// second; p99 only of the seconds in which a request succeeded.
func seriesXYs(series []load.Second) (rps, p99 plotter.XYs) {
	for _, s := range series {
		if s.Partial {
			continue
		}
		x := s.At.Seconds()
		rps = append(rps, plotter.XY{X: x, Y: float64(s.Requests)})
		if s.Requests > 0 {
			p99 = append(p99, plotter.XY{X: x, Y: float64(s.P99) / float64(time.Millisecond)})
		}
	}
	return rps, p99
}

func addLine(pl *plot.Plot, name string, xys plotter.XYs, c color.Color) error {
	if len(xys) == 0 {
		return nil
	}
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color, pts.Color = c, c
	pts.Radius = vg.Points(1.5)
	pl.Add(l, pts)
	pl.Legend.Add(name, l)
	return nil
}
