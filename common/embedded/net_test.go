package embedded

import (
	"net"
	"strconv"
	"testing"
)

// FreePort's ports lie outside every system's range for outgoing
// connections, so that no connection takes one before its server binds
// it, are never handed out twice, and can be listened on.
func TestFreePort_OutsideTheEphemeralRangeNeverTwiceAndFree(t *testing.T) {
	seen := map[int]bool{}
	for range 200 {
		port, err := FreePort("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if port < firstPort || port > lastPort {
			t.Fatalf("port %d outside [%d, %d]", port, firstPort, lastPort)
		}
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		seen[port] = true
	}
	port, err := FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("the port handed out cannot be listened on: %v", err)
	}
	l.Close()
}
