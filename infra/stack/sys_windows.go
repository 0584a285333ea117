package stack

import (
	"os/exec"
	"syscall"
)

// childAttr starts a child in a process group of its own, so that a
// console's Ctrl-C reaches only the launcher. Windows has no user switch
// here: cred must be nil (the PostgreSQL backend's root check does not
// apply).
func childAttr(*credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// userAttr has nothing to change on Windows.
func userAttr(*credential) *syscall.SysProcAttr { return nil }

// terminate stops a child: Windows cannot deliver SIGTERM to another
// process, so it is killed.
func terminate(cmd *exec.Cmd) { _ = cmd.Process.Kill() }

// killGroup kills a child.
func killGroup(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
