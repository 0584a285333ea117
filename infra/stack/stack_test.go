package stack

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"ticketing.dev/common/config"
)

// The services refuse a JWT_KEY under config.MinJWTKeyBytes at start; the
// stack's must pass, and differ from run to run.
func TestNewJWTKey_IsLongEnoughAndFresh(t *testing.T) {
	key := newJWTKey()

	assert.GreaterOrEqual(t, len(key), config.MinJWTKeyBytes)
	assert.Len(t, key, 64, "48 bytes in base64")
	assert.NotEqual(t, key, newJWTKey())
}

// Every service of the stack listens on loopback only, where the services
// read it (config.ReadListenAddr).
func TestBaseEnv_BindsEveryServiceToLoopback(t *testing.T) {
	env := config.NewEnv(func(name string) string {
		for _, kv := range baseEnv(4100, "info") {
			if k, v, _ := strings.Cut(kv, "="); k == name {
				return v
			}
		}
		return ""
	})
	assert.Equal(t, "127.0.0.1:4100", config.ReadListenAddr(env))
}
