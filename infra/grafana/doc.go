// Package grafana holds the Grafana dashboard of the services' Prometheus
// metrics, ticketing.json (import it in Grafana; docs/metrics.md describes
// the metrics), and the test that keeps its queries on the metrics the
// services register.
package grafana
