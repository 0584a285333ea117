package redisstore_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/deadletter/deadlettertest"
	"ticketing.dev/common/deadletter/redisstore"
	"ticketing.dev/common/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// eachRedis runs test on a real redis-server and on miniredis, the two
// Redis servers the service runs on (the local stack embeds miniredis when
// redis-server is missing); start starts a fresh one of them for a test
// and returns its address.
func eachRedis(t *testing.T, test func(t *testing.T, start func(testing.TB) string)) {
	t.Helper()
	for name, start := range map[string]func(testing.TB) string{
		"redis-server": testkit.RedisServer,
		"miniredis":    testkit.MiniRedis,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, start)
		})
	}
}

// TestStore runs the conformance suite of deadletter.Keeper on the Redis
// store, on each Redis, each test on a Redis of its own.
func TestStore(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, start func(testing.TB) string) {
		deadlettertest.Run(t, func(t *testing.T) deadletter.Keeper {
			rdb := redis.NewClient(&redis.Options{Addr: start(t)})
			t.Cleanup(func() { _ = rdb.Close() })
			return redisstore.New(rdb)
		})
	})
}
