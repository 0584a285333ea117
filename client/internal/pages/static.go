package pages

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// hashStatic returns a short content hash of every static file, which its
// URL carries so that browsers may keep a file for good: a changed file has
// a new URL.
func hashStatic(assets fs.FS) (map[string]string, error) {
	versions := map[string]string{}
	err := fs.WalkDir(assets, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assets, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		versions[strings.TrimPrefix(p, "static/")] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pages: hash static files: %w", err)
	}
	return versions, nil
}

// asset returns the URL of a static file, carrying its version.
func (s *Server) asset(name string) (string, error) {
	v, ok := s.versions[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return "/static/" + name + "?v=" + v, nil
}

// static serves the static files: cached for a year when asked for by
// their current version, revalidated otherwise. Folders are not listed.
func (s *Server) static() http.Handler {
	files := http.StripPrefix("/static/", http.FileServerFS(s.staticFS))
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/static/")
		v, ok := s.versions[name]
		if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			return errNotFound
		}
		if r.URL.Query().Get("v") == v {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
		return nil
	})
}

// contentSecurityPolicy lets pages run only this site's script and
// Stripe's, frame only Stripe's card fields, and post forms only here.
const contentSecurityPolicy = "default-src 'self'; " +
	"script-src 'self' https://js.stripe.com https://*.js.stripe.com; " +
	"frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com; " +
	"connect-src 'self' https://api.stripe.com; " +
	"img-src 'self' data:; style-src 'self'; object-src 'none'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders sets the headers every answer of the client carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}
