package stack

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"ticketing.dev/common/bus"
)

// Supervision of services that exit on their own (Config.Restart).
const (
	// firstBackoff is the wait before the first restart; each crash in a
	// row doubles it.
	firstBackoff = time.Second
	// maxCrashes is how many times in a row a service may exit within
	// crashWindow of its start before the stack gives up on it and reports
	// it on Exited, as Kubernetes' CrashLoopBackOff would keep a broken
	// pod from looping fast forever.
	maxCrashes  = 5
	crashWindow = 30 * time.Second
)

// service is what it takes to start one of the services again: the same
// program with the same environment, hence the same port behind the
// gateway and the same NATS Streaming client id, as a container restarted
// in its pod.
type service struct {
	name, bin, readyURL string
	env                 []string
	// debugAddr and pprofAddr are where it serves its metrics and its
	// profiles, when Config.Debug is set.
	debugAddr, pprofAddr string

	// startMu lets one start happen at a time, whether Restart or the
	// supervisor asks for it.
	startMu sync.Mutex
	crashes int // exits in a row soon after a start; guarded by Stack.mu
}

// launch starts svc and records it in place of its previous process. With
// replace it first kills a previous process that still runs; otherwise a
// running one is left alone and returned. It fails once Stop has begun.
func (s *Stack) launch(svc *service, replace bool) (*proc, error) {
	svc.startMu.Lock()
	defer svc.startMu.Unlock()
	if old := s.current(svc.name); old != nil && !old.exited() {
		if !replace {
			return old, nil
		}
		s.kill(old)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return nil, fmt.Errorf("start %s: the stack is stopping", svc.name)
	}
	p, err := startProc(svc.name, svc.bin, nil, svc.env, s.out)
	if err != nil {
		return nil, err
	}
	s.put(p)
	go s.await(p)
	return p, nil
}

// put records p in place of the previous process of its name, or after
// the others. s.mu is held.
func (s *Stack) put(p *proc) {
	for i, q := range s.procs {
		if q.name == p.name {
			s.procs[i] = p
			return
		}
	}
	s.procs = append(s.procs, p)
}

// current returns the latest process of the child name, or nil.
func (s *Stack) current(name string) *proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

// await waits for p to exit and decides what follows: nothing when the
// stack stopped or killed it; a restart when it is a service and the stack
// supervises; otherwise a report on Exited.
func (s *Stack) await(p *proc) {
	<-p.done
	s.mu.Lock()
	expected := s.stopping || s.killed[p]
	delete(s.killed, p)
	svc := s.services[p.name]
	supervise := s.cfg.Restart && s.supervising && svc != nil && !expected
	crashes := 0
	if supervise {
		if time.Since(p.started) < crashWindow {
			svc.crashes++
		} else {
			svc.crashes = 1
		}
		crashes = svc.crashes
	}
	s.mu.Unlock()

	switch {
	case expected:
		return
	case !supervise:
	case crashes > maxCrashes:
		s.status("%s exited (%v) %d times in a row soon after starting; giving up on it", p.name, p.err, crashes)
	default:
		backoff := firstBackoff << (crashes - 1)
		s.status("%s exited (%v); restarting it in %v", p.name, p.err, backoff)
		select {
		case <-s.stopped:
			return
		case <-time.After(backoff):
		}
		s.mu.Lock()
		s.restarts[p.name]++
		s.mu.Unlock()
		if err := s.startAndWait(context.Background(), svc, false); err != nil {
			s.status("%s: restart failed: %v", p.name, err)
		}
		return
	}
	select {
	case s.exited <- p.name:
	default:
	}
}

// startAndWait launches svc and waits until it is ready.
func (s *Stack) startAndWait(ctx context.Context, svc *service, replace bool) error {
	p, err := s.launch(svc, replace)
	if err != nil {
		return err
	}
	return p.waitReady(ctx, svc.readyURL, s.cfg.ReadyTimeout)
}

func (s *Stack) service(name string) (*service, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc, ok := s.services[name]
	if !ok {
		return nil, fmt.Errorf("stack: %q is not one of the services %v", name, Services)
	}
	return svc, nil
}

// Kill ends the service name with SIGKILL, as a crash or an OOM kill would,
// and returns once it is gone. The service stays down, even under
// Config.Restart, until Restart starts it again.
func (s *Stack) Kill(name string) error {
	if _, err := s.service(name); err != nil {
		return err
	}
	p := s.current(name)
	if p == nil || p.exited() {
		return fmt.Errorf("stack: kill %s: it is not running", name)
	}
	s.kill(p)
	return nil
}

// kill SIGKILLs p's process group, marking the exit as wanted, and waits.
func (s *Stack) kill(p *proc) {
	s.mu.Lock()
	s.killed[p] = true
	s.mu.Unlock()
	killGroup(p.cmd)
	<-p.done
}

// Restart starts the service name again with its environment and port,
// killing it first should it still run, and returns once it answers its
// readiness check (database and NATS Streaming reachable).
func (s *Stack) Restart(ctx context.Context, name string) error {
	svc, err := s.service(name)
	if err != nil {
		return err
	}
	if err := s.startAndWait(ctx, svc, true); err != nil {
		return fmt.Errorf("stack: restart %s: %w", name, err)
	}
	return nil
}

// StopNATS stops the embedded bus server. Its channels or stream, durable
// queue groups and clients stay in its file store for StartNATS.
func (s *Stack) StopNATS() {
	s.status("%s: stopping", busName(s.cfg.Bus))
	s.nats.Stop()
}

// StartNATS starts the bus server again on the same port and store.
func (s *Stack) StartNATS() error {
	s.mu.Lock()
	stopping := s.stopping
	s.mu.Unlock()
	if stopping {
		return fmt.Errorf("stack: start %s: the stack is stopping", busName(s.cfg.Bus))
	}
	if err := s.nats.Start(); err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	s.status("%s: started again at %s", busName(s.cfg.Bus), s.nats.URL())
	return nil
}

// Bus returns the configuration of a client of the stack's bus named
// clientID, with the credentials of a user who may publish every event but
// consume none (bus.OperatorGrant), for tests that publish events by hand.
func (s *Stack) Bus(clientID string) bus.Config {
	return bus.Config{
		Transport: s.nats.Transport(), URL: s.operatorURL(),
		ClusterID: s.nats.ClusterID(), ClientID: clientID,
	}
}

// RestartNATS stops the bus server and starts it again at once.
func (s *Stack) RestartNATS() error {
	s.StopNATS()
	return s.StartNATS()
}

// Restarts returns how many times the supervisor (Config.Restart) has
// restarted each service that exited on its own; Restart is not counted.
func (s *Stack) Restarts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.restarts)
}

// MongoURI is the URI of the stack's MongoDB-compatible server, without a
// database: each service uses the database named after it (auth, tickets,
// orders, payments).
func (s *Stack) MongoURI() string { return s.ferret.URI() }
