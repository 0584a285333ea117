package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/web"
)

func TestServe_FinishesRequestsInFlightOnShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- web.Serve(ctx, ln, h, web.Nop) }()

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-started
	cancel()
	// The request is let finish only once shutdown has begun: the listener
	// is closed then.
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 5*time.Second, 10*time.Millisecond, "shutdown did not begin")
	close(release)

	r := <-got
	require.NoError(t, r.err)
	assert.Equal(t, "done", r.body)
	require.NoError(t, <-served)

	_, err = http.Get("http://" + ln.Addr().String() + "/")
	assert.Error(t, err, "no new connections after shutdown")
}

// fastTimeouts are short enough for a test to watch a client being cut off.
var fastTimeouts = web.Timeouts{
	ReadHeader: 300 * time.Millisecond,
	Read:       600 * time.Millisecond,
	Write:      time.Second,
	Idle:       time.Second,
	Shutdown:   time.Second,
}

// serveFast serves h with fastTimeouts until the test ends and returns the
// address.
func serveFast(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- web.Serve(ctx, ln, h, web.Nop, web.WithTimeouts(fastTimeouts)) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-served)
	})
	return ln.Addr().String()
}

// sendSlowly sends request to the server at addr, and then piece(i), the
// i-th from 0, every 50 ms until the server closes the connection. It fails
// the test if the server still holds the connection after 5 seconds, and
// returns what the server answered and how long after the first byte it
// closed the connection.
func sendSlowly(t *testing.T, addr, request string, piece func(i int) string) (answer string, elapsed time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	start := time.Now()
	_, err = io.WriteString(conn, request)
	require.NoError(t, err)
	stop := make(chan struct{})
	defer close(stop)
	go trickle(conn, 50*time.Millisecond, stop, piece)

	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	got, err := io.ReadAll(conn)

	elapsed = time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server still held the connection after %v", elapsed)
	}
	return string(got), elapsed
}

// trickle writes piece(i), i from 0, one every interval until the
// connection fails or stop is closed.
func trickle(conn net.Conn, interval time.Duration, stop <-chan struct{}, piece func(i int) string) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(interval):
		}
		if _, err := io.WriteString(conn, piece(i)); err != nil {
			return
		}
	}
}

func TestServe_CutsOffAClientSendingItsHeadersSlowly(t *testing.T) {
	addr := serveFast(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a request whose headers never end reached the handler")
	}))
	answer, elapsed := sendSlowly(t, addr, "GET / HTTP/1.1\r\nHost: test\r\n", func(i int) string {
		return fmt.Sprintf("X-Slow-%d: a\r\n", i)
	})

	assert.NotContains(t, answer, "200 OK")
	assert.GreaterOrEqual(t, elapsed, fastTimeouts.ReadHeader-50*time.Millisecond, "cut off before its time")
	assert.Less(t, elapsed, 3*time.Second, "cut off %v after the first byte", elapsed)
}

func TestServe_CutsOffAClientSendingItsBodySlowly(t *testing.T) {
	addr := serveFast(t, web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		var v struct{ A string }
		if err := web.Decode(w, r, &v); err != nil {
			return err
		}
		return web.Respond(w, r, http.StatusOK, v)
	}))
	answer, elapsed := sendSlowly(t, addr, "POST / HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
		func(int) string { return " " })

	assert.True(t, strings.HasPrefix(answer, "HTTP/1.1 400 "), "%q", answer)
	assert.Contains(t, answer, `{"errors":[{"message":"Could not read request body"}]}`)
	assert.GreaterOrEqual(t, elapsed, fastTimeouts.Read-50*time.Millisecond, "cut off before its time")
	assert.Less(t, elapsed, 3*time.Second, "cut off %v after the first byte", elapsed)
}

func TestDefaultTimeouts_BoundEveryPhase(t *testing.T) {
	d := web.DefaultTimeouts()
	for name, v := range map[string]time.Duration{
		"read header": d.ReadHeader, "read": d.Read, "write": d.Write, "idle": d.Idle, "shutdown": d.Shutdown,
	} {
		assert.Positive(t, v, name)
		assert.LessOrEqual(t, v, 2*time.Minute, name)
	}
	assert.LessOrEqual(t, d.ReadHeader, 10*time.Second, "slowloris clients are cut off soon")
	assert.Less(t, d.ReadHeader, d.Read)
}
