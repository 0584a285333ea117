// Command auth is the ticketing auth service: it signs users up, in and
// out, and tells the other services who a session cookie belongs to.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"ticketing.dev/auth/internal/httpapi"
	"ticketing.dev/auth/internal/user"
	"ticketing.dev/auth/internal/userdb"
	"ticketing.dev/common/config"
	"ticketing.dev/common/lifecycle"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/session"
	"ticketing.dev/common/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "auth:", err)
		os.Exit(1)
	}
}

// settings is the service's whole configuration, read once.
type settings struct {
	config.HTTP
	// RateLimit is sign-up and sign-in attempts per minute per client
	// address; 0 turns limiting off.
	RateLimit int
}

func readSettings(getenv func(string) string) (settings, error) {
	env := config.NewEnv(getenv)
	s := settings{HTTP: config.ReadHTTP(env), RateLimit: env.Int("RATE_LIMIT", 60)}
	if err := env.Err(); err != nil {
		return settings{}, err
	}
	return s, nil
}

// run serves the auth API until ctx is done, then shuts down in the reverse
// order of start: HTTP (finishing requests in flight), then MongoDB.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) (err error) {
	cfg, err := readSettings(getenv)
	if err != nil {
		return err
	}
	log := lifecycle.Logger(stdout, cfg.LogLevel, "auth")

	db, disconnect, err := lifecycle.OpenMongo(cfg.MongoURI, "auth")
	if err != nil {
		return err
	}
	defer lifecycle.Close(&err, disconnect)

	store := userdb.New(db)
	if err := lifecycle.Retry(ctx, log, "create indexes", store.EnsureIndexes); err != nil {
		return err
	}
	users, err := user.NewService(store)
	if err != nil {
		return err
	}
	handler := httpapi.Routes(httpapi.Deps{
		Users:     users,
		Sessions:  session.NewManager(cfg.JWTKey, cfg.SessionTTL, cfg.CookieSecure),
		Log:       log,
		RateLimit: cfg.RateLimit,
		Checks: map[string]web.Check{
			"mongo": mongodb.Ping(db),
		},
	})

	ln, err := net.Listen("tcp", ":"+cfg.Port)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("starting", "database", db.Name(), "rate_limit", cfg.RateLimit)
	return web.Serve(ctx, ln, handler, log)
}
