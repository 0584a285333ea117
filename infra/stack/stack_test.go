package stack

import (
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
