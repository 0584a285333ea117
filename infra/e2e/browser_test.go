package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBrowser walks the web client's stories in Chromium, through the
// gateway of the package's stack, as users would: one browser for them all,
// a fresh incognito-like browser context per user. Every page a story visits
// is saved as a full-page PNG in the folder the test prints.
func TestBrowser(t *testing.T) {
	b := startBrowser(t)
	stories := []struct {
		name string
		run  func(t *testing.T, b *browser)
	}{
		{"SellerSignsUpSellsEditsAndSignsOut", storySellerSellsAndSignsOut},
		{"BuyerPurchasesPaysAndSeesOrderComplete", storyBuyerPurchasesAndPays},
		{"WrongPasswordShowsMessageBesideForm", storyWrongPassword},
		{"SecondBuyerSeesTicketIsReserved", storySecondBuyerSeesReserved},
		{"UnpaidOrderPageShowsOrderExpired", storyUnpaidOrderExpires},
		{"APIDocsPageRendersTheDocument", storyAPIDocs},
		{"EveryPageLoadsQuietlyFromTheAppAlone", storyEveryPageIsQuiet},
	}
	for _, s := range stories {
		t.Run(s.name, func(t *testing.T) { s.run(t, b) })
	}
}

// storyAPIDocs opens /docs, where the bundled Redoc renders the OpenAPI
// document the client serves, without any request leaving the site.
func storyAPIDocs(t *testing.T, b *browser) {
	t.Parallel()
	tab := b.newTab(t, "reader", desktop)
	tab.visit("/docs")
	tab.waitJS(`!!document.querySelector('.api-info h1') && document.body.innerText.includes('Start buying a ticket')`,
		20*time.Second, "Redoc renders the document")
	assert.Contains(t, tab.text(".api-info h1"), "ticketing")
	tab.shot("docs-rendered")
	tab.checkConsole()
}

// storyEveryPageIsQuiet visits every page of the client, signed out and
// signed in, as seller and as buyer, and fails on anything a page writes to
// the console as an error, and on any request it makes to another site:
// the pages load everything from the app itself (a deployment with
// STRIPE_PUBLISHABLE_KEY adds Stripe.js to the order page, which the stack
// of these tests does not set).
func storyEveryPageIsQuiet(t *testing.T, b *browser) {
	seller := newUser(t, base)
	seller.signUp()
	theirs := seller.sell("Ballet "+unique(), 30)
	t.Parallel()

	tab := b.newTab(t, "visitor", desktop)
	for _, path := range []string{"/", "/auth/signin", "/auth/signup", "/tickets/" + theirs.ID, "/no-such-page"} {
		tab.visit(path)
	}
	tab.visit("/docs")
	// Redoc fetches the document and draws the page, its sidebar's links
	// included, a moment after the page has loaded.
	tab.waitJS(`!!document.querySelector('.api-info h1') && document.body.innerText.includes('API docs by Redocly')`,
		20*time.Second, "Redoc renders the document and its sidebar")

	tab.signUp()
	tab.visit("/tickets/new")
	tab.fill("title", "Recital "+unique())
	tab.fill("price", "12")
	tab.submit(`main form button[type="submit"]`)
	require.Regexp(t, `^/tickets/[0-9a-f]{24}$`, tab.path())
	tab.follow(`a[href$="/edit"]`)

	tab.visit("/tickets/" + theirs.ID)
	orderID := tab.purchase()
	tab.visit("/orders/" + orderID)
	tab.visit("/orders")
	tab.visit("/auth/signout")
	tab.checkConsole()
}

