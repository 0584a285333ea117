// Command client serves the ticketing web pages. Until the server-rendered
// client lands, it answers / with a short page pointing at the API.
package main

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"ticketing.dev/common/config"
	"ticketing.dev/common/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	env := config.NewEnv(getenv)
	port := env.String("PORT", "3000")
	level := env.LogLevel("LOG_LEVEL")
	if err := env.Err(); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level})).With("service", "client")

	r := web.NewRouter(log)
	web.Health(r, nil)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = placeholder.Execute(w, nil)
	})
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return web.Serve(ctx, ln, r, log)
}

var placeholder = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ticketing</title></head>
<body>
<h1>ticketing</h1>
<p>The web pages are not built yet. The API is up:</p>
<ul>
<li><code>POST /api/users/signup</code>, <code>/signin</code>, <code>/signout</code>, <code>GET /api/users/currentuser</code></li>
<li><code>/api/tickets</code>, <code>/api/orders</code>, <code>/api/payments</code></li>
</ul>
</body></html>
`))
