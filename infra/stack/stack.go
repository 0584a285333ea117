// Package stack runs the whole system on one machine with nothing installed
// but Go: an embedded NATS Streaming (or NATS JetStream) and FerretDB, Redis (a real redis-server
// when there is one, else an embedded one), stripe-mock, every service as
// its own process configured as in Kubernetes, and a gateway routing like
// the ingress. `make run` and the end-to-end tests use it, and the chaos
// tests, which kill and restart its parts (Kill, Restart, StopNATS).
package stack

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"golang.org/x/sync/errgroup"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/embedded"
	"ticketing.dev/infra/gateway"
)

// Services are the programs the stack builds and runs, in start order.
var Services = []string{"auth", "tickets", "orders", "expiration", "payments", "client"}

// Config configures a stack.
type Config struct {
	// Root is the repository's root folder, where go.work is.
	Root string
	// GatewayAddr is where the gateway listens; "127.0.0.1:0" picks a port.
	GatewayAddr string
	// DataDir keeps data across runs when set; otherwise it lives in a
	// temporary folder removed at Stop.
	DataDir string
	// ExpirationWindow and RateLimit are passed to orders and auth when set.
	// A window shorter than Stripe's 25 s charge timeout scales payments'
	// charge timing with it (see chargeTiming), so that orders can still be
	// paid against stripe-mock, which answers in milliseconds.
	ExpirationWindow string
	RateLimit        string
	// ExpiryGrace is passed to orders (EXPIRY_GRACE) when set: how long
	// after expiresAt its sweeper cancels an order whose expiry never came.
	ExpiryGrace string
	// MaxUnsoldTickets is passed to tickets (MAX_UNSOLD_TICKETS) when set;
	// "0" lets load runs list thousands of tickets per seller.
	MaxUnsoldTickets string
	// Bus is the event bus, as BUS names it: "stan" (NATS Streaming, the
	// default) or "jetstream"; every service is configured for it.
	Bus string
	// Backend is FerretDB's: "sqlite" (default) or "postgresql", on a
	// PostgreSQL the stack starts in its data folder.
	Backend string
	// BuildTags are passed to go build for the services, such as "chaos"
	// (see bus.ChaosPanicMarker).
	BuildTags []string
	// LogLevel is passed to every service; default info.
	LogLevel string
	// OneAtATime starts the services one after another, each once the one
	// before it is ready, so that each one's ready time (ReadyTimes) is its
	// own start's, as when Kubernetes rolls out one pod beside others that
	// already run. By default they start together, which is quicker on the
	// whole but, on a machine of few cores, times six starts sharing them.
	OneAtATime bool
	// Debug makes every service serve its metrics (DEBUG_ADDR) and its
	// profiles (PPROF_ADDR), each on a free loopback port; DebugAddrs and
	// PprofAddrs name them.
	Debug bool
	// Out receives the status lines and the services' prefixed log lines.
	Out io.Writer
	// ReadyTimeout bounds the wait for each component; default 60 s.
	ReadyTimeout time.Duration
	// Restart makes the stack a supervisor once it is ready, as Kubernetes
	// is for its pods: a service that exits on its own is started again
	// after a back-off (1 s, doubling), and reported on Exited only when it
	// keeps exiting (see maxCrashes). Services exit by design when NATS
	// Streaming is gone for good, counting on being restarted. Without it a
	// service's exit is reported on Exited at once.
	Restart bool
}

// Stack is a running local stack.
type Stack struct {
	// URL is the gateway's base URL, such as http://127.0.0.1:8080.
	URL string

	cfg     Config
	out     *out
	tmpDir  string
	nats    embedded.Bus
	ferret  *embedded.FerretDB
	mini    *miniredis.Miniredis
	redis   redisServer // when redis-server runs rather than mini
	stripe  *stripeProxy
	gateway *http.Server
	exited  chan string // names of children that exited on their own

	// natsPasswords are the NATS users' passwords, by user (natsUsers).
	natsPasswords map[string]string

	mu sync.Mutex
	// procs are the children, in start order; a restarted service takes
	// its predecessor's place.
	procs    []*proc
	services map[string]*service
	// killed are the children Kill ended, which nobody restarts but Restart.
	killed map[*proc]bool
	// restarts counts the supervisor's restarts by service.
	restarts map[string]int
	// supervising is set once Start succeeded: from then on Config.Restart
	// applies. stopping is set by Stop, after which nothing starts.
	supervising, stopping bool
	stopped               chan struct{} // closed by Stop

	stopOnce sync.Once
}

