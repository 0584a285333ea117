package testkit

import (
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"ticketing.dev/common/embedded"
)

// MiniRedis starts an in-process Redis for the test and returns its
// address. It keeps data in memory and does not expire keys with real time.
func MiniRedis(t testing.TB) string {
	t.Helper()
	return miniredis.RunT(t).Addr()
}

// RedisServer starts a real redis-server for the test, without persistence,
// and returns its address. `make test` installs redis-server when it is
// missing on Debian, and says how elsewhere (make deps); run outside make,
// the test fails with a message saying so.
func RedisServer(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testkit: redis-server is not installed (make deps installs it on Debian, or says how: apt-get install redis-server, brew install redis): %v", err)
	}
	port, err := embedded.FreePort("127.0.0.1")
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	cmd := exec.Command(bin,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--dir", t.TempDir(),
	)
	if err := cmd.Start(); err != nil {
		t.Fatalf("testkit: start redis-server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := embedded.WaitTCP(addr, 10*time.Second); err != nil {
		t.Fatalf("testkit: redis-server: %v", err)
	}
	return addr
}