func storySellerSellsAndSignsOut(t *testing.T, b *browser) {
	t.Parallel()
	seller := b.newTab(t, "seller", desktop)
	seller.visit("/")
	assert.Contains(t, seller.text(".site-header nav"), "Sign up")
	seller.signUp()

	seller.follow(`a[href="/tickets/new"]`)
	title := "Concert " + unique()
	seller.fill("title", title)
	seller.fill("price", "20.5")
	seller.focus("title") // leaving the price field tidies it
	assert.Equal(t, "20.50", seller.value("price"), "price shown with 2 decimals")
	seller.submit(`main form button[type="submit"]`)
	assert.Regexp(t, `^/tickets/[0-9a-f]{24}$`, seller.path())
	assert.Equal(t, title, seller.text("h1"))
	assert.Contains(t, seller.text(".price-tag"), "$20.50")

	// Edit while nobody has reserved it; a bad price is refused beside its field.
	seller.follow(`a[href$="/edit"]`)
	assert.Equal(t, "20.50", seller.value("price"))
	seller.fill("price", "free")
	seller.submit(`main form button[type="submit"]`)
	assert.Contains(t, seller.text("#price-error"), "Price must be greater than zero")
	assert.Equal(t, "true", seller.attr("#price", "aria-invalid"))
	assert.Contains(t, seller.attr("#price", "aria-describedby"), "price-error")
	seller.fill("price", "25")
	seller.submit(`main form button[type="submit"]`)
	assert.Contains(t, seller.text(".price-tag"), "$25.00")

	seller.visit("/")
	assert.Contains(t, seller.text("table.tickets"), title)
	assert.Contains(t, seller.text("table.tickets"), "$25.00")

	seller.submit(`.site-header form[action="/auth/signout"] button`)
	assert.Equal(t, "/", seller.path())
	nav := seller.text(".site-header nav")
	assert.Contains(t, nav, "Sign in")
	assert.NotContains(t, nav, "Sign out")
	seller.checkConsole()
}

func storyBuyerPurchasesAndPays(t *testing.T, b *browser) {
	seller := newUser(t, base)
	seller.signUp()
	title := "Opera " + unique()
	tk := seller.sell(title, 42.1)
	t.Parallel()

	buyer := b.newTab(t, "buyer", phone)
	buyer.signUp()
	buyer.visit("/")
	buyer.follow(`a[href="/tickets/` + tk.ID + `"]`)
	orderID := buyer.purchase()
	assert.Equal(t, title, strings.TrimPrefix(buyer.text("h1"), "Order of "))
	assert.Contains(t, buyer.text(".price-tag"), "$42.10")

	first := buyer.text("#countdown")
	require.Regexp(t, `^\d+ seconds? until order expires$`, first)
	buyer.waitJS(fmt.Sprintf(`(() => { const t = document.querySelector('#countdown').textContent;
		return t !== %s && /^\d+ seconds? until order expires$/.test(t); })()`, jsString(first)), 3*time.Second, "the countdown ticks")
	buyer.shot("countdown-ticked")
	assert.Contains(t, buyer.text("#payment"), "Test mode")

	buyer.pay()
	assert.Equal(t, "/orders", buyer.path())
	assert.Contains(t, buyer.text(".banner"), title)

	// The orders service completes the order when it hears of the payment.
	card := "#order-" + orderID
	eventually(t, 10*time.Second, func() bool {
		if buyer.exists(card) && strings.Contains(buyer.text(card+" .status"), "Complete") {
			return true
		}
		buyer.visit("/orders")
		return false
	}, "My orders shows the order complete")
	buyer.shot("order-complete")
	assert.Contains(t, buyer.text(card+" h2"), title)
	assert.Contains(t, buyer.text(card), "$42.10")
	assert.False(t, buyer.exists(card+` form[action$="/cancel"]`), "a paid order cannot be cancelled")
	buyer.checkConsole()
}

func storyWrongPassword(t *testing.T, b *browser) {
	u := newUser(t, base)
	u.signUp()
	t.Parallel()

	tab := b.newTab(t, "user", phone)
	tab.visit("/auth/signin")
	tab.fill("email", u.email)
	tab.fill("password", "not-my-password")
	tab.submit(`main form button[type="submit"]`)
	summary := tab.text(".error-summary")
	assert.Contains(t, summary, "Invalid credentials")
	assert.True(t, tab.evalBool(`document.querySelector('.error-summary').nextElementSibling.tagName === 'FORM'`),
		"the message is right above the form")
	assert.True(t, tab.evalBool(`document.activeElement === document.querySelector('.error-summary')`),
		"the message has the focus, so a screen reader reads it first")
	assert.Equal(t, u.email, tab.value("email"), "the email is kept")
	assert.Empty(t, tab.value("password"), "the password is not")

	tab.fill("password", "")
	tab.submit(`main form button[type="submit"]`)
	assert.Contains(t, tab.text("#password-error"), "You must supply a password")
	assert.Equal(t, "password-error", tab.attr("#password", "aria-describedby"))
	assert.True(t, tab.evalBool(`document.activeElement === document.querySelector('#password')`), "the field in error has the focus")

	tab.fill("password", "password")
	tab.submit(`main form button[type="submit"]`)
	assert.Contains(t, tab.text(".site-header nav"), "Sign out")
	tab.checkConsole()
}

