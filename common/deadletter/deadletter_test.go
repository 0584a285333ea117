package deadletter_test

import (
	"testing"

	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/deadletter/deadlettertest"
	"ticketing.dev/common/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// TestStore runs the conformance suite of deadletter.Keeper on the
// MongoDB store, each test on a fresh database.
func TestStore(t *testing.T) {
	t.Parallel()
	deadlettertest.Run(t, func(t *testing.T) deadletter.Keeper {
		return deadletter.New(testkit.DB(t))
	})
}
