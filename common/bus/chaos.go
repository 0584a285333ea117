//go:build chaos

package bus

import "bytes"

// chaosHook makes the handler of an event panic on its first delivery when
// the payload carries ChaosPanicMarker. Only builds with the chaos tag have
// it: the chaos run builds the services so, to see a panicking handler
// recovered and its event handled on the next delivery.
func chaosHook(m *message) {
	if m.deliveries == 1 && bytes.Contains(m.data, []byte(ChaosPanicMarker)) {
		panic("chaos: " + ChaosPanicMarker)
	}
}