func storySecondBuyerSeesReserved(t *testing.T, b *browser) {
	seller, first := newUser(t, base), newUser(t, base)
	seller.signUp()
	first.signUp()
	tk := seller.sell("Final "+unique(), 100)
	t.Parallel()

	second := b.newTab(t, "second-buyer", desktop)
	second.signUp()
	second.visit("/tickets/" + tk.ID)
	require.True(t, second.exists(`form[action$="/purchase"]`), "on sale: Purchase is offered")

	// The first buyer reserves it while the second looks at the page.
	eventually(t, 10*time.Second, func() bool {
		return first.do("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, nil) == http.StatusCreated
	}, "the first buyer's order")
	second.submit(`form[action$="/purchase"] button`)
	assert.Contains(t, second.text(".error-summary"), "Ticket is already reserved")
	assert.Contains(t, second.text("h1"), tk.Title, "still on the ticket's page")

	// Once the tickets service has locked it, the page says so before any click.
	eventually(t, 10*time.Second, func() bool {
		second.visit("/tickets/" + tk.ID)
		return second.exists(".notice") && strings.Contains(second.text(".notice"), "reserved by another buyer")
	}, "the ticket page shows the ticket reserved")
	assert.False(t, second.exists(`form[action$="/purchase"]`))
	second.checkConsole()
}

func storyUnpaidOrderExpires(t *testing.T, b *browser) {
	seller := newUser(t, base)
	seller.signUp()
	tk := seller.sell("Match "+unique(), 15)
	t.Parallel()

	buyer := b.newTab(t, "buyer", desktop)
	buyer.signUp()
	buyer.visit("/tickets/" + tk.ID)
	buyer.purchase()
	require.Regexp(t, `until order expires$`, buyer.text("#countdown"))

	buyer.waitJS(`document.querySelector('#order-status').textContent === 'Order expired'`, window+3*time.Second, "the countdown ends")
	buyer.shot("expired-live")
	assert.False(t, buyer.evalBool(`document.querySelector('#payment').checkVisibility()`), "no payment once expired")

	// Without the script's countdown, the page itself says the same.
	buyer.visit(buyer.path())
	assert.Equal(t, "Order expired", buyer.text("#order-status"))
	assert.False(t, buyer.exists("#payment"))
	buyer.checkConsole()
}

// viewport is the size of a tab's window.
type viewport struct {
	width, height int64
	mobile        bool
}

var (
	desktop = viewport{width: 1280, height: 800}
	phone   = viewport{width: 390, height: 844, mobile: true}
)

// browser is the one Chromium of the browser stories.
type browser struct {
	ctx context.Context
	dir string // screenshots
}

// browsers are where Chromium or Chrome is found, in order: on the PATH
// (Debian's chromium, as `make test` installs it, and the names other
// systems give it), then the macOS applications.
var browsers = []string{
	"chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
	"/Applications/Chromium.app/Contents/MacOS/Chromium",
	"/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
}

// startBrowser starts Chromium (CHROME_PATH, or the first of browsers
// found), and stops it when t and its subtests are done.
func startBrowser(t *testing.T) *browser {
	path, err := findBrowser(os.Getenv("CHROME_PATH"))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("SCREENSHOT_DIR")
	if dir == "" {
		dir, err = os.MkdirTemp("", "ticketing-screenshots-")
		require.NoError(t, err)
		// go test shows a passing package's output only with -v: a fixed
		// name leads to the newest folder all the same.
		latest := filepath.Join(os.TempDir(), "ticketing-screenshots-latest")
		_ = os.Remove(latest)
		_ = os.Symlink(dir, latest)
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Logf("screenshots: %s", dir)
	fmt.Printf("browser stories: screenshots in %s\n", dir)

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	require.NoError(t, chromedp.Do(ctx), "start chromium")
	return &browser{ctx: ctx, dir: dir}
}

// tab is one user's window: its own cookies, its own screenshots.
type tab struct {
	t     *testing.T
	ctx   context.Context
	dir   string
	shots int
	email string

	mu sync.Mutex
	// console holds the errors of the pages: see observe.
	console []string
	// documents are the requests for pages, as opposed to the resources
	// of a page.
	documents map[network.RequestID]bool
}

// newTab opens a window in a new browser context, as a private window
// would be: no cookies shared with the other users.
func (b *browser) newTab(t *testing.T, who string, v viewport) *tab {
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	opts := []chromedp.EmulateViewportOption{}
	if v.mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(v.width, v.height, opts...)))
	dir := filepath.Join(b.dir, strings.ReplaceAll(t.Name(), "/", "-")+"-"+who)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	tb := &tab{t: t, ctx: ctx, dir: dir, documents: map[network.RequestID]bool{}}
	app, err := url.Parse(base)
	require.NoError(t, err)
	// Listen sees the events in the order they come, before the reply to
	// any later command: what happened until a step returned is recorded
	// when checkConsole looks.
	require.NoError(t, chromedp.Listen(ctx, func(ev any) { tb.observe(app.Host, ev) }))
	return tb
}

