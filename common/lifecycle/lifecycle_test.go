package lifecycle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/lifecycle"
)

func TestLogger_WritesJSONNamingTheService(t *testing.T) {
	var buf bytes.Buffer
	lifecycle.Logger(&buf, slog.LevelInfo, "tickets").Info("hello", "n", 1)
	lifecycle.Logger(&buf, slog.LevelInfo, "tickets").Debug("hidden")
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	assert.Equal(t, "tickets", line["service"])
	assert.Equal(t, "hello", line["msg"])
}

func TestClose_JoinsErrors(t *testing.T) {
	first, second := errors.New("first"), errors.New("second")
	err := first
	lifecycle.Close(&err, func() error { return second })
	assert.ErrorIs(t, err, first)
	assert.ErrorIs(t, err, second)

	var none error
	lifecycle.Close(&none, func() error { return nil })
	assert.NoError(t, none)
}

func TestBackground_RunsUntilStoppedNotUntilCtxEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	want := errors.New("stopped")
	b := lifecycle.Go(ctx, func(ctx context.Context) error {
		<-ctx.Done()
		return want
	})
	cancel()
	select {
	case <-b.Done():
		t.Fatal("background work ended with its parent context")
	case <-time.After(50 * time.Millisecond):
	}
	assert.ErrorIs(t, b.Stop(), want)
	<-b.Done()
}

func TestUntil_EndsWhenAnyStopCloses(t *testing.T) {
	lost, other := make(chan struct{}), make(chan struct{})
	ctx, cancel := lifecycle.Until(t.Context(), lost, other)
	defer cancel()
	assert.NoError(t, ctx.Err())
	close(other)
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
		t.Fatal("not done after a stop channel closed")
	}
}

func TestRetry_UntilSuccessOrContextEnd(t *testing.T) {
	calls := 0
	err := lifecycle.Retry(t.Context(), slog.New(slog.DiscardHandler), "create indexes", func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("no server")
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 3, calls)

	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	down := errors.New("still no server")
	err = lifecycle.Retry(ctx, slog.New(slog.DiscardHandler), "create indexes", func(context.Context) error { return down })
	assert.ErrorIs(t, err, down)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "create indexes")
}
