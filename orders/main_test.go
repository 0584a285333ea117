package main

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

func TestRun_MissingConfigurationNamesEveryVariable(t *testing.T) {
	err := run(t.Context(), func(string) string { return "" }, io.Discard)
	require.Error(t, err)
	for _, name := range []string{"JWT_KEY", "MONGO_URI", "NATS_URL", "NATS_CLUSTER_ID", "NATS_CLIENT_ID"} {
		assert.Contains(t, err.Error(), name)
	}
}

func TestRun_BadConfigurationIsRefusedNamingIt(t *testing.T) {
	tests := []struct {
		name, variable, value, want string
	}{
		{"JWT_KEY of 31 bytes", "JWT_KEY", testkit.JWTKey[:31], "JWT_KEY must be at least 32 bytes"},
		{"EXPIRATION_WINDOW not a duration", "EXPIRATION_WINDOW", "soon", "EXPIRATION_WINDOW"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{
				"JWT_KEY": testkit.JWTKey, "MONGO_URI": "mongodb://127.0.0.1:1/orders",
				"NATS_URL": "nats://127.0.0.1:1", "NATS_CLUSTER_ID": "ticketing", "NATS_CLIENT_ID": "orders-1",
			}
			env[tt.variable] = tt.value
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()

			err := run(ctx, testkit.Getenv(env), io.Discard)

			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NoError(t, ctx.Err(), "stopped at once, without trying to connect")
		})
	}
}

func TestRun_BadExpiryGraceIsRefused(t *testing.T) {
	for _, grace := range []string{"soon", "0", "-1m", "500ms"} {
		t.Run(grace, func(t *testing.T) {
			env := map[string]string{
				"JWT_KEY": testkit.JWTKey, "MONGO_URI": "mongodb://127.0.0.1:1/orders",
				"NATS_URL": "nats://127.0.0.1:1", "NATS_CLUSTER_ID": "ticketing", "NATS_CLIENT_ID": "orders-1",
				"EXPIRY_GRACE": grace,
			}
			err := run(t.Context(), testkit.Getenv(env), io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "EXPIRY_GRACE")
		})
	}
}

func TestReadSettings_ExpiryGraceDefaultsToAMinute(t *testing.T) {
	env := map[string]string{
		"JWT_KEY": testkit.JWTKey, "MONGO_URI": "mongodb://127.0.0.1:1/orders",
		"NATS_URL": "nats://127.0.0.1:1", "NATS_CLUSTER_ID": "ticketing", "NATS_CLIENT_ID": "orders-1",
	}
	cfg, err := readSettings(testkit.Getenv(env))
	require.NoError(t, err)
	assert.Equal(t, time.Minute, cfg.ExpiryGrace)

	env["EXPIRY_GRACE"] = "90s"
	cfg, err = readSettings(testkit.Getenv(env))
	require.NoError(t, err)
	assert.Equal(t, 90*time.Second, cfg.ExpiryGrace)
}

// TestRun_PlacesOrdersForTicketsLearnedFromEvents runs the whole service:
// a ticket:created on the bus reaches the replica, an order placed over HTTP
// is announced on the bus, and cancelling run's context shuts it down
// cleanly.
func TestRun_PlacesOrdersForTicketsLearnedFromEvents(t *testing.T) {
	t.Parallel()
	s := start(t)
	created := testkit.Observe[events.OrderCreated](t, s.nats)
	ticketID := "6b06f206db0ebb1c9087ba20"
	body := s.listAndOrder(t, ticketID, "6b06f206db0ebb1c9087ba21")

	e := testkit.Next(t, created)
	assert.Equal(t, body.ID, e.ID)
	assert.Equal(t, ticketID, e.Ticket.ID)
	assert.Equal(t, events.Money(2500), e.Ticket.Price)
	assert.Equal(t, body.ExpiresAt, e.ExpiresAt.String())
	assert.WithinDuration(t, time.Now().Add(2*time.Minute), e.ExpiresAt.Time, 10*time.Second)

	s.Stop()
	assert.NoError(t, s.Wait(t, 30*time.Second))
}

// TestRun_StopsWhenTheNATSConnectionIsLost checks that a service whose bus
// is gone for good exits with an error, to be restarted, instead of staying
// up half alive.
func TestRun_StopsWhenTheNATSConnectionIsLost(t *testing.T) {
	t.Parallel()
	s := start(t)

	s.nats.Stop()

	assert.ErrorIs(t, s.Wait(t, 40*time.Second), bus.ErrConnectionLost)
}
