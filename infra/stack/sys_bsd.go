//go:build unix && !linux

package stack

import (
	"sync"
	"syscall"
)

// childAttr puts a child in a process group of its own, as cred's user
// when set. Only Linux's kernel kills a child with its parent; here the
// process's reaper does (watchChild).
func childAttr(cred *credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: sysCredential(cred)}
}

// theReaper serves every stack of this process: it is the process, not a
// stack, whose death must take the children with it.
var theReaper = sync.OnceValues(startReaper)

// watchChild has the child's process group killed should this process
// die without stopping it, even by SIGKILL.
func watchChild(pid int) error {
	r, err := theReaper()
	if err != nil {
		return err
	}
	return r.watch(pid)
}

// forgetChild is told that the child has exited.
func forgetChild(pid int) {
	if r, err := theReaper(); err == nil {
		_ = r.forget(pid)
	}
}
