//go:build unix

package stack

import (
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sleeper starts a child in a group of its own, as the stack starts its
// children, and returns a channel that yields how it ended.
func sleeper(t *testing.T) (*exec.Cmd, <-chan error) {
	t.Helper()
	cmd := exec.Command("/bin/sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	return cmd, done
}

// The launcher's death is its end of the pipe closing, which close does
// as the kernel does when the launcher dies, however it dies.
func TestReaper_KillsTheWatchedGroupsWhenTheLauncherGoes(t *testing.T) {
	r, err := startReaper()
	require.NoError(t, err)
	cmd, done := sleeper(t)
	require.NoError(t, r.watch(cmd.Process.Pid))

	require.NoError(t, r.close())

	select {
	case err := <-done:
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit)
		status := exit.Sys().(syscall.WaitStatus)
		assert.Equal(t, syscall.SIGKILL, status.Signal())
	case <-time.After(10 * time.Second):
		t.Fatal("the watched child outlived its launcher")
	}
}

func TestReaper_LeavesAForgottenGroupAlone(t *testing.T) {
	r, err := startReaper()
	require.NoError(t, err)
	forgotten, forgottenDone := sleeper(t)
	watched, watchedDone := sleeper(t)
	require.NoError(t, r.watch(forgotten.Process.Pid))
	require.NoError(t, r.watch(watched.Process.Pid))
	require.NoError(t, r.forget(forgotten.Process.Pid))

	require.NoError(t, r.close())

	select {
	case <-watchedDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the watched child outlived its launcher")
	}
	// The reaper kills its groups in one pass: by the time the watched
	// one is gone, a kill of the forgotten one would have been sent too.
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the reaper did not exit")
	}
	select {
	case err := <-forgottenDone:
		t.Fatalf("a forgotten child was killed: %v", err)
	default:
	}
}
