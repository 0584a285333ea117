package outbox

// WithMaxQueued bounds the messages the relay keeps in memory, so that a
// test can exhaust it with a few.
func WithMaxQueued(n int) Option {
	return func(r *Relay) { r.maxQueued = n }
}

// WithoutLookShare keeps the backed-off poll at maxPollFactor times the
// poll interval, however long a look takes, so that a test's bound on the
// longest interval does not depend on how busy the machine is.
func WithoutLookShare() Option {
	return func(r *Relay) { r.share = 0 }
}
