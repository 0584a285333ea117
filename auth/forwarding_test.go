package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testkit"
)

// The web client signs browsers in by calling auth from the server, through
// the ingress, so every sign-in reaches auth from the same two hops. This
// test runs the chain as Kubernetes does, on loopback: the client's own
// binary behind a trusted stand-in for the ingress (the test, setting the
// browser's address in X-Forwarded-For), its API calls through a second
// stand-in that appends its peer to X-Forwarded-For as ingress-nginx does
// with compute-full-forwarded-for, and auth's own run. Both stand-ins and
// the client are at 127.0.0.1, the one address auth and the client trust,
// as the pod network is in the manifests.
func TestWebSignIn_BehindTheIngressEachBrowserHasItsOwnBudget(t *testing.T) {
	const limit = 1 // attempts a minute per address: anything over it is refused for a minute
	authURL := startAuth(t, map[string]string{
		"RATE_LIMIT":      fmt.Sprint(limit),
		"TRUSTED_PROXIES": "127.0.0.1/32",
	})
	ingress := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		target, _ := url.Parse(authURL)
		r.SetURL(target)
		r.Out.Header["X-Forwarded-For"] = r.In.Header["X-Forwarded-For"]
		r.SetXForwarded()
	}})
	t.Cleanup(ingress.Close)
	client := buildClient(t)
	trusting := startClient(t, client, ingress.URL, "127.0.0.1/32")

	const email, password = "browser@test.com", "right-password"
	require.Equal(t, http.StatusSeeOther, postForm(t, trusting, "/auth/signup", "192.0.2.1", email, password).status)

	t.Run("a hundred browsers, one sign-in each", func(t *testing.T) {
		var refused []string
		for i := range 100 {
			browser := fmt.Sprintf("203.0.113.%d", i+1)
			a := postForm(t, trusting, "/auth/signin", browser, email, password)
			if a.status != http.StatusSeeOther {
				refused = append(refused, fmt.Sprintf("%s: %d", browser, a.status))
			}
		}
		assert.Empty(t, refused, "each browser has its own budget")
	})

	t.Run("one browser, a hundred sign-ins", func(t *testing.T) {
		statuses := signIns(t, trusting, func(int) string { return "198.51.100.7" }, email, password)
		assert.Equal(t, http.StatusSeeOther, statuses[0])
		assert.Equal(t, []int{http.StatusTooManyRequests}, distinct(statuses[limit:]), "refused past the limit")
	})

	t.Run("a client that does not trust its peer ignores the X-Forwarded-For it sends", func(t *testing.T) {
		untrusting := startClient(t, client, ingress.URL, "")
		statuses := signIns(t, untrusting, func(i int) string { return fmt.Sprintf("203.0.113.%d", i+101) }, email, password)
		assert.Equal(t, http.StatusSeeOther, statuses[0])
		assert.Equal(t, []int{http.StatusTooManyRequests}, distinct(statuses[limit:]),
			"every sign-in is the peer's, whatever address it claims")
	})
}

// page is the client's answer to a browser.
type page struct {
	status int
	body   string
}

// postForm posts the form as a browser would, with X-Forwarded-For set to
// browser as the ingress in front of the client sets it.
func postForm(t *testing.T, base, path, browser, email, password string) page {
	t.Helper()
	form := url.Values{"email": {email}, "password": {password}}
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", browser)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return page{status: resp.StatusCode, body: string(b)}
}

// signIns makes a hundred sign-ins, the i-th from browser(i), and returns
// their statuses; a refusal must be the rate limit's page.
func signIns(t *testing.T, base string, browser func(int) string, email, password string) []int {
	t.Helper()
	statuses := make([]int, 100)
	for i := range statuses {
		a := postForm(t, base, "/auth/signin", browser(i), email, password)
		statuses[i] = a.status
		if a.status == http.StatusTooManyRequests {
			require.Contains(t, a.body, "Too many requests, try again later")
		}
	}
	return statuses
}

// distinct returns the statuses that occur, in order.
func distinct(statuses []int) []int {
	var out []int
	for _, s := range statuses {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// startAuth runs auth with vars on top of a working configuration until
// the test ends, and returns its URL once it is ready.
func startAuth(t *testing.T, vars map[string]string) string {
	t.Helper()
	env := testkit.ServiceEnv(testkit.MongoURI(t), nil, map[string]string{
		"JWT_KEY":   "jwt-key-" + rand.Text(),
		"LOG_LEVEL": "warn",
	}, vars)
	return testkit.StartService(t, run, env).URL
}

// buildClient builds the web client's binary, as its image does.
func buildClient(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "client")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join("..", "client")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "build the client:\n%s", out)
	return bin
}

// startClient runs the client's binary, calling the API at apiURL and
// trusting the X-Forwarded-For of the peers in trusted, until the test
// ends, and returns its URL once it serves.
func startClient(t *testing.T, bin, apiURL, trusted string) string {
	t.Helper()
	port := testkit.FreePort(t)
	cmd := exec.Command(bin)
	cmd.Env = []string{"PORT=" + port, "API_BASE_URL=" + apiURL, "TRUSTED_PROXIES=" + trusted, "LOG_LEVEL=warn"}
	out := &testkit.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		<-exited
		if t.Failed() {
			t.Logf("client's log:\n%s", out)
		}
	})
	base := "http://127.0.0.1:" + port
	testkit.Eventually(t, func() bool {
		select {
		case <-exited:
			t.Fatalf("the client exited:\n%s", out)
		default:
		}
		return ready(base + "/healthz")
	}, "client serving")
	return base
}

func ready(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
