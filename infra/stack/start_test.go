package stack

import (
	"context"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/embedded"
)

// fakeServiceAddr, set in a child's environment, makes this test binary
// that child: a service that takes fakeServiceStart to start, then answers
// /readyz at the address until it is stopped.
const fakeServiceAddr = "STACK_TEST_FAKE_SERVICE_ADDR"

// fakeServiceStart is long against the 2 ms between readiness checks, so
// that two starts that overlap cannot pass for one after the other.
const fakeServiceStart = 150 * time.Millisecond

func TestMain(m *testing.M) {
	if addr := os.Getenv(fakeServiceAddr); addr != "" {
		time.Sleep(fakeServiceStart) // the start-up the stack waits for
		http.HandleFunc("/readyz", func(http.ResponseWriter, *http.Request) {})
		if err := http.ListenAndServe(addr, nil); err != nil {
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// startFakes starts three fake services through startAll, as Start starts
// the real ones, and returns their processes in start order.
func startFakes(t *testing.T, cfg Config) []*proc {
	t.Helper()
	bin, err := os.Executable()
	require.NoError(t, err)
	cfg.ReadyTimeout = 30 * time.Second
	s := newStack(cfg)
	t.Cleanup(s.Stop)
	var svcs []*service
	for _, name := range []string{"auth", "tickets", "orders"} {
		port, err := embedded.FreePort("127.0.0.1")
		require.NoError(t, err)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		svcs = append(svcs, &service{
			name:     name,
			bin:      bin,
			env:      []string{fakeServiceAddr + "=" + addr},
			readyURL: "http://" + addr + "/readyz",
		})
	}

	require.NoError(t, s.startAll(context.Background(), svcs))

	procs := s.children()
	require.Len(t, procs, len(svcs))
	for _, p := range procs {
		d, ok := p.ready()
		require.True(t, ok, "%s ready", p.name)
		require.GreaterOrEqual(t, d, fakeServiceStart, "%s ready after its start-up", p.name)
	}
	return procs
}

func TestStartAll_StartsTheServicesTogether(t *testing.T) {
	procs := startFakes(t, Config{})

	first := procs[0]
	firstReady, _ := first.ready()
	for _, p := range procs[1:] {
		assert.Less(t, p.started.Sub(first.started), firstReady,
			"%s started before %s was ready", p.name, first.name)
	}
}

// With OneAtATime each service starts once the one before it is ready, so
// that its ready time is its own start's alone (the bench's measure).
func TestStartAll_OneAtATimeStartsEachOnceTheOneBeforeIsReady(t *testing.T) {
	procs := startFakes(t, Config{OneAtATime: true})

	for i, p := range procs[1:] {
		before := procs[i]
		beforeReady, _ := before.ready()
		assert.False(t, p.started.Before(before.started.Add(beforeReady)),
			"%s started after %s was ready", p.name, before.name)
	}
}
