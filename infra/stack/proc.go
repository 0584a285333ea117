package stack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// tailLines is how many of a child's last log lines a failure report shows.
const tailLines = 20

// proc is one child process of the stack, its output prefixed with its name.
type proc struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{} // closed when the process has exited
	err     error         // why it exited; read after done

	mu   sync.Mutex
	tail []string
	// readyAfter is the time from its start to its first successful
	// readiness check; zero until then.
	readyAfter time.Duration
}

// out serialises the children's lines onto one writer.
type out struct {
	mu sync.Mutex
	w  io.Writer
}

func (o *out) println(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintln(o.w, s)
}

// credential is the user a child runs as, when not this process's.
type credential struct{ uid, gid uint32 }

func startProc(name, bin string, args, env []string, o *out) (*proc, error) {
	return startProcAs(name, bin, args, env, o, nil)
}

// startProcAs starts a child as the user cred names, or as this user.
func startProcAs(name, bin string, args, env []string, o *out, cred *credential) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	// Its own process group, so that a terminal's Ctrl-C reaches only the
	// launcher, which then stops the children in order; killed with the
	// launcher should the launcher itself die, by the kernel on Linux
	// (childAttr), by the reaper or the job object elsewhere (watchChild).
	cmd.SysProcAttr = childAttr(cred)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &proc{name: name, cmd: cmd, started: time.Now(), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	pid := cmd.Process.Pid
	if err := watchChild(pid); err != nil {
		killGroup(cmd)
		pr.Close() // nothing reads its output: let Wait's copy end
		_ = cmd.Wait()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		prefix := fmt.Sprintf("%-10s | ", name)
		for sc.Scan() {
			line := sc.Text()
			p.remember(line)
			o.println(prefix + line)
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		p.err = cmd.Wait()
		forgetChild(pid)
		pw.Close()
		<-copied
		close(p.done)
	}()
	return p, nil
}

func (p *proc) remember(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tail = append(p.tail, line)
	if len(p.tail) > tailLines {
		p.tail = p.tail[len(p.tail)-tailLines:]
	}
}

// lastLines returns the child's last lines of output.
func (p *proc) lastLines() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tail) == 0 {
		return "    (no output)"
	}
	return "    " + strings.Join(p.tail, "\n    ")
}

// ready returns the time from the child's start to its first successful
// readiness check, and whether it was ready.
func (p *proc) ready() (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readyAfter, p.readyAfter > 0
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the child to stop with SIGTERM and kills it after grace.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	terminate(p.cmd)
	select {
	case <-p.done:
	case <-time.After(grace):
		killGroup(p.cmd)
		<-p.done
	}
}

// readyPoll is how often waitReady asks: it bounds the resolution of the
// ready times measured (Stack.ReadyTimes), whose target is 100 ms.
const readyPoll = 2 * time.Millisecond

// waitReady polls url until it answers 200, the child exits, or timeout,
// and records how long after its start the child was first ready.
func (p *proc) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.mu.Lock()
				p.readyAfter = time.Since(p.started)
				p.mu.Unlock()
				client.CloseIdleConnections()
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); its last lines:\n%s", p.name, p.err, p.lastLines())
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s not ready after %v; its last lines:\n%s", p.name, timeout, p.lastLines())
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}