// Start builds the services and starts every component, returning once
// each answers its readiness check. On failure it stops what it started and
// names the component that failed. The steps: the data folder, the build,
// the infrastructure (bus, database, Redis and stripe-mock, started
// together), the services (started together, or one at a time with
// OneAtATime, each awaited on its own), and the gateway.
func Start(ctx context.Context, cfg Config) (_ *Stack, err error) {
	if cfg.GatewayAddr == "" {
		cfg.GatewayAddr = "127.0.0.1:8080"
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	cfg.Bus = cmp.Or(cfg.Bus, bus.STAN)
	if !slices.Contains(bus.Transports(), cfg.Bus) {
		return nil, fmt.Errorf("bus: unknown transport %q (stan or jetstream)", cfg.Bus)
	}
	s := newStack(cfg)
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()

	dataDir, err := s.dataDir()
	if err != nil {
		return nil, err
	}
	binDir := filepath.Join(dataDir, "bin")
	s.status("building services")
	if err := build(ctx, cfg.Root, binDir, cfg.BuildTags); err != nil {
		return nil, err
	}
	infra, err := s.startInfra(ctx, dataDir, binDir)
	if err != nil {
		return nil, err
	}
	gatewayLn, err := net.Listen("tcp", cfg.GatewayAddr)
	if err != nil {
		return nil, fmt.Errorf("gateway: listen on %s: %w", cfg.GatewayAddr, err)
	}
	s.URL = "http://" + gatewayLn.Addr().String()
	upstreams, err := s.startServices(ctx, binDir, infra)
	if err != nil {
		gatewayLn.Close()
		return nil, err
	}
	s.serveGateway(gatewayLn, upstreams)
	s.mu.Lock()
	s.supervising = true
	s.mu.Unlock()
	return s, nil
}

// newStack returns a stack of cfg that has started nothing yet.
func newStack(cfg Config) *Stack {
	return &Stack{
		cfg:      cfg,
		out:      &out{w: cfg.Out},
		exited:   make(chan string, len(Services)+2),
		services: make(map[string]*service, len(Services)),
		killed:   make(map[*proc]bool),
		restarts: make(map[string]int),
		stopped:  make(chan struct{}),
	}
}

// dataDir returns the folder of the run's data: Config.DataDir, kept, or a
// temporary one removed at Stop.
func (s *Stack) dataDir() (string, error) {
	if s.cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "ticketing-stack-")
		if err != nil {
			return "", err
		}
		s.tmpDir = dir
		s.status("data lives for this run only (set DATA_DIR to keep it)")
		return dir, nil
	}
	dir, err := filepath.Abs(s.cfg.DataDir)
	if err != nil {
		return "", err
	}
	s.status("data is kept in %s", dir)
	return dir, nil
}

// infra is where the services find the infrastructure.
type infra struct {
	redisAddr, stripeURL string
}

// startInfra starts the bus, the database, Redis and stripe-mock together,
// and returns once each is up, or with the first failure.
func (s *Stack) startInfra(ctx context.Context, dataDir, binDir string) (infra, error) {
	var in infra
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.startBus(dataDir) })
	g.Go(func() error { return s.startMongo(gctx, dataDir) })
	g.Go(func() (err error) {
		in.redisAddr, err = s.startRedis(gctx, filepath.Join(dataDir, "redis"), dataDir != s.tmpDir)
		return err
	})
	g.Go(func() (err error) {
		in.stripeURL, err = s.startStripeMock(gctx, dataDir, binDir)
		return err
	})
	return in, g.Wait()
}

// startBus starts the bus server of Config.Bus, admitting each service
// with its own user and permissions, as in Kubernetes.
func (s *Stack) startBus(dataDir string) error {
	var users []embedded.NATSUser
	users, s.natsPasswords = natsUsers(s.cfg.Bus)
	// Each keeps its store in a folder of its own: a DATA_DIR run on the
	// other bus finds its own events again.
	store := map[string]string{bus.STAN: "nats", bus.JetStream: "jetstream"}[s.cfg.Bus]
	var err error
	s.nats, err = embedded.StartBus(s.cfg.Bus, embedded.NATSConfig{
		ClusterID: clusterID, Users: users, StoreDir: filepath.Join(dataDir, store),
	})
	if err != nil {
		return fmt.Errorf("%s: %w", busName(s.cfg.Bus), err)
	}
	s.status("%s: %s, a user per service (replay dead letters as the operator: -nats %s)", busName(s.cfg.Bus), s.nats.URL(), s.operatorURL())
	return nil
}

