package bus

import (
	"context"
	"fmt"
)

// ListenAll subscribes each of ls in turn, as a service subscribes its
// listeners at start, and stops at the first that fails.
func ListenAll(ctx context.Context, ls ...interface{ Listen(context.Context) error }) error {
	for _, l := range ls {
		if err := l.Listen(ctx); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	return nil
}