// observe records what fails a story: an error written to the console, an
// exception nothing caught, an error in the browser's log (such as a
// resource the security policy refused or that failed to load), and a
// request to another site than the app's.
func (tb *tab) observe(appHost string, ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				if a.Description != "" {
					args = append(args, a.Description)
				} else {
					args = append(args, string(a.Value))
				}
			}
			tb.console = append(tb.console, "console."+string(ev.Type)+": "+strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		tb.console = append(tb.console, fmt.Sprintf("exception: %s (%s:%d)", msg, d.URL, d.LineNumber))
	case *log.EventEntryAdded:
		e := ev.Entry
		// A page answered with an error status — a form refused with a
		// 400, the page of a 404 — is what the story asked for and checks
		// itself; every other resource that fails is a fault of the page.
		if e.Level != log.EntryLevelError || e.Source == log.EntrySourceNetwork && tb.documents[e.NetworkRequestID] {
			return
		}
		tb.console = append(tb.console, fmt.Sprintf("log (%s): %s %s", e.Source, e.Text, e.URL))
	case *network.EventRequestWillBeSent:
		if ev.Type == network.ResourceTypeDocument {
			tb.documents[ev.RequestID] = true
		}
		u, err := url.Parse(ev.Request.URL)
		if err != nil {
			tb.console = append(tb.console, "request to an unreadable address: "+ev.Request.URL)
			return
		}
		switch u.Scheme {
		case "http", "https", "ws", "wss":
			if u.Host != appHost {
				tb.console = append(tb.console, "request to another site: "+ev.Request.URL)
			}
		}
	}
}

// actionTimeout bounds every step, so that a stuck page fails the story.
const actionTimeout = 20 * time.Second

func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	require.NoError(tb.t, chromedp.Do(ctx, actions...))
}

func run[T any](tb *tab, action chromedp.Action[T]) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	require.NoError(tb.t, err)
	return v
}

// navigate runs actions that load a page, checks that no page failed, and
// saves a screenshot of the page, named after how it was reached (visit,
// follow, submit) and its path.
func (tb *tab) navigate(how, what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	require.NoError(tb.t, err, "%s %s", how, what)
	require.NotNil(tb.t, resp, "%s %s", how, what)
	require.Less(tb.t, resp.Status, int64(500), "%s %s: %s", how, what, resp.URL)
	page := tb.path()
	if page == "/" {
		page = "home"
	}
	tb.shot(how + " " + page)
}

// visit opens a path of the site.
func (tb *tab) visit(path string) {
	tb.t.Helper()
	tb.navigate("visit", path, chromedp.Navigate(base+path))
}

// follow clicks a link.
func (tb *tab) follow(selector string) {
	tb.t.Helper()
	tb.navigate("follow", selector, chromedp.Click(chromedp.CSS(selector)))
}

// submit clicks a form's button.
func (tb *tab) submit(selector string) {
	tb.t.Helper()
	tb.navigate("submit", selector, chromedp.Click(chromedp.CSS(selector)))
}

// fill types value into the field with the id, replacing what it held.
func (tb *tab) fill(id, value string) {
	tb.t.Helper()
	tb.do(chromedp.Clear(chromedp.ID(id)))
	if value != "" {
		tb.do(chromedp.SendKeys(chromedp.ID(id), value))
	}
}

func (tb *tab) focus(id string) {
	tb.t.Helper()
	tb.do(chromedp.Focus(chromedp.ID(id)))
}

func (tb *tab) text(selector string) string {
	tb.t.Helper()
	return strings.TrimSpace(run(tb, chromedp.Text(chromedp.CSS(selector))))
}

