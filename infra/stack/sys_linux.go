package stack

import "syscall"

// childAttr puts a child in a process group of its own, as cred's user
// when set, and has the kernel kill it should the launcher die, even by
// SIGKILL.
func childAttr(cred *credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: sysCredential(cred)}
}

// watchChild has nothing to do on Linux: the kernel kills the child with
// the launcher (Pdeathsig).
func watchChild(int) error { return nil }

// forgetChild has nothing to do on Linux.
func forgetChild(int) {}
