package metrics

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outbox registers on reg the backlog of the outbox relay of collection, as
// stats reports it at each scrape: ticketing_outbox_pending{collection} and
// ticketing_outbox_oldest_pending_age_seconds{collection}, zero when
// nothing is pending. A second registration for one collection fails: its
// relay's backlog would go unseen. A nil reg registers nothing.
func Outbox(reg prometheus.Registerer, collection string, stats func() (pending int, oldest time.Time)) error {
	if reg == nil {
		return nil
	}
	labels := prometheus.Labels{"collection": collection}
	err := reg.Register(&gauges{
		descs: []*prometheus.Desc{
			prometheus.NewDesc(OutboxPending,
				"Events stored with their entity and not yet published by the outbox relay.", nil, labels),
			prometheus.NewDesc(OutboxOldestPendingAge,
				"Age of the oldest event the outbox relay has not yet published; 0 when none is pending.", nil, labels),
		},
		read: func() []float64 {
			pending, oldest := stats()
			var age float64
			if !oldest.IsZero() {
				age = max(time.Since(oldest).Seconds(), 0)
			}
			return []float64{float64(pending), age}
		},
	})
	if err != nil {
		return fmt.Errorf("metrics: outbox of %s: %w", collection, err)
	}
	return nil
}
