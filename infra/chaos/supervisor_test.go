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

	deadline := time.Now().Add(30 * time.Second)
	for {
		again, ok := stk.Pid("client")
		if ok && again != pid {
			resp, err := http.Get(stk.URL + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		require.True(t, time.Now().Before(deadline), "client not restarted within 30 s")
		time.Sleep(50 * time.Millisecond)
	}
	assert.Equal(t, before+1, stk.Restarts()["client"])
}

func TestKillAndRestart_OnlyNameServices(t *testing.T) {
	assert.Error(t, stk.Kill("redis"), "infrastructure is not killed this way")
	assert.Error(t, stk.Restart(t.Context(), "nats"))
}
