// Command auth is the ticketing auth service: it signs users up, in and
// out, and tells the other services who a session cookie belongs to.
package main

import (
	"context"
	"io"
	"net/netip"
	"runtime"
	"runtime/debug"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/auth/internal/hashgate"
	"ticketing.dev/auth/internal/httpapi"
	"ticketing.dev/auth/internal/user"
	"ticketing.dev/auth/internal/userdb"
	"ticketing.dev/common/app"
	"ticketing.dev/common/config"
	"ticketing.dev/common/lifecycle"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/session"
)

func main() { lifecycle.Main("auth", run) }

// settings is the service's whole configuration, read once.
type settings struct {
	config.HTTP
	// RateLimit is sign-up and sign-in attempts per minute per client
	// address; 0 turns limiting off.
	RateLimit int
	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// for rate limiting: the gateway of the local stack, or in Kubernetes
	// the ingress controller and the web client, which calls the API
	// through it. None by default, so that no client can pick its own
	// address.
	TrustedProxies []netip.Prefix
	// SignInFailures is how many failed sign-ins one email may have per
	// SignInFailureWindow, from any address; 0 turns that limit off.
	SignInFailures      int
	SignInFailureWindow time.Duration
}

func readSettings(getenv func(string) string) (settings, error) {
	env := config.NewEnv(getenv)
	s := settings{
		HTTP:           config.ReadHTTP(env),
		RateLimit:      env.Int("RATE_LIMIT", 60),
		TrustedProxies: env.CIDRs("TRUSTED_PROXIES"),
		// Ten guesses, then one every 90 s: about a thousand a day at
		// most for one account, and a user who mistypes a few times is
		// not stopped.
		SignInFailures:      env.Int("SIGNIN_FAILURE_LIMIT", 10),
		SignInFailureWindow: env.Duration("SIGNIN_FAILURE_WINDOW", 15*time.Minute),
	}
	if err := env.Err(); err != nil {
		return settings{}, err
	}
	return s, nil
}

// hashWait is how long a sign-up or sign-in waits for a turn to hash
// before auth answers 503: a hash takes tens of milliseconds, so a queue
// this long is an overload that waiting longer would only prolong.
const hashWait = 2 * time.Second

// deps are what run takes from outside its environment. run uses
// productionDeps; tests start the service with their own, to hash cheaply,
// move the rate limiters' clock, choose what admits hashes and look into
// the database.
type deps struct {
	// clock tells the time to the rate limiters.
	clock func() time.Time
	// params are the scrypt parameters new passwords are hashed with.
	params user.Params
	// gate returns what admits hashes, given the service's own gate: that
	// gate, or another.
	gate func(*hashgate.Gate) user.Gate
	// started is called once the service is wired, before it serves.
	started func(parts)
}

// parts are what run has wired that a test reaches into.
type parts struct {
	db *mongo.Database
}

// productionDeps are run's: the wall clock, the default scrypt cost and
// the service's own gate.
func productionDeps() deps {
	return deps{
		clock:   time.Now,
		params:  user.DefaultParams(),
		gate:    func(g *hashgate.Gate) user.Gate { return g },
		started: func(parts) {},
	}
}

// run serves the auth API until ctx is done, then shuts down in the reverse
// order of start: HTTP (finishing requests in flight), then MongoDB.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	return runWith(ctx, getenv, stdout, productionDeps())
}

// runWith is run with d in place of productionDeps.
func runWith(ctx context.Context, getenv func(string) string, stdout io.Writer, d deps) (err error) {
	cfg, err := readSettings(getenv)
	if err != nil {
		return err
	}
	a, err := app.Open(ctx, app.Config{Name: "auth", Process: cfg.Process, MongoURI: cfg.MongoURI, Database: "auth"}, stdout)
	if err != nil {
		return err
	}
	defer lifecycle.Close(&err, a.Close)

	store := userdb.New(a.DB)
	if err := a.Retry(ctx, "create indexes", store.EnsureIndexes); err != nil {
		return err
	}
	// scrypt takes 16 MiB per hash: as many at once as there are
	// processors, each waiting at most hashWait for its turn (then 503),
	// and the memory returned to the OS a second after a burst.
	hashes := hashgate.New(runtime.GOMAXPROCS(0), hashWait, time.Second, debug.FreeOSMemory)
	if err := metrics.ScryptGate(a.Metrics, hashes.Load); err != nil {
		return err
	}
	users, err := user.NewService(store, user.WithParams(d.params), user.WithGate(d.gate(hashes)))
	if err != nil {
		return err
	}
	handler := httpapi.Routes(httpapi.Deps{
		API:                 a.API(),
		Users:               users,
		Sessions:            session.NewManager(cfg.JWTKey, cfg.SessionTTL, cfg.CookieSecure),
		RateLimit:           cfg.RateLimit,
		TrustedProxies:      cfg.TrustedProxies,
		SignInFailures:      cfg.SignInFailures,
		SignInFailureWindow: cfg.SignInFailureWindow,
		Now:                 d.clock,
	})
	d.started(parts{db: a.DB})
	return a.Serve(ctx, handler, "database", a.DB.Name(), "rate_limit", cfg.RateLimit, "trusted_proxies", cfg.TrustedProxies,
		"signin_failure_limit", cfg.SignInFailures, "signin_failure_window", cfg.SignInFailureWindow)
}
