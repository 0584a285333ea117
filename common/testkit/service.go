package testkit

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"testing"
	"time"

	"ticketing.dev/common/embedded"
)

// Run is a service's run function as main calls it, with whatever else the
// test injects (a clock, a charger) already bound.
type Run func(ctx context.Context, getenv func(string) string, stdout io.Writer) error

// Service is one service started through its real run function, in the
// test process, on the environment the test gave it.
type Service struct {
	// URL is where the service serves HTTP: http://127.0.0.1:PORT.
	URL string
	// Env is the service's environment, PORT included.
	Env map[string]string

	readyPath string
	cancel    context.CancelFunc
	done      chan struct{} // closed when run has returned err
	err       error
}

// ServiceOption changes how StartService starts a service.
type ServiceOption func(*serviceOptions)

type serviceOptions struct {
	stdout    io.Writer
	readyPath string
}

// Stdout sends the service's stdout, its JSON logs, to w instead of the
// test's log.
func Stdout(w io.Writer) ServiceOption {
	return func(o *serviceOptions) { o.stdout = w }
}

// ReadyPath makes StartService wait for path to answer 200 instead of
// /readyz: /healthz for a service expected to start without a dependency.
func ReadyPath(path string) ServiceOption {
	return func(o *serviceOptions) { o.readyPath = path }
}

// StartService runs run in the background with env as its environment (a
// free PORT added unless env names one) and waits until the service
// answers /readyz with 200, failing the test if run returns first. When
// the test ends it cancels run's context and waits for run to return.
func StartService(t testing.TB, run Run, env map[string]string, opts ...ServiceOption) *Service {
	t.Helper()
	o := serviceOptions{readyPath: "/readyz"}
	for _, opt := range opts {
		opt(&o)
	}
	env = maps.Clone(env)
	if env == nil {
		env = map[string]string{}
	}
	if env["PORT"] == "" {
		env["PORT"] = FreePort(t)
	}
	out := o.stdout
	if out == nil {
		out = Output(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{URL: "http://127.0.0.1:" + env["PORT"], Env: env, readyPath: o.readyPath, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = run(ctx, Getenv(env), out)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Errorf("testkit: service at %s did not stop within 30 s", s.URL)
		}
	})
	s.WaitReady(t)
	return s
}

// WaitReady waits until the service answers its readiness path with 200
// again, as after its bus server came back.
func (s *Service) WaitReady(t testing.TB) {
	t.Helper()
	WaitReady(t, s.URL+s.readyPath, func() error {
		select {
		case <-s.done:
			return fmt.Errorf("service stopped: %w", s.err)
		default:
			return nil
		}
	})
}

// WaitReady waits until url answers 200, failing the test as soon as
// stopped reports that the service is gone: a process of the service
// started by the test rather than by StartService.
func WaitReady(t testing.TB, url string, stopped func() error) {
	t.Helper()
	Eventually(t, func() bool {
		if err := stopped(); err != nil {
			t.Fatalf("testkit: waiting for %s: %v", url, err)
		}
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "%s to answer 200", url)
}

// ServiceEnv is the environment a service under test starts with: the
// test JWT_KEY, plain-HTTP cookies and debug logs, its database at
// mongoURI unless that is "", and the bus n (BusEnv) unless n is nil; then
// the variables of each of more, in order, over those.
func ServiceEnv(mongoURI string, n embedded.Bus, more ...map[string]string) map[string]string {
	env := map[string]string{
		"JWT_KEY":       JWTKey,
		"COOKIE_SECURE": "false",
		"LOG_LEVEL":     "debug",
	}
	if mongoURI != "" {
		env["MONGO_URI"] = mongoURI
	}
	if n != nil {
		maps.Copy(env, BusEnv(n))
	}
	for _, m := range more {
		maps.Copy(env, m)
	}
	return env
}

// Getenv looks variables up in env, as run's getenv does in the process's.
func Getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// Output is the test's log as a service's stdout: what the service writes
// after the test has ended is dropped instead of failing it.
func Output(t testing.TB) io.Writer { return quietAfter(t, t.Output()) }

// Stop cancels the service's context, as SIGTERM does to a process.
func (s *Service) Stop() { s.cancel() }

// Done is closed when run has returned.
func (s *Service) Done() <-chan struct{} { return s.done }

// Wait waits up to d for run to return and returns what it returned.
func (s *Service) Wait(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case <-s.done:
		return s.err
	case <-time.After(d):
		t.Fatalf("testkit: service at %s still running after %s", s.URL, d)
		return nil
	}
}

// StopAndWait stops the service and returns what run returned, failing the
// test if it takes more than 30 s.
func (s *Service) StopAndWait(t testing.TB) error {
	t.Helper()
	s.Stop()
	return s.Wait(t, 30*time.Second)
}
