package embedded

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"
)

// FreePort returns a TCP port on host that was free a moment ago, for a
// server that must be named in a configuration before it listens.
//
// The port is not taken from the range the system hands out for outgoing
// connections and for port 0 (32768–60999 on Linux, 49152–65535 on macOS
// and Windows): a port from there, released by this check, can be taken by
// any connection the process or another makes before the server binds it —
// under load, a database pool's next connection — and the server then
// fails to start. Below that range only a server asking for that very port
// can take it, and FreePort never hands the same port out twice in one
// process. Should every try fail, it falls back to a port of the system's
// choosing.
func FreePort(host string) (int, error) {
	for range 64 {
		port := handOut()
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err == nil {
			l.Close()
			return port, nil
		}
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// The ports FreePort tries: above the well-known services most machines
// run, below every system's range for outgoing connections.
const (
	firstPort = 20000
	lastPort  = 32767
)

// handedOut are the ports FreePort has tried in this process.
var handedOut struct {
	sync.Mutex
	ports map[int]bool
}

// handOut returns a port of [firstPort, lastPort] not tried before in this
// process.
func handOut() int {
	handedOut.Lock()
	defer handedOut.Unlock()
	if handedOut.ports == nil || len(handedOut.ports) > (lastPort-firstPort)/2 {
		handedOut.ports = make(map[int]bool) // long since released
	}
	for {
		port := firstPort + rand.IntN(lastPort-firstPort+1)
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return port
		}
	}
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
