package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// ScryptGate registers on reg the load of auth's password-hashing gate, as
// load reports it at each scrape: ticketing_scrypt_gate_waiting (hashes
// waiting for a turn) and ticketing_scrypt_gate_running (hashes running).
// A second registration fails: one service has one gate. A nil reg
// registers nothing.
func ScryptGate(reg prometheus.Registerer, load func() (waiting, running int)) error {
	if reg == nil {
		return nil
	}
	err := reg.Register(&gauges{
		descs: []*prometheus.Desc{
			prometheus.NewDesc(ScryptGateWaiting, "Password hashes waiting for a turn at the scrypt gate.", nil, nil),
			prometheus.NewDesc(ScryptGateRunning, "Password hashes running; the gate admits as many as there are processors.", nil, nil),
		},
		read: func() []float64 {
			waiting, running := load()
			return []float64{float64(waiting), float64(running)}
		},
	})
	if err != nil {
		return fmt.Errorf("metrics: scrypt gate: %w", err)
	}
	return nil
}
