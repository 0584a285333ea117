package stack

import (
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
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

// theJob holds every child of this process. It is never closed: Windows
// closes it when the process ends, however it ends, and then kills every
// process in it (JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE), as Linux's kernel
// does with Pdeathsig.
var theJob = sync.OnceValues(func() (windows.Handle, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return 0, fmt.Errorf("job object: %w", err)
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{
		BasicLimitInformation: windows.JOBOBJECT_BASIC_LIMIT_INFORMATION{
			LimitFlags: windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
		},
	}
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		_ = windows.CloseHandle(job)
		return 0, fmt.Errorf("job object: %w", err)
	}
	return job, nil
})

// watchChild puts the child in the process's job, so that it ends with
// the launcher.
func watchChild(pid int) error {
	job, err := theJob()
	if err != nil {
		return err
	}
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(pid))
	if err != nil {
		return fmt.Errorf("job object: open process %d: %w", pid, err)
	}
	defer windows.CloseHandle(h)
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		return fmt.Errorf("job object: assign process %d: %w", pid, err)
	}
	return nil
}

// forgetChild has nothing to do: an exited process leaves its job.
func forgetChild(int) {}
