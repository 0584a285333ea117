package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"time"
)

// profiler saves the services' profiles, fetched from their PPROF_ADDR,
// into dir: CPU profiles taken one chunk after the other while the load
// runs, so that the last one ends soon after the load does, and a heap
// profile of each after it. go tool pprof reads them, and merges the chunks
// of one service given them all.
type profiler struct {
	dir   string
	chunk time.Duration
	logf  func(string, ...any)
}

// start profiles every service in addrs, by name, until the returned
// function is called; that function waits for the chunks in flight, so
// that every file saved is a whole profile.
func (p *profiler) start(ctx context.Context, addrs map[string]string) (stop func()) {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		p.logf("pprof: %v", err)
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	seconds := max(1, int(p.chunk/time.Second))
	for name, addr := range addrs {
		wg.Go(func() {
			for i := 1; ; i++ {
				url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds)
				file := filepath.Join(p.dir, fmt.Sprintf("%s-cpu-%02d.pb.gz", name, i))
				if err := fetch(ctx, url, file, p.chunk+30*time.Second); err != nil {
					p.logf("pprof: %s: %v", name, err)
					return
				}
				select {
				case <-done:
					return
				case <-ctx.Done():
					return
				default:
				}
			}
		})
	}
	p.logf("pprof: CPU profiles of %d services in %d-second chunks into %s", len(addrs), seconds, p.dir)
	stopSelf := p.self()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			stopSelf()
		})
	}
}

// self profiles this process, where the stack runs FerretDB, NATS
// Streaming and the gateway, and the load tool runs too, into
// stack-cpu.pb.gz until the returned function is called.
func (p *profiler) self() (stop func()) {
	f, err := os.Create(filepath.Join(p.dir, "stack-cpu.pb.gz"))
	if err != nil {
		p.logf("pprof: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		p.logf("pprof: this process: %v", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			p.logf("pprof: this process: %v", err)
		}
	}
}

// heap saves a heap profile of every service in addrs.
func (p *profiler) heap(ctx context.Context, addrs map[string]string) {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		p.logf("pprof: %v", err)
		return
	}
	for name, addr := range addrs {
		file := filepath.Join(p.dir, name+"-heap.pb.gz")
		if err := fetch(ctx, "http://"+addr+"/debug/pprof/heap", file, 30*time.Second); err != nil {
			p.logf("pprof: %s: %v", name, err)
		}
	}
}

// fetch saves what url answers into file.
func fetch(ctx context.Context, url, file string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("profile: %s: %s: %s", url, resp.Status, msg)
	}
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile: %s: %w", url, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	return nil
}
