// Package pages serves the web client: one handler per page of the original
// Next.js app, rendered on the server from html/template with data fetched
// from the API on the browser's behalf, as the original's getInitialProps
// did, and forms that post back here instead of calling the API from the
// browser, so that every story works without JavaScript.
//
// routes.go lists every page. Handlers return errors; handle turns them into
// pages: a 401 from the API becomes a trip to the sign-in form, a 404 the
// not-found page, anything else a friendly error page with no details.
package pages

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/client/internal/api"
	"ticketing.dev/common/web"
)

// Config is what the pages are built from.
type Config struct {
	// API is the REST API the pages call on the browser's behalf.
	API *api.Client
	// Assets holds templates/*.html and static/*.
	Assets fs.FS
	// StripeKey is Stripe's publishable key. Without it the order page
	// offers a clearly labelled test-mode payment instead of a card form.
	StripeKey string
	// Now tells the time; time.Now when nil.
	Now func() time.Time
	// PageSize is how many tickets or orders one page shows, at most
	// web.MaxPageLimit; DefaultPageSize when 0. It also bounds what the
	// client reads of the API for one page (api.ListBodyLimit).
	PageSize int
	// TrustedProxies are the peers, such as the ingress or the gateway,
	// whose X-Forwarded-For names the browser. The browser's address is
	// forwarded to the API, whose per-address limits are meant for it;
	// from any other peer, the peer is taken for the browser.
	TrustedProxies []netip.Prefix
}

// Server renders the pages.
type Server struct {
	api         *api.Client
	stripeKey   string
	now         func() time.Time
	pageSize    int
	pages       map[string]*template.Template
	staticFS    fs.FS
	versions    map[string]string // static file name → content hash
	crossOrigin *http.CrossOriginProtection
	trusted     []netip.Prefix
}

// New parses the templates and hashes the static files.
func New(cfg Config) (*Server, error) {
	if cfg.API == nil || cfg.Assets == nil {
		return nil, errors.New("pages: API and Assets are required")
	}
	s := &Server{api: cfg.API, stripeKey: cfg.StripeKey, now: cfg.Now, pageSize: cfg.PageSize, trusted: cfg.TrustedProxies}
	if s.now == nil {
		s.now = time.Now
	}
	if s.pageSize == 0 {
		s.pageSize = DefaultPageSize
	}
	if s.pageSize < 1 || s.pageSize > web.MaxPageLimit {
		return nil, fmt.Errorf("pages: page size must be between 1 and %d, got %d", web.MaxPageLimit, s.pageSize)
	}
	var err error
	if s.staticFS, err = fs.Sub(cfg.Assets, "static"); err != nil {
		return nil, fmt.Errorf("pages: static files: %w", err)
	}
	if s.versions, err = hashStatic(cfg.Assets); err != nil {
		return nil, err
	}
	if s.pages, err = parseTemplates(cfg.Assets, s.funcs()); err != nil {
		return nil, err
	}
	// Every form posts state changes with the session cookie. SameSite=Lax
	// already keeps that cookie off cross-site posts, but sign-in, sign-up
	// and sign-out need no cookie to do harm (a forced sign-in into an
	// attacker's account), so cross-origin posts are refused outright, by
	// the browser's own Sec-Fetch-Site and Origin headers.
	s.crossOrigin = http.NewCrossOriginProtection()
	s.crossOrigin.SetDenyHandler(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return s.renderError(w, r, http.StatusForbidden, "This form was sent from another site",
			"For your safety it was not accepted. Go back to the page, reload it and try again.")
	}))
	return s, nil
}

// pageNames are the templates of the pages, each parsed with layout.html.
var pageNames = []string{
	"home", "signup", "signin", "signout",
	"ticket_new", "ticket", "ticket_edit",
	"orders", "order", "error",
}

func parseTemplates(assets fs.FS, funcs template.FuncMap) (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("pages: parse layout: %w", err)
	}
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := layout.Clone()
		if err == nil {
			t, err = t.ParseFS(assets, "templates/"+name+".html")
		}
		if err != nil {
			return nil, fmt.Errorf("pages: parse %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// view is what every template receives.
type view struct {
	// Title names the page in the browser's tab, before the site's name.
	Title string
	// User is the signed-in user, nil when signed out; the header shows
	// Sell tickets, My orders and Sign out, or Sign up and Sign in, by it.
	User *api.User
	// Path is the page's path, marking the current link of the header.
	Path string
	// Form holds a form's values and the API's messages about them.
	Form form
	// StripeJS loads Stripe.js, from Stripe as Stripe requires.
	StripeJS bool
	// RequestID lets a user quote an error page to support.
	RequestID string
	// Data is the page's own content.
	Data any
}

// handlerFunc is a page handler that reports failure by returning an error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts h to http.HandlerFunc; a returned error becomes a page.
func (s *Server) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	}
}

// Errors the handlers return for answers of their own.
var (
	errNotFound  = errors.New("not found")
	errForbidden = errors.New("forbidden")
	errBadForm   = errors.New("unreadable form")
)

