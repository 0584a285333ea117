package outbox

// WithMaxQueued bounds the messages the relay keeps in memory, so that a
// test can exhaust it with a few.
func WithMaxQueued(n int) Option {
	return func(r *Relay) { r.maxQueued = n }
}
