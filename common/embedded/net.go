package embedded

import (
	"fmt"
	"net"
	"time"
)

// FreePort returns a TCP port on host that was free a moment ago. Another
// process may take it before the caller listens on it; the servers here and
// the tests that start services accept that small race for a port they can
// name in a config before the listener exists.
func FreePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitTCP waits until addr accepts a TCP connection, for up to timeout: the
// moment a server started in another goroutine or process is ready.
func WaitTCP(addr string, timeout time.Duration) error {
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
