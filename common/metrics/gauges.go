package metrics

import "github.com/prometheus/client_golang/prometheus"

// gauges is a collector of gauges that read returns together at each
// scrape, one value per description, so that they come from one look at
// what they measure.
type gauges struct {
	descs []*prometheus.Desc
	read  func() []float64
}

// Describe implements prometheus.Collector.
func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range g.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	for i, v := range g.read() {
		ch <- prometheus.MustNewConstMetric(g.descs[i], prometheus.GaugeValue, v)
	}
}
