// Package docs serves the API's documentation: the OpenAPI 3.1 document at
// /docs/openapi.yaml, a readable page of it at /docs (Redoc 2.5.4, bundled
// from the npm registry into this folder, so no CDN is involved), a Postman
// collection, importable into Insomnia, at
// /docs/ticketing.postman_collection.json, and the Postman environments
// for `make run` and for https://ticketing.dev beside it.
//
// The end-to-end tests validate every request and response they make
// against openapi.yaml, so the document cannot drift from the services.
package docs

import (
	"bytes"
	"embed"
	"net/http"
	"sync"
	"time"
)

//go:embed openapi.yaml ticketing.postman_collection.json
//go:embed make-run.postman_environment.json ticketing.dev.postman_environment.json
var files embed.FS

// Environments are the Postman environment files served beside the
// collection, one for each server of the OpenAPI document.
var Environments = []string{"make-run.postman_environment.json", "ticketing.dev.postman_environment.json"}

// Redoc's sidebar ends with a link "API docs by Redocly" whose logo Redoc
// takes from Redocly's CDN, whatever its options say: the page's policy
// refuses it, which is an error in the console on every visit, and allowing
// it would tell a third party of every reader. The bundle is served with
// that logo replaced by an empty image, so the page loads nothing from
// outside the app, and the vendored file stays byte for byte as npm ships
// it.
const (
	redocLogo = `"https://cdn.redoc.ly/redoc/logo-mini.svg"`
	noLogo    = `"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 1 1'/%3E"`
)

// redocBundle is Redoc as npm ships it.
//
//go:embed redoc.standalone.js
var redocBundle []byte

// redoc is the bundle as served.
var redoc = sync.OnceValue(func() []byte {
	return bytes.Replace(redocBundle, []byte(redocLogo), []byte(noLogo), 1)
})

// page loads Redoc from this server; the document is fetched by Redoc. Its
// icon is the one of the client's pages: without an icon, browsers ask for
// /favicon.ico, which is a 404.
const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ticketing API</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
</head>
<body>
<redoc spec-url="/docs/openapi.yaml"></redoc>
<script src="/docs/redoc.standalone.js"></script>
</body>
</html>
`

// pagePolicy lets Redoc do what it needs — its styles are injected inline
// and its search runs in a worker made from a blob — and nothing else.
const pagePolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src blob:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler returns the documentation's routes, to be mounted at /docs.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /docs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", pagePolicy)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	})
	serve := func(name, contentType string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, files, name)
		}
	}
	mux.HandleFunc("GET /docs/openapi.yaml", serve("openapi.yaml", "application/yaml"))
	mux.HandleFunc("GET /docs/ticketing.postman_collection.json", serve("ticketing.postman_collection.json", "application/json"))
	for _, name := range Environments {
		mux.HandleFunc("GET /docs/"+name, serve(name, "application/json"))
	}
	mux.HandleFunc("GET /docs/redoc.standalone.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "redoc.standalone.js", time.Time{}, bytes.NewReader(redoc()))
	})
	return mux
}
