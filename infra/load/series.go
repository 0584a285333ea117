package load

import (
	"slices"
	"time"
)

// Second is what one second of a step measured: the requests that
// completed in it. A step's average hides a collapse (hundreds of requests
// a second at first, then a few a second for the rest of the run); its
// seconds show it.
type Second struct {
	// At is the second's start, since the step's.
	At time.Duration
	// Requests and Errors are the successful and failed requests that
	// completed in the second.
	Requests int
	Errors   int
	// P50 and P99 are the latencies of the successful requests that
	// completed in the second; zero when none did.
	P50, P99 time.Duration
	// Partial marks a second that ends after the step stopped starting
	// requests: its final partial second, and any second in which only
	// the requests still in flight completed. The worst window ignores
	// them.
	Partial bool `json:",omitempty"`
}

// Window is a step's worst second: the full second in which the fewest
// requests succeeded.
type Window struct {
	At       time.Duration // the second's start, since the step's
	Requests int
	P99      time.Duration
	// Mean is the mean of the requests a second over the step's full
	// seconds, and Ratio is Requests ÷ Mean: near 1 for a steady step,
	// near 0 for one that stalls.
	Mean  float64
	Ratio float64
}

// Sample is one completed request of a step.
type Sample struct {
	// Done is when it completed, since the step started.
	Done    time.Duration
	Latency time.Duration
	Failed  bool
}

// PerSecond buckets the samples of a step that ran for elapsed into its
// seconds, by when each request completed. The step stopped starting
// requests at stop: a second that ends after stop is Partial.
func PerSecond(samples []Sample, elapsed, stop time.Duration) []Second {
	n := int((elapsed + time.Second - 1) / time.Second)
	for _, s := range samples {
		n = max(n, int(s.Done/time.Second)+1) // a sample on the last instant
	}
	out := make([]Second, n)
	lats := make([][]time.Duration, n)
	for i := range out {
		out[i].At = time.Duration(i) * time.Second
		out[i].Partial = out[i].At+time.Second > stop
	}
	for _, s := range samples {
		i := max(int(s.Done/time.Second), 0)
		if s.Failed {
			out[i].Errors++
			continue
		}
		out[i].Requests++
		lats[i] = append(lats[i], s.Latency)
	}
	for i, l := range lats {
		slices.Sort(l)
		out[i].P50, out[i].P99 = quantile(l, 0.50), quantile(l, 0.99)
	}
	return out
}

// WorstSecond returns the full second with the fewest successful requests,
// the earliest of equals, or nil when the step lasted no full second.
func WorstSecond(series []Second) *Window {
	var worst *Second
	full, total := 0, 0
	for i := range series {
		s := &series[i]
		if s.Partial {
			continue
		}
		full++
		total += s.Requests
		if worst == nil || s.Requests < worst.Requests {
			worst = s
		}
	}
	if worst == nil {
		return nil
	}
	w := &Window{At: worst.At, Requests: worst.Requests, P99: worst.P99, Mean: float64(total) / float64(full)}
	if w.Mean > 0 {
		w.Ratio = float64(w.Requests) / w.Mean
	}
	return w
}
