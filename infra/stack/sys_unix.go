//go:build unix

package stack

import (
	"os/exec"
	"syscall"
)

// userAttr runs a command as cred's user, when set.
func userAttr(cred *credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: sysCredential(cred)}
}

func sysCredential(cred *credential) *syscall.Credential {
	if cred == nil {
		return nil
	}
	return &syscall.Credential{Uid: cred.uid, Gid: cred.gid}
}

// terminate asks a child to stop.
func terminate(cmd *exec.Cmd) { _ = cmd.Process.Signal(syscall.SIGTERM) }

// killGroup kills a child and every process of its group.
func killGroup(cmd *exec.Cmd) { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
