package testkit

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
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
	port, err := freePort()
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
	if err := waitTCP(addr, 10*time.Second); err != nil {
		t.Fatalf("testkit: redis-server: %v", err)
	}
	return addr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting connections: %w", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
