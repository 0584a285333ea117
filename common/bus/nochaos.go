//go:build !chaos

package bus

import "github.com/nats-io/stan.go"

// chaosHook does nothing outside builds with the chaos tag (see chaos.go).
func chaosHook(*stan.Msg) {}
