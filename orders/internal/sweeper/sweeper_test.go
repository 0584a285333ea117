package sweeper_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"ticketing.dev/orders/internal/sweeper"
)

// The sweeper's sweeps run on the orders service, in its package main
// (sweeper_test.go beside main.go).

func TestNew_RefusesANonPositiveInterval(t *testing.T) {
	_, err := sweeper.New(nil, time.Minute, 0, slog.New(slog.DiscardHandler), nil)
	assert.Error(t, err)
}
