// Package docs serves the API's documentation: the OpenAPI 3.1 document at
// /docs/openapi.yaml, a readable page of it at /docs (Redoc 2.5.4, bundled
// from the npm registry into this folder, so no CDN is involved), and a
// Postman collection, importable into Insomnia, at
// /docs/ticketing.postman_collection.json.
//
// The end-to-end tests validate every request and response they make
// against openapi.yaml, so the document cannot drift from the services.
package docs

import (
	"embed"
	"net/http"
)

//go:embed openapi.yaml ticketing.postman_collection.json redoc.standalone.js
var files embed.FS

// page loads Redoc from this server; the document is fetched by Redoc.
const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ticketing API</title>
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
	mux.HandleFunc("GET /docs/redoc.standalone.js", serve("redoc.standalone.js", "text/javascript; charset=utf-8"))
	return mux
}
