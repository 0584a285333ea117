//go:build unix

package stack

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// reaperScript kills the process groups it was told about once its
// standard input ends: lines "+pid" add a group, "-pid" remove one. The
// input ends when the launcher, which alone holds the pipe's other end,
// exits or dies, however it dies; a launcher that stops its children
// itself removes each group first, so nothing is killed twice and no
// recycled group id is touched. A terminal's hang-up or Ctrl-C is no
// reason for it to stop early.
const reaperScript = `trap '' HUP INT
live=
while read -r op; do
	case $op in
	+*) live="$live ${op#+}" ;;
	-*)
		rest=
		for p in $live; do [ "$p" = "${op#-}" ] || rest="$rest $p"; done
		live=$rest
		;;
	esac
done
for p in $live; do kill -s KILL -- "-$p" 2>/dev/null; done
`

// reaper is a /bin/sh child that outlives the launcher just long enough to
// kill the launcher's children should the launcher die without stopping
// them: on Linux the kernel does this (Pdeathsig), elsewhere nothing does.
type reaper struct {
	mu     sync.Mutex
	w      *os.File      // the pipe's write end; Go opens it close-on-exec
	exited chan struct{} // closed once the reaper has exited
}

func startReaper() (*reaper, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("reaper: %w", err)
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", "-c", reaperScript)
	cmd.Stdin = r
	// A group of its own: the terminal's signals are for the launcher.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("reaper: %w", err)
	}
	// Reap it whenever it exits, so that it leaves no zombie behind.
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	return &reaper{w: w, exited: exited}, nil
}

// watch has the reaper kill the process group pid should the launcher die.
func (r *reaper) watch(pid int) error { return r.send(fmt.Sprintf("+%d\n", pid)) }

// forget tells the reaper that the group pid is gone.
func (r *reaper) forget(pid int) error { return r.send(fmt.Sprintf("-%d\n", pid)) }

func (r *reaper) send(line string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.w.WriteString(line); err != nil {
		return fmt.Errorf("reaper: %w", err)
	}
	return nil
}

// close ends the reaper's input, as the launcher's death does: it kills
// every group still watched and exits.
func (r *reaper) close() error { return r.w.Close() }
