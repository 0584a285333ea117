//go:build chaos

package bus

import (
	"bytes"

	"github.com/nats-io/stan.go"
)

// chaosHook makes the handler of an event panic on its first delivery when
// the payload carries ChaosPanicMarker. Only builds with the chaos tag have
// it: the chaos run builds the services so, to see a panicking handler
// recovered and its event handled on the next delivery.
func chaosHook(m *stan.Msg) {
	if m.RedeliveryCount == 0 && bytes.Contains(m.Data, []byte(ChaosPanicMarker)) {
		panic("chaos: " + ChaosPanicMarker)
	}
}
