package app_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/app"
	"ticketing.dev/common/config"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web"
	"ticketing.dev/common/web/webtest"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// configOf is a service's configuration on a fresh database, the bus n
// and free metrics and profile addresses.
func configOf(t *testing.T, n embedded.Bus) app.Config {
	t.Helper()
	b := testkit.BusConfig(n)
	return app.Config{
		Name:     "tickets",
		Process:  config.Process{ListenAddr: testkit.FreeAddr(t), DebugAddr: testkit.FreeAddr(t), PprofAddr: testkit.FreeAddr(t)},
		MongoURI: testkit.MongoURI(t),
		NATS:     &config.NATS{Transport: b.Transport, URL: b.URL, ClusterID: b.ClusterID, ClientID: b.ClientID},
	}
}

// open opens cfg's service, failing the test when it cannot.
func open(t *testing.T, cfg app.Config) *app.App {
	t.Helper()
	a, err := app.Open(t.Context(), cfg, io.Discard)
	require.NoError(t, err)
	return a
}

func get(t *testing.T, url string) int {
	t.Helper()
	r, err := webtest.Send(nil, http.MethodGet, url, "", nil, nil)
	require.NoError(t, err, url)
	return r.Status
}

func TestOpen_ServesMetricsAndRelaysAndCloseStopsAll(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	cfg := configOf(t, n)
	a := open(t, cfg)

	relay, err := a.Relay("tickets")
	require.NoError(t, err)
	require.NotNil(t, relay)
	require.NoError(t, a.Bus.Publish(t.Context(), string(events.SubjectTicketCreated), []byte(`{}`)))
	resp, err := http.Get("http://" + cfg.Process.DebugAddr + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(body), "ticketing_outbox_pending", "the relay's backlog is in the metrics")
	assert.Contains(t, string(body), "ticketing_bus_published", "so are the bus's counts")
	assert.Equal(t, http.StatusNotFound, get(t, "http://"+cfg.Process.DebugAddr+"/debug/pprof/"), "no profiles beside the metrics")
	assert.Equal(t, http.StatusOK, get(t, "http://"+cfg.Process.PprofAddr+"/debug/pprof/"), "profiles on PPROF_ADDR")

	require.NoError(t, a.Close())
	_, err = http.Get("http://" + cfg.Process.DebugAddr + "/metrics")
	assert.Error(t, err, "the debug listener is closed")
	_, err = http.Get("http://" + cfg.Process.PprofAddr + "/debug/pprof/")
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
	_, err = http.Get("http://" + cfg.Process.DebugAddr + "/metrics")
	assert.Error(t, err, "the debug listener opened first is closed again")
}

func TestOpen_OpensNoDatabaseAndNoBusWhenNoneIsConfigured(t *testing.T) {
	t.Parallel()
	a := open(t, app.Config{Name: "expiration", Process: config.Process{ListenAddr: testkit.FreeAddr(t)}})
	assert.Nil(t, a.DB)
	assert.Nil(t, a.Bus)
	assert.Empty(t, a.Checks(), "nothing to check")
	require.NoError(t, a.Close())
}

// serve runs a.Serve with a handler answering 204 until it returns, and
// returns its error; it waits until the handler answers first.
func serve(t *testing.T, ctx context.Context, a *app.App, addr string) <-chan error {
	t.Helper()
	served := make(chan error, 1)
	go func() {
		served <- a.Serve(ctx, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	}()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusNoContent
	}, 10*time.Second, 10*time.Millisecond, "the handler is served on the process's address")
	return served
}

func TestServe_StopsWhenABackgroundFunctionReturnsAndCloseStopsTheOthers(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	cfg := configOf(t, n)
	a := open(t, cfg)
	assert.ElementsMatch(t, []string{"mongo", "nats"}, keys(a.Checks()))

	failed := make(chan struct{})
	a.Go(t.Context(), func(context.Context) error {
		<-failed
		return errors.New("relay gave up")
	})
	stopped := make(chan struct{})
	a.Go(t.Context(), func(ctx context.Context) error {
		<-ctx.Done()
		close(stopped)
		return nil
	})
	served := serve(t, t.Context(), a, cfg.Process.ListenAddr)

	close(failed)
	select {
	case err := <-served:
		require.NoError(t, err, "a clean shutdown: the bus is still there")
	case <-time.After(10 * time.Second):
		t.Fatal("Serve went on after a background function returned")
	}
	assert.ErrorContains(t, a.Close(), "relay gave up", "Close returns what the background functions returned")
	select {
	case <-stopped:
	default:
		t.Fatal("Close returned without stopping the other background function")
	}
}

func TestServe_EndsCleanlyWhenCtxIsDone(t *testing.T) {
	t.Parallel()
	addr := testkit.FreeAddr(t)
	a := open(t, app.Config{Name: "client", Process: config.Process{ListenAddr: addr}})
	defer a.Close()
	ctx, cancel := context.WithCancel(t.Context())
	served := serve(t, ctx, a, addr)
	cancel()
	require.NoError(t, <-served)
}

func TestServe_EndsWithTheBussErrorWhenTheBusIsLostForGood(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	cfg := configOf(t, n)
	cfg.LostAfter = 2 * time.Second
	a := open(t, cfg)
	defer a.Close()
	served := serve(t, t.Context(), a, cfg.Process.ListenAddr)

	n.Stop()
	select {
	case err := <-served:
		require.Error(t, err, "the service exits with an error, to be restarted")
	case <-time.After(60 * time.Second):
		t.Fatal("Serve went on after the bus was lost")
	}
}

func keys(m map[string]web.Check) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