// busName is how the status lines name the bus of transport.
func busName(transport string) string {
	if transport == bus.JetStream {
		return "nats jetstream"
	}
	return "nats streaming"
}

// startMongo starts FerretDB on the backend of Config.Backend.
func (s *Stack) startMongo(ctx context.Context, dataDir string) error {
	fcfg := embedded.FerretDBConfig{Dir: filepath.Join(dataDir, "ferretdb")}
	switch s.cfg.Backend {
	case "", "sqlite":
		s.status("ferretdb: sqlite backend in %s", fcfg.Dir)
	case "postgresql":
		var err error
		if fcfg.PostgreSQLURL, err = s.startPostgres(ctx, filepath.Join(dataDir, "postgresql"), dataDir != s.tmpDir); err != nil {
			return fmt.Errorf("postgresql: %w", err)
		}
		s.status("ferretdb: postgresql backend at %s", fcfg.PostgreSQLURL)
	default:
		return fmt.Errorf("ferretdb: unknown backend %q (sqlite or postgresql)", s.cfg.Backend)
	}
	f, err := embedded.StartFerretDB(fcfg)
	if err != nil {
		return fmt.Errorf("ferretdb: %w", err)
	}
	s.ferret = f
	s.status("mongodb: %s, a database per service (audit it: go run ./infra/cmd/audit -mongo %s)", s.MongoURI(), s.MongoURI())
	return nil
}

// startServices starts every service on a free port and waits for each
// to be ready (startAll). It returns the services' addresses by name, for
// the gateway.
func (s *Stack) startServices(ctx context.Context, binDir string, in infra) (map[string]string, error) {
	jwtKey := newJWTKey()
	upstreams := make(map[string]string, len(Services))
	svcs := make([]*service, 0, len(Services))
	for _, name := range Services {
		port, err := embedded.FreePort("127.0.0.1")
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		svc := &service{
			name:     name,
			bin:      filepath.Join(binDir, name),
			env:      s.serviceEnv(name, port, jwtKey, in.redisAddr, in.stripeURL),
			readyURL: "http://" + addr + "/readyz",
		}
		if s.cfg.Debug {
			debugPort, err := embedded.FreePort("127.0.0.1")
			if err != nil {
				return nil, err
			}
			pprofPort, err := embedded.FreePort("127.0.0.1")
			if err != nil {
				return nil, err
			}
			svc.debugAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(debugPort))
			svc.pprofAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(pprofPort))
			svc.env = append(svc.env, "DEBUG_ADDR="+svc.debugAddr, "PPROF_ADDR="+svc.pprofAddr)
		}
		upstreams[name] = addr
		svcs = append(svcs, svc)
	}
	return upstreams, s.startAll(ctx, svcs)
}

// startAll starts svcs together (or one at a time with Config.OneAtATime)
// and waits for each to be ready, each on its own, so that every one's
// ready time is measured from its own start rather than after the others';
// the first failure ends the other waits.
func (s *Stack) startAll(ctx context.Context, svcs []*service) error {
	var waits []func(context.Context) error
	for _, svc := range svcs {
		s.mu.Lock()
		s.services[svc.name] = svc
		s.mu.Unlock()
		p, err := s.launch(svc, false)
		if err != nil {
			return err
		}
		wait := func(ctx context.Context) error { return p.waitReady(ctx, svc.readyURL, s.cfg.ReadyTimeout) }
		if !s.cfg.OneAtATime {
			waits = append(waits, wait)
		} else if err := wait(ctx); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, wait := range waits {
		g.Go(func() error { return wait(gctx) })
	}
	return g.Wait()
}

// serveGateway routes ln's requests to the services, as the ingress does.
func (s *Stack) serveGateway(ln net.Listener, upstreams map[string]string) {
	s.gateway = &http.Server{
		Handler:           gateway.New(upstreams, slog.New(slog.NewJSONHandler(&prefixWriter{o: s.out, prefix: "gateway    | "}, &slog.HandlerOptions{Level: s.logLevel()}))),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = s.gateway.Serve(ln) }()
}

func (s *Stack) status(format string, args ...any) {
	s.out.println("ticketing  | " + fmt.Sprintf(format, args...))
}

// watch records p and reports its exit on Exited unless the stack stops it.
func (s *Stack) watch(p *proc) {
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	go s.await(p)
}

// Exited delivers the name of a child that exited on its own while the
// stack ran and that the stack does not restart (see Config.Restart).
func (s *Stack) Exited() <-chan string { return s.exited }

// children returns the current children, in start order.
func (s *Stack) children() []*proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.procs)
}

