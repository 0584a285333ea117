package load

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// procSample is one reading of a process's /proc files.
type procSample struct {
	pid      int
	rss, hwm int64 // bytes
	cpu      time.Duration
	ok       bool
	name     string
}

func sampleProcs(pids map[string]int) map[string]procSample {
	out := make(map[string]procSample, len(pids))
	for name, pid := range pids {
		s, err := readProc(pid)
		s.name = name
		s.ok = err == nil
		out[name] = s
	}
	return out
}

// readProc reads a process's resident memory now (VmRSS), its peak
// (VmHWM) and the CPU time it has used (utime+stime).
func readProc(pid int) (procSample, error) {
	s := procSample{pid: pid}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("read process %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return s, fmt.Errorf("process %d: %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			s.rss = kb << 10
		} else {
			s.hwm = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("read process %d: %w", pid, err)
	}
	// The command name in parentheses may hold spaces: count fields after it.
	i := strings.LastIndexByte(string(stat), ')')
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 13 {
		return s, fmt.Errorf("process %d: short stat", pid)
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64) // field 14 of stat
	stime, _ := strconv.ParseInt(fields[12], 10, 64) // field 15
	s.cpu = time.Duration(utime+stime) * time.Second / clockTicks
	return s, nil
}

// RSS is a sample's resident memory in bytes.
func (s procSample) RSS() int64 { return s.rss }

func procResults(before, after map[string]procSample) []ProcResult {
	var out []ProcResult
	for name, b := range before {
		a := after[name]
		if !b.ok || !a.ok {
			continue
		}
		out = append(out, ProcResult{Name: name, Pid: b.pid, IdleRSS: b.rss, PeakRSS: a.hwm, CPU: a.cpu - b.cpu})
	}
	slices.SortFunc(out, func(x, y ProcResult) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// MiB formats bytes as mebibytes.
func MiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// WriteText writes the report as plain-text tables.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "%d users, %v per step", r.Users, r.Duration)
	if r.MinRows > 0 {
		fmt.Fprintf(w, " (the steps that add rows until %d rows, for %v at most)", r.MinRows, r.MaxDuration)
	}
	fmt.Fprintf(w, ", %d tickets listed, against %s\n\n", r.Tickets, r.URL)
	fmt.Fprintf(w, "%-9s %9s %10s %10s %10s %10s %7s %12s %12s %9s\n", "step", "requests", "req/s", "p50", "p90", "p99", "errors", "worst req/s", "worst÷mean", "cmds/req")
	for _, s := range r.Steps {
		worst, ratio, cmds := "-", "-", "n/a"
		if s.Worst != nil {
			worst, ratio = fmt.Sprint(s.Worst.Requests), fmt.Sprintf("%.2f", s.Worst.Ratio)
		}
		if per, _, ok := s.CommandsPerRequest(); ok {
			cmds = fmt.Sprintf("%.2f", per)
		}
		fmt.Fprintf(w, "%-9s %9d %10.1f %10s %10s %10s %7d %12s %12s %9s\n", s.Name, s.Requests, s.RPS, Ms(s.P50), Ms(s.P90), Ms(s.P99), s.Errors, worst, ratio, cmds)
		for _, e := range s.FirstErrors {
			fmt.Fprintf(w, "          error: %s\n", e)
		}
	}
	r.writeCommands(w)
	if len(r.Lags) > 0 {
		fmt.Fprintf(w, "\n%-30s %7s %10s %10s %10s %10s\n", "event lag", "samples", "p50", "p90", "p99", "max")
		for _, l := range r.Lags {
			fmt.Fprintf(w, "%-30s %7d %10s %10s %10s %10s\n", l.Name, l.Samples, Ms(l.P50), Ms(l.P90), Ms(l.P99), Ms(l.Max))
		}
	}
	if len(r.Procs) > 0 {
		fmt.Fprintf(w, "\n%-10s %8s %12s %12s %10s\n", "service", "pid", "idle RSS", "peak RSS", "CPU")
		for _, p := range r.Procs {
			fmt.Fprintf(w, "%-10s %8d %12s %12s %10s\n", p.Name, p.Pid, MiB(p.IdleRSS), MiB(p.PeakRSS), p.CPU)
		}
	}
}

// writeCommands writes each step's MongoDB commands per request, by
// service, when any was measured.
func (r *Report) writeCommands(w io.Writer) {
	services := map[string]bool{}
	for _, s := range r.Steps {
		_, by, _ := s.CommandsPerRequest()
		for name := range by {
			services[name] = true
		}
	}
	if len(services) == 0 {
		return
	}
	names := sortedKeys(services)
	fmt.Fprintf(w, "\nMongoDB commands per request (without connection overhead)\n%-9s %8s", "step", "total")
	for _, n := range names {
		fmt.Fprintf(w, " %10s", n)
	}
	fmt.Fprintln(w)
	for _, s := range r.Steps {
		total, by, ok := s.CommandsPerRequest()
		if !ok {
			fmt.Fprintf(w, "%-9s %8s\n", s.Name, "n/a")
			continue
		}
		fmt.Fprintf(w, "%-9s %8.2f", s.Name, total)
		for _, n := range names {
			fmt.Fprintf(w, " %10.2f", by[n])
		}
		fmt.Fprintln(w)
	}
}

// Ms formats a duration in milliseconds with two decimals.
func Ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
