// Command client serves the ticketing web pages: the original Next.js
// client's pages at its paths, rendered on the server from the API, which it
// calls on each browser's behalf with that browser's session cookie.
package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"ticketing.dev/client/internal/api"
	"ticketing.dev/client/internal/pages"
	"ticketing.dev/common/config"
	"ticketing.dev/common/lifecycle"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/requestid"
	"ticketing.dev/common/web"
)

// assets are the templates and static files, built into the binary so that
// the image needs nothing beside it.
//
//go:embed templates static
var assets embed.FS

func main() { lifecycle.Main("client", run) }

// settings is the client's whole configuration, read once.
type settings struct {
	// Process says where the pages are served.
	config.Process
	APIBaseURL string
	StripeKey  string
	// PageSize is how many tickets or orders one page shows.
	PageSize int
	// TrustedProxies are the peers whose X-Forwarded-For names the
	// browser: the gateway of the local stack, the ingress controller in
	// Kubernetes. None by default, so that no browser can pick the
	// address the API's limits count it by.
	TrustedProxies []netip.Prefix
}

func readSettings(getenv func(string) string) (settings, error) {
	env := config.NewEnv(getenv)
	s := settings{
		Process:        config.ReadProcess(env),
		APIBaseURL:     env.Required("API_BASE_URL"),
		StripeKey:      env.String("STRIPE_PUBLISHABLE_KEY", ""),
		TrustedProxies: env.CIDRs("TRUSTED_PROXIES"),
		PageSize:       env.PositiveInt("PAGE_SIZE", pages.DefaultPageSize),
	}
	if err := env.Err(); err != nil {
		return settings{}, err
	}
	if s.PageSize > web.MaxPageLimit {
		return settings{}, fmt.Errorf("configuration: PAGE_SIZE must be at most %d, the API's largest page, got %d", web.MaxPageLimit, s.PageSize)
	}
	// The key is written into pages: a secret or restricted key there
	// would be a leak.
	if strings.HasPrefix(s.StripeKey, "sk_") || strings.HasPrefix(s.StripeKey, "rk_") {
		return settings{}, fmt.Errorf("configuration: STRIPE_PUBLISHABLE_KEY must be the publishable key (pk_...), not a secret one")
	}
	return s, nil
}

// run serves the pages until ctx is done.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) (err error) {
	cfg, err := readSettings(getenv)
	if err != nil {
		return err
	}
	// lifecycle.Logger's handler, without linking the MongoDB driver that
	// package opens.
	log := slog.New(requestid.LogHandler(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))).With("service", "client")
	reg := metrics.NewRegistry()
	stopDebug, err := web.Debug(cfg.DebugAddr, reg, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopDebug()) }()
	stopPprof, err := web.Pprof(cfg.PprofAddr, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopPprof()) }()

	client, err := api.New(cfg.APIBaseURL, &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   32,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: api.PaymentTimeout,
		},
		// The API's answers are read as they are: a redirect from it would
		// be a fault, not something to follow with a user's cookie.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	})
	if err != nil {
		return fmt.Errorf("configuration: API_BASE_URL: %w", err)
	}
	site, err := pages.New(pages.Config{API: client, Assets: assets, StripeKey: cfg.StripeKey, PageSize: cfg.PageSize, TrustedProxies: cfg.TrustedProxies})
	if err != nil {
		return err
	}
	switch {
	case cfg.StripeKey == "":
		log.Info("STRIPE_PUBLISHABLE_KEY not set: order pages offer a test-mode payment")
	case !strings.HasPrefix(cfg.StripeKey, "pk_"):
		log.Warn("STRIPE_PUBLISHABLE_KEY does not look like a publishable key (pk_...): Stripe Elements will refuse it")
	}

	log.Info("starting", "api_base_url", cfg.APIBaseURL, "trusted_proxies", cfg.TrustedProxies)

	requests, err := metrics.NewHTTP(reg)
	if err != nil {
		return err
	}
	r := web.NewRouter(log, web.WithMetrics(requests))
	site.Routes(r)
	// Ready as soon as it serves, with no check of the API: the local stack
	// starts its gateway, which is API_BASE_URL, only once every service is
	// ready, and in Kubernetes a client taken out of rotation while the API
	// is down would turn its friendly error pages into the ingress's 503s.
	web.Health(r, nil)

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return web.Serve(ctx, ln, r, log)
}
