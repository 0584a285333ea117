// Package metricstest reads a service's /metrics in tests, as Prometheus
// would scrape it.
package metricstest

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Samples are the metric families of one scrape, by name.
type Samples map[string]*dto.MetricFamily

// Scrape reads url, such as a service's http://DEBUG_ADDR/metrics, and
// fails the test if it cannot.
func Scrape(t testing.TB, url string) Samples {
	t.Helper()
	s, err := scrape(url)
	require.NoError(t, err)
	return s
}

// Gather returns what g holds now, such as the registry of a unit test.
func Gather(t testing.TB, g prometheus.Gatherer) Samples {
	t.Helper()
	families, err := g.Gather()
	require.NoError(t, err)
	s := make(Samples, len(families))
	for _, f := range families {
		s[f.GetName()] = f
	}
	return s
}

func scrape(url string) (Samples, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metricstest: GET %s: %s", url, resp.Status)
	}
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("metricstest: parse %s: %w", url, err)
	}
	return families, nil
}

// Value returns the sum over the series of name whose labels include
// labels (nil matches every series): of a counter's or gauge's values, or
// of a histogram's counts of observations. It is 0 when no series matches.
func (s Samples) Value(name string, labels prometheus.Labels) float64 {
	f, ok := s[name]
	if !ok {
		return 0
	}
	var sum float64
	for _, m := range f.GetMetric() {
		if !matches(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum
}

// Has reports whether a series of name has every label of labels, whatever
// its value: a gauge at 0 is there, a vector that never recorded is not.
func (s Samples) Has(name string, labels prometheus.Labels) bool {
	for _, m := range s[name].GetMetric() {
		if matches(m, labels) {
			return true
		}
	}
	return false
}

// matches reports whether m has every label of want. A label with an
// empty value is left out of the exposition, so it matches one missing.
func matches(m *dto.Metric, want prometheus.Labels) bool {
	have := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// EventuallyRises waits until the value of name with labels at url (see
// Value) is at least by above its value in before, failing the test after
// 10 s. Metrics are recorded once a response is written, so a test that
// has its answer may scrape a moment too soon.
func EventuallyRises(t testing.TB, url string, before Samples, by float64, name string, labels prometheus.Labels) {
	t.Helper()
	from := before.Value(name, labels)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		s, err := scrape(url)
		require.NoError(c, err)
		assert.GreaterOrEqual(c, s.Value(name, labels)-from, by, "%s %v rose from %v", name, labels, from)
	}, 10*time.Second, 20*time.Millisecond)
}