// fail turns a handler's error into a page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	apiErr, isAPI := errors.AsType[*api.Error](err)
	switch {
	case isAPI && apiErr.Status == http.StatusUnauthorized && s.currentUser(w, r) == nil:
		// Not signed in, or the session ended: sign in, then come back.
		http.Redirect(w, r, signInPath(returnPath(r)), http.StatusSeeOther)
		return
	case errors.Is(err, errNotFound), isAPI && apiErr.Status == http.StatusNotFound,
		// Signed in but not the owner: as far as this user can tell, the
		// order does not exist.
		isAPI && apiErr.Status == http.StatusUnauthorized:
		err = s.renderError(w, r, http.StatusNotFound, "Page not found",
			"There is nothing at this address. It may have been mistyped, or the ticket or order may not exist.")
	case errors.Is(err, errForbidden):
		err = s.renderError(w, r, http.StatusForbidden, "Not yours to change",
			"Only the seller of a ticket can edit it.")
	case errors.Is(err, errBadForm):
		err = s.renderError(w, r, http.StatusBadRequest, "That form could not be read",
			"Go back, reload the page and try again.")
	case isAPI && apiErr.Status == http.StatusTooManyRequests:
		err = s.renderError(w, r, http.StatusTooManyRequests, "Too many attempts",
			"Please wait a minute before trying again.")
	case errors.Is(err, api.ErrTooLarge):
		// The API answered more than one page can hold: it is not the
		// API this client was built for, or something is wrong with it.
		web.Logger(ctx).ErrorContext(ctx, "answer of the API too large", "err", err)
		err = s.renderError(w, r, http.StatusBadGateway, "Too much to show",
			"Ticketing received more than one page can hold, and showed nothing rather than part of it. Please try again later.")
	default:
		web.Logger(ctx).ErrorContext(ctx, "page failed", "err", err)
		err = s.renderError(w, r, http.StatusInternalServerError, "Something went wrong",
			"Ticketing could not show this page just now. Please try again in a moment.")
	}
	if err != nil {
		web.Logger(ctx).ErrorContext(ctx, "render error page", "err", err)
		http.Error(w, "Something went wrong", http.StatusInternalServerError)
	}
}

// returnPath is where to come back to after signing in: the page itself for
// a GET, the page a form was on (its Referer, when on this site) for a POST.
func returnPath(r *http.Request) string {
	if r.Method == http.MethodGet {
		return r.URL.RequestURI()
	}
	if ref, err := url.Parse(r.Referer()); err == nil && ref.Host == r.Host {
		return ref.RequestURI()
	}
	return "/"
}

// errorData is the content of the error page.
type errorData struct {
	Heading string
	Message string
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, heading, message string) error {
	v := view{Title: heading, Path: r.URL.Path, RequestID: w.Header().Get(web.RequestIDHeader),
		Data: errorData{Heading: heading, Message: message}}
	// The header still shows who is signed in, except when the API is the
	// trouble: asking it again would only make the error page slow too.
	if status < http.StatusInternalServerError {
		v.User, _ = s.api.CurrentUser(r.Context(), s.caller(w, r))
	}
	return s.render(w, status, "error", v)
}

// notFound answers routes the client does not have.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) error {
	return errNotFound
}

// render writes a page. It renders into a buffer first so that a failing
// template never leaves half a page behind its 200.
func (s *Server) render(w http.ResponseWriter, status int, name string, v view) error {
	t, ok := s.pages[name]
	if !ok {
		return fmt.Errorf("render: no page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Pages show one user's data: never cache them, nor show them again
	// from the back button after signing out.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// recoverer renders the error page for a panic in a handler, instead of the
// JSON that the shared router's recoverer writes for the API services. The
// stack goes to the log only.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.fail(w, r, fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// caller is the browser behind r, as the API client forwards it. Its
// address is r's peer or, when the peer is one of the trusted proxies (the
// ingress, the gateway), the address they forwarded (see web.ClientIP):
// what the client vouches for to the API is that one address, never
// entries the browser wrote itself. Its scheme is read the same way
// (web.ClientProto).
func (s *Server) caller(w http.ResponseWriter, r *http.Request) api.Caller {
	who := api.Caller{Host: r.Host, RequestID: w.Header().Get(web.RequestIDHeader)}
	if c, err := r.Cookie(api.SessionCookie); err == nil {
		who.Session = c.Value
	}
	if addr := web.ClientIP(r, s.trusted); addr.IsValid() {
		who.ForwardedFor = addr.String()
	}
	who.Proto = web.ClientProto(r, s.trusted)
	return who
}

// currentUser returns the signed-in user, or nil. When the API cannot tell,
// the page is still shown, as to a signed-out visitor: the header is not
// worth an error page, and every action that needs a session asks the API
// again anyway.
func (s *Server) currentUser(w http.ResponseWriter, r *http.Request) *api.User {
	u, err := s.api.CurrentUser(r.Context(), s.caller(w, r))
	if err != nil {
		web.Logger(r.Context()).WarnContext(r.Context(), "current user unknown", "err", err)
		return nil
	}
	return u
}

// pathID returns the {id} of the route when it looks like an id the API
// hands out; anything else is a page that cannot exist.
func pathID(r *http.Request) (string, error) {
	id := chi.URLParam(r, "id")
	if !web.ValidID(id) {
		return "", errNotFound
	}
	return strings.ToLower(id), nil
}

// signInPath is the sign-in form that returns to next once signed in.
func signInPath(next string) string {
	if next = safeNext(next); next == "/" {
		return "/auth/signin"
	}
	return "/auth/signin?next=" + url.QueryEscape(next)
}

// safeNext keeps a return path only when it stays on this site: a path, not
// a URL that a crafted link could point elsewhere.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, `/\`) ||
		strings.ContainsAny(next, "\r\n\t\\") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}