// Pid returns the process id of a running component, for tests that kill it.
func (s *Stack) Pid(name string) (int, bool) {
	for _, p := range s.children() {
		if p.name == name && !p.exited() {
			return p.cmd.Process.Pid, true
		}
	}
	return 0, false
}

// ReadyTimes returns, for every service that has been ready, the time
// from the start of its current process (the exec) to the first answer 200
// from its /readyz, polled every 2 ms. The infrastructure is up before the
// services start, so this is the time each takes once its databases answer.
func (s *Stack) ReadyTimes() map[string]time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]time.Duration, len(s.services))
	for _, p := range s.procs {
		if _, ok := s.services[p.name]; !ok {
			continue
		}
		if d, ok := p.ready(); ok {
			out[p.name] = d
		}
	}
	return out
}

// DebugAddrs returns where each service serves its metrics (/metrics),
// by name; empty unless Config.Debug is set.
func (s *Stack) DebugAddrs() map[string]string {
	return s.addrs(func(svc *service) string { return svc.debugAddr })
}

// PprofAddrs returns where each service serves its profiles
// (/debug/pprof/), by name; empty unless Config.Debug is set.
func (s *Stack) PprofAddrs() map[string]string {
	return s.addrs(func(svc *service) string { return svc.pprofAddr })
}

func (s *Stack) addrs(of func(*service) string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.services))
	for name, svc := range s.services {
		if a := of(svc); a != "" {
			out[name] = a
		}
	}
	return out
}

// LastLines returns a component's last log lines, for failure reports.
func (s *Stack) LastLines(name string) string {
	for _, p := range s.children() {
		if p.name == name {
			return p.lastLines()
		}
	}
	return ""
}

// baseEnv is what every service is given: its port, on loopback only, so
// that nothing the stack runs is reachable from the network (the gateway
// listens where GATEWAY_ADDR says), and plain-HTTP cookies.
func baseEnv(port int, logLevel string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"LISTEN_HOST=127.0.0.1",
		"PORT=" + strconv.Itoa(port),
		"LOG_LEVEL=" + logLevel,
		"COOKIE_SECURE=false",
	}
}

func (s *Stack) serviceEnv(name string, port int, jwtKey, redisAddr, stripeURL string) []string {
	env := baseEnv(port, orDefault(s.cfg.LogLevel, "info"))
	mongo := func() string { return "MONGO_URI=" + strings.TrimSuffix(s.ferret.URI(), "/") + "/" + name }
	nats := []string{
		"BUS=" + s.cfg.Bus,
		"NATS_URL=" + s.nats.URL(),
		"NATS_CLUSTER_ID=" + s.nats.ClusterID(),
		"NATS_CLIENT_ID=" + name + "-" + strconv.Itoa(os.Getpid()),
		"NATS_USER=" + name,
		"NATS_PASSWORD=" + s.natsPasswords[name],
	}
	switch name {
	case "auth":
		env = append(env, "JWT_KEY="+jwtKey, mongo(), "TRUSTED_PROXIES=127.0.0.1/32")
		if s.cfg.RateLimit != "" {
			env = append(env, "RATE_LIMIT="+s.cfg.RateLimit)
		}
	case "tickets":
		env = append(env, "JWT_KEY="+jwtKey, mongo())
		env = append(env, nats...)
		if s.cfg.MaxUnsoldTickets != "" {
			env = append(env, "MAX_UNSOLD_TICKETS="+s.cfg.MaxUnsoldTickets)
		}
	case "orders":
		env = append(env, "JWT_KEY="+jwtKey, mongo())
		env = append(env, nats...)
		if s.cfg.ExpirationWindow != "" {
			env = append(env, "EXPIRATION_WINDOW="+s.cfg.ExpirationWindow)
		}
		if s.cfg.ExpiryGrace != "" {
			env = append(env, "EXPIRY_GRACE="+s.cfg.ExpiryGrace)
		}
	case "expiration":
		env = append(env, "REDIS_HOST="+redisAddr)
		env = append(env, nats...)
	case "payments":
		env = append(env, "JWT_KEY="+jwtKey, mongo(), "STRIPE_KEY=sk_test_local", "STRIPE_API_BASE="+stripeURL)
		env = append(env, nats...)
		env = append(env, chargeTiming(s.cfg.ExpirationWindow)...)
	case "client":
		// The gateway is the client's peer for browsers and the API's for
		// the client: the client forwards the browser's address the
		// gateway names, and auth believes it from either.
		env = append(env, "API_BASE_URL="+s.URL, "TRUSTED_PROXIES=127.0.0.1/32")
	}
	return env
}