func (tb *tab) value(id string) string {
	tb.t.Helper()
	return run(tb, chromedp.Value(chromedp.ID(id)))
}

func (tb *tab) attr(selector, name string) string {
	tb.t.Helper()
	return run(tb, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%s).getAttribute(%s) || ''`, jsString(selector), jsString(name))))
}

func (tb *tab) exists(selector string) bool {
	tb.t.Helper()
	return tb.evalBool(fmt.Sprintf(`document.querySelector(%s) !== null`, jsString(selector)))
}

func (tb *tab) evalBool(expr string) bool {
	tb.t.Helper()
	return run(tb, chromedp.Evaluate[bool](expr))
}

// path is the path of the page the tab shows.
func (tb *tab) path() string {
	tb.t.Helper()
	u, err := url.Parse(run(tb, chromedp.Location()))
	require.NoError(tb.t, err)
	return u.Path
}

// waitJS waits until the page's expression is true.
func (tb *tab) waitJS(expr string, limit time.Duration, what string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, limit+time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(limit)))
	if err != nil {
		tb.shot("timeout")
	}
	require.NoError(tb.t, err, what)
}

// shot saves a full-page screenshot, numbered in the order taken.
func (tb *tab) shot(label string) {
	tb.t.Helper()
	png := run(tb, chromedp.FullScreenshot(100))
	tb.shots++
	name := fmt.Sprintf("%02d-%s.png", tb.shots, strings.Trim(fileSafe.ReplaceAllString(strings.ToLower(label), "-"), "-"))
	require.NoError(tb.t, os.WriteFile(filepath.Join(tb.dir, name), png, 0o644))
}

var fileSafe = regexp.MustCompile(`[^a-z0-9]+`)

// signUp signs a new user up through the form and lands on the home page.
func (tb *tab) signUp() {
	tb.t.Helper()
	tb.email = "browser-" + unique() + "@example.com"
	tb.visit("/auth/signup")
	tb.fill("email", tb.email)
	tb.fill("password", "password")
	tb.submit(`main form button[type="submit"]`)
	require.Equal(tb.t, "/", tb.path())
	nav := tb.text(".site-header nav")
	for _, link := range []string{"Sell tickets", "My orders", "Sign out"} {
		require.Contains(tb.t, nav, link)
	}
}

// purchase clicks Purchase on a ticket's page and returns the order's id.
// The orders service learns of a ticket from an event a moment after it is
// listed; the page asks to try again until then.
func (tb *tab) purchase() string {
	tb.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tb.submit(`form[action$="/purchase"] button`)
		if p := tb.path(); strings.HasPrefix(p, "/orders/") {
			return strings.TrimPrefix(p, "/orders/")
		}
		tb.requireRetry(deadline, "the ticket never became orderable")
		time.Sleep(100 * time.Millisecond) // a buyer's pause before clicking again
	}
}

// pay clicks the test-mode payment, again while the payments service has
// not heard of the order yet.
func (tb *tab) pay() {
	tb.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		tb.submit(`#payment form button`)
		if tb.path() == "/orders" {
			return
		}
		tb.requireRetry(deadline, "payments never knew the order")
		time.Sleep(100 * time.Millisecond) // a buyer's pause before clicking again
	}
}

// requireRetry fails unless the page asks to try again in a moment and
// the deadline has not passed.
func (tb *tab) requireRetry(deadline time.Time, msg string) {
	tb.t.Helper()
	require.True(tb.t, tb.exists(".error-summary"), "%s: no message on %s", msg, tb.path())
	require.Contains(tb.t, tb.text(".error-summary"), "just yet", msg)
	require.True(tb.t, time.Now().Before(deadline), msg)
}

// checkConsole fails the story if a page wrote an error to the console —
// a script that threw, a resource the security policy refused or that
// failed to load — or asked another site for anything.
func (tb *tab) checkConsole() {
	tb.t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	assert.Empty(tb.t, tb.console, "console errors")
}

var uniq atomic.Int64

// unique returns a string no other call in this run returns.
func unique() string {
	return fmt.Sprintf("%d-%d", time.Now().UnixMilli()%1_000_000_000, uniq.Add(1))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func findBrowser(configured string) (string, error) {
	if configured != "" {
		return exec.LookPath(configured)
	}
	for _, name := range browsers {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("no Chromium or Chrome found (tried %s; set CHROME_PATH): make deps says how to install it", strings.Join(browsers, ", "))
}
