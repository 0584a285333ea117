package chaos_test

import (
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A service that dies by itself, not by Kill, is restarted by the stack's
// supervisor, as Kubernetes would restart its container.
func TestSupervisor_RestartsAServiceThatDiedOnItsOwn(t *testing.T) {
	before := stk.Restarts()["client"]
	pid, ok := stk.Pid("client")
	require.True(t, ok)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))

	require.Eventually(t, func() bool {
		again, ok := stk.Pid("client")
		if !ok || again == pid {
			return false
		}
		resp, err := http.Get(stk.URL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "client not restarted within 30 s")
	assert.Equal(t, before+1, stk.Restarts()["client"])
}

func TestKillAndRestart_OnlyNameServices(t *testing.T) {
	assert.Error(t, stk.Kill("redis"), "infrastructure is not killed this way")
	assert.Error(t, stk.Restart(t.Context(), "nats"))
}
