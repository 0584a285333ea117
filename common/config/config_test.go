package config_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/config"
)

func env(vars map[string]string) *config.Env {
	return config.NewEnv(func(k string) string { return vars[k] })
}

func TestReadHTTP_Defaults(t *testing.T) {
	e := env(map[string]string{"JWT_KEY": "k", "MONGO_URI": "mongodb://db/auth"})
	c := config.ReadHTTP(e)
	require.NoError(t, e.Err())
	assert.Equal(t, "3000", c.Port)
	assert.Equal(t, []byte("k"), c.JWTKey)
	assert.True(t, c.CookieSecure)
	assert.Equal(t, 24*time.Hour, c.SessionTTL)
	assert.Equal(t, slog.LevelInfo, c.LogLevel)
}

func TestReadHTTP_NamesEveryMissingVariable(t *testing.T) {
	e := env(nil)
	config.ReadHTTP(e)
	config.ReadNATS(e)
	err := e.Err()
	require.Error(t, err)
	for _, name := range []string{"JWT_KEY", "MONGO_URI", "NATS_URL", "NATS_CLUSTER_ID", "NATS_CLIENT_ID"} {
		assert.Contains(t, err.Error(), name+" must be defined")
	}
}

func TestEnv_RejectsMalformedValues(t *testing.T) {
	e := env(map[string]string{
		"COOKIE_SECURE": "maybe", "EXPIRATION_WINDOW": "soon", "RATE_LIMIT": "-1", "LOG_LEVEL": "loud",
	})
	assert.True(t, e.Bool("COOKIE_SECURE", true))
	assert.Equal(t, 15*time.Minute, e.Duration("EXPIRATION_WINDOW", 15*time.Minute))
	assert.Equal(t, 60, e.Int("RATE_LIMIT", 60))
	e.LogLevel("LOG_LEVEL")
	err := e.Err()
	require.Error(t, err)
	for _, name := range []string{"COOKIE_SECURE", "EXPIRATION_WINDOW", "RATE_LIMIT", "LOG_LEVEL"} {
		assert.Contains(t, err.Error(), name)
	}
}

func TestEnv_ParsesValues(t *testing.T) {
	e := env(map[string]string{"COOKIE_SECURE": "false", "EXPIRATION_WINDOW": "3s", "RATE_LIMIT": "0", "LOG_LEVEL": "debug"})
	assert.False(t, e.Bool("COOKIE_SECURE", true))
	assert.Equal(t, 3*time.Second, e.Duration("EXPIRATION_WINDOW", time.Minute))
	assert.Equal(t, 0, e.Int("RATE_LIMIT", 60))
	assert.Equal(t, slog.LevelDebug, e.LogLevel("LOG_LEVEL"))
	assert.NoError(t, e.Err())
}
