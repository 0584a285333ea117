package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/app"
	"ticketing.dev/common/config"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// configOf is a service's configuration on a fresh database, the bus n
// and free metrics and profile addresses.
func configOf(t *testing.T, n embedded.Bus) app.Config {
	t.Helper()
	b := testkit.BusConfig(n)
	return app.Config{
		Name: "tickets",
		HTTP: config.HTTP{MongoURI: testkit.MongoURI(t), DebugAddr: freeAddr(t), PprofAddr: freeAddr(t)},
		NATS: config.NATS{Transport: b.Transport, URL: b.URL, ClusterID: b.ClusterID, ClientID: b.ClientID},
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := embedded.FreePort("127.0.0.1")
	require.NoError(t, err)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err, url)
	resp.Body.Close()
	return resp.StatusCode
}

func TestOpen_ServesMetricsAndRelaysAndCloseStopsAll(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	cfg := configOf(t, n)
	a, err := app.Open(t.Context(), cfg, io.Discard)
	require.NoError(t, err)

	relay, err := a.Relay("tickets", &keylock.Locks{})
	require.NoError(t, err)
	require.NotNil(t, relay)
	require.NoError(t, a.Bus.Publish(t.Context(), string(events.SubjectTicketCreated), []byte(`{}`)))
	resp, err := http.Get("http://" + cfg.HTTP.DebugAddr + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(body), "ticketing_outbox_pending", "the relay's backlog is in the metrics")
	assert.Contains(t, string(body), "ticketing_bus_published", "so are the bus's counts")
	assert.Equal(t, http.StatusNotFound, get(t, "http://"+cfg.HTTP.DebugAddr+"/debug/pprof/"), "no profiles beside the metrics")
	assert.Equal(t, http.StatusOK, get(t, "http://"+cfg.HTTP.PprofAddr+"/debug/pprof/"), "profiles on PPROF_ADDR")

	require.NoError(t, a.Close())
	_, err = http.Get("http://" + cfg.HTTP.DebugAddr + "/metrics")
	assert.Error(t, err, "the debug listener is closed")
	_, err = http.Get("http://" + cfg.HTTP.PprofAddr + "/debug/pprof/")
	assert.Error(t, err, "the profiles' listener is closed")
	assert.Error(t, a.Bus.Ping(t.Context()), "the bus is closed")
}

func TestOpen_ClosesWhatItOpenedWhenTheBusNeverAnswers(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	cfg := configOf(t, n)
	n.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()

	_, err := app.Open(ctx, cfg, io.Discard)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	_, err = http.Get("http://" + cfg.HTTP.DebugAddr + "/metrics")
	assert.Error(t, err, "the debug listener opened first is closed again")
}
