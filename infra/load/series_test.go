package load

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

const ms = time.Millisecond

func TestPerSecond(t *testing.T) {
	tests := []struct {
		name          string
		samples       []Sample
		elapsed, stop time.Duration
		want          []Second
	}{
		{
			name:    "no requests in a short step",
			elapsed: 400 * ms, stop: 400 * ms,
			want: []Second{{At: 0, Partial: true}},
		},
		{
			name: "requests counted in the second they completed, by their latency",
			samples: []Sample{
				{Done: 100 * ms, Latency: 100 * ms},
				{Done: 900 * ms, Latency: 10 * ms},
				{Done: 999 * ms, Latency: 2 * time.Second, Failed: true},
				{Done: 1000 * ms, Latency: 30 * ms},
				{Done: 2500 * ms, Latency: 1500 * ms},
			},
			elapsed: 2600 * ms, stop: 2 * time.Second,
			want: []Second{
				{At: 0, Requests: 2, Errors: 1, P50: 10 * ms, P99: 100 * ms},
				{At: time.Second, Requests: 1, P50: 30 * ms, P99: 30 * ms},
				{At: 2 * time.Second, Requests: 1, P50: 1500 * ms, P99: 1500 * ms, Partial: true},
			},
		},
		{
			name: "a stalled second is empty, and the seconds after the stop are partial",
			samples: []Sample{
				{Done: 500 * ms, Latency: 5 * ms},
				{Done: 2200 * ms, Latency: 1700 * ms},
				{Done: 3100 * ms, Latency: 3 * time.Second},
			},
			elapsed: 3100 * ms, stop: 2 * time.Second,
			want: []Second{
				{At: 0, Requests: 1, P50: 5 * ms, P99: 5 * ms},
				{At: time.Second},
				{At: 2 * time.Second, Requests: 1, P50: 1700 * ms, P99: 1700 * ms, Partial: true},
				{At: 3 * time.Second, Requests: 1, P50: 3 * time.Second, P99: 3 * time.Second, Partial: true},
			},
		},
		{
			name: "a step of whole seconds has no partial second",
			samples: []Sample{
				{Done: 1999 * ms, Latency: ms},
			},
			elapsed: 2 * time.Second, stop: 2 * time.Second,
			want: []Second{
				{At: 0},
				{At: time.Second, Requests: 1, P50: ms, P99: ms},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, PerSecond(tt.samples, tt.elapsed, tt.stop))
		})
	}
}

func TestPerSecond_P99OfManyRequests(t *testing.T) {
	var samples []Sample
	for i := 1; i <= 200; i++ {
		samples = append(samples, Sample{Done: 500 * ms, Latency: time.Duration(i) * ms})
	}
	got := PerSecond(samples, time.Second, time.Second)
	assert.Equal(t, 100*ms, got[0].P50)
	assert.Equal(t, 198*ms, got[0].P99)
}

func TestWorstSecond(t *testing.T) {
	tests := []struct {
		name   string
		series []Second
		want   *Window
	}{
		{
			name:   "no full second",
			series: []Second{{At: 0, Requests: 5, Partial: true}},
			want:   nil,
		},
		{
			name: "a steady step",
			series: []Second{
				{At: 0, Requests: 100, P99: ms},
				{At: time.Second, Requests: 100, P99: 2 * ms},
			},
			want: &Window{At: 0, Requests: 100, P99: ms, Mean: 100, Ratio: 1},
		},
		{
			name: "a collapse after the first second, the partial second left out",
			series: []Second{
				{At: 0, Requests: 600, P99: 50 * ms},
				{At: time.Second, Requests: 10, P99: 3 * time.Second},
				{At: 2 * time.Second, Requests: 150, P99: time.Second},
				{At: 3 * time.Second, Requests: 1, Partial: true},
			},
			want: &Window{At: time.Second, Requests: 10, P99: 3 * time.Second, Mean: 760.0 / 3, Ratio: 10 / (760.0 / 3)},
		},
		{
			name: "a stall with nothing done",
			series: []Second{
				{At: 0, Requests: 4},
				{At: time.Second},
			},
			want: &Window{At: time.Second, Requests: 0, Mean: 2, Ratio: 0},
		},
		{
			name: "nothing done at all",
			series: []Second{
				{At: 0},
			},
			want: &Window{At: 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := WorstSecond(tt.series)
			if tt.want == nil {
				assert.Nil(t, got)
				return
			}
			if assert.NotNil(t, got) {
				assert.Equal(t, tt.want.At, got.At)
				assert.Equal(t, tt.want.Requests, got.Requests)
				assert.Equal(t, tt.want.P99, got.P99)
				assert.InDelta(t, tt.want.Mean, got.Mean, 1e-9)
				assert.InDelta(t, tt.want.Ratio, got.Ratio, 1e-9)
			}
		})
	}
}

func TestStopRule(t *testing.T) {
	tests := []struct {
		name    string
		need    int64
		added   int64
		elapsed time.Duration
		want    bool
	}{
		{name: "before the duration", elapsed: 19 * time.Second, want: true},
		{name: "after the duration without rows to add", elapsed: 20 * time.Second, want: false},
		{name: "after the duration with rows still to add", need: 10, added: 9, elapsed: 25 * time.Second, want: true},
		{name: "after the duration with the rows added", need: 10, added: 10, elapsed: 25 * time.Second, want: false},
		{name: "before the duration with the rows added", need: 10, added: 10, elapsed: time.Second, want: true},
		{name: "at the cap with rows still to add", need: 10, added: 1, elapsed: time.Minute, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &stopRule{min: 20 * time.Second, max: time.Minute, need: tt.need}
			r.added.Store(tt.added)
			assert.Equal(t, tt.want, r.more(tt.elapsed))
		})
	}
}