// chargeTiming returns payments' charge timing for an expiration window
// shorter than the 25 s charge timeout: no charge starts with less than the
// timeout plus the margin left, so with the defaults a window of 30 s or
// less could never be paid. The timeout becomes a fifth of the window, the
// margin a tenth, and the reconciler runs once a window; stripe-mock
// answers in milliseconds. Longer windows keep the defaults.
func chargeTiming(window string) []string {
	w, err := time.ParseDuration(window)
	if err != nil || w <= 0 || w >= 2*time.Minute {
		return nil
	}
	return []string{
		"CHARGE_TIMEOUT=" + (w / 5).String(),
		"CHARGE_MARGIN=" + (w / 10).String(),
		"RECONCILE_INTERVAL=" + w.String(),
	}
}

// build compiles every service into binDir with the workspace's go.
func build(ctx context.Context, root, binDir string, tags []string) error {
	args := []string{"build", "-o", binDir + string(filepath.Separator)}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	for _, name := range Services {
		args = append(args, "./"+name)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build services: %w\n%s", err, out)
	}
	tools := exec.CommandContext(ctx, "go", "build", "-o", binDir+string(filepath.Separator), "github.com/stripe/stripe-mock")
	tools.Dir = filepath.Join(root, "tools")
	tools.Env = append(os.Environ(), "GOWORK=off") // tools is its own module, outside the workspace
	if out, err := tools.CombinedOutput(); err != nil {
		return fmt.Errorf("build stripe-mock: %w\n%s", err, out)
	}
	return nil
}

// Stop stops the gateway, the services in reverse order of start, then the
// infrastructure, and removes temporary data. It is safe to call twice.
func (s *Stack) Stop() {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopping = true
		procs := slices.Clone(s.procs)
		s.mu.Unlock()
		close(s.stopped)
		if s.gateway != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = s.gateway.Shutdown(ctx)
			cancel()
		}
		// Services first, all at once; then FerretDB, so that PostgreSQL
		// has no client left to wait for; then redis, stripe-mock and
		// PostgreSQL.
		infra := map[string]bool{"redis": true, "stripe": true, "postgres": true}
		var wg sync.WaitGroup
		for i := len(procs) - 1; i >= 0; i-- {
			p := procs[i]
			if infra[p.name] {
				continue
			}
			wg.Go(func() { p.stop(15 * time.Second) })
		}
		wg.Wait()
		if s.ferret != nil {
			s.ferret.Stop()
		}
		for _, p := range procs {
			p.stop(5 * time.Second)
		}
		if s.stripe != nil {
			s.stripe.close()
		}
		if s.mini != nil {
			s.mini.Close()
		}
		if s.nats != nil {
			s.nats.Stop()
		}
		if s.tmpDir != "" {
			_ = os.RemoveAll(s.tmpDir)
		}
	})
}

// logLevel is Config.LogLevel for the gateway's log, as the services read it.
func (s *Stack) logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(orDefault(s.cfg.LogLevel, "info"))); err != nil {
		return slog.LevelInfo
	}
	return l
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// newJWTKey is a fresh JWT_KEY for one run: 48 random bytes in base64, as
// docs/kubernetes.md has operators make theirs, well above the 32 bytes
// every service demands.
func newJWTKey() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b) // never fails: crypto/rand crashes the program instead
	return base64.StdEncoding.EncodeToString(b)
}

// waitTCP waits until the child p accepts connections at addr.
func waitTCP(ctx context.Context, p *proc, addr string, timeout time.Duration) error {
	return waitFor(ctx, p, "accepting connections at "+addr, timeout, func(context.Context) error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// waitFor tries ready every 20 ms until it succeeds, the child p exits, ctx
// is done or timeout passes; what says what ready checks, for the error.
func waitFor(ctx context.Context, p *proc, what string, timeout time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready (%v); its last lines:\n%s", p.name, p.err, p.lastLines())
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s not %s (%w); its last lines:\n%s", p.name, what, errors.Join(err, ctx.Err()), p.lastLines())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// prefixWriter writes each line it is given prefixed, for in-process logs.
type prefixWriter struct {
	o      *out
	prefix string
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		w.o.println(w.prefix + line)
	}
	return len(b), nil
}
