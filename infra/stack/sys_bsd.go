//go:build unix && !linux

package stack

import "syscall"

// childAttr puts a child in a process group of its own, as cred's user
// when set. Only Linux can have the kernel kill it with the launcher: here
// a launcher killed by SIGKILL leaves its children running (Ctrl-C and
// SIGTERM stop them).
func childAttr(cred *credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: sysCredential(cred)}
}
