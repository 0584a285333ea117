package logthrottle_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"ticketing.dev/expiration/internal/logthrottle"
)

func TestLogger_LimitsWarningsAndCountsTheDropped(t *testing.T) {
	var out bytes.Buffer
	l := logthrottle.New(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})), 50*time.Millisecond, 2)
	ctx := context.Background()

	for range 10 {
		l.Log(ctx, slog.LevelError, "redis down")
	}
	l.Log(ctx, slog.LevelInfo, "informational lines are not limited")
	time.Sleep(60 * time.Millisecond)
	l.Log(ctx, slog.LevelWarn, "still down")

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if assert.Len(t, lines, 4) {
		assert.Contains(t, lines[2], "dropped_before=8")
		assert.NotContains(t, lines[3], "dropped_before")
	}
}
