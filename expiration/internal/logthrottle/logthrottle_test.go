package logthrottle_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"ticketing.dev/expiration/internal/logthrottle"
)

func TestLogger_LimitsWarningsAndCountsTheDropped(t *testing.T) {
	// The limiter reads the clock: in a synctest bubble it is fake, so the
	// interval is expiration's own and the test waits for none of it.
	synctest.Test(t, func(t *testing.T) {
		const interval = time.Second
		var out bytes.Buffer
		l := logthrottle.New(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})), interval, 2)
		ctx := context.Background()

		for range 10 {
			l.Log(ctx, slog.LevelError, "redis down")
		}
		l.Log(ctx, slog.LevelInfo, "informational lines are not limited")
		// A millisecond short, not a nanosecond: the limiter counts tokens
		// in floating point and rounds a wait under a nanosecond to none.
		time.Sleep(interval - time.Millisecond)
		l.Log(ctx, slog.LevelWarn, "dropped: within the interval")
		time.Sleep(time.Millisecond)
		l.Log(ctx, slog.LevelWarn, "still down")

		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if assert.Len(t, lines, 4) {
			assert.Contains(t, lines[2], "dropped_before=8")
			assert.Contains(t, lines[3], "dropped_before=1")
			assert.Contains(t, lines[3], "still down")
		}
	})
}
