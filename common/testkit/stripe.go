package testkit

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"ticketing.dev/common/embedded"
)

var (
	stripeOnce sync.Once
	stripeCmd  *exec.Cmd
	stripeURL  string
	stripeErr  error
	stripeDir  string
)

// StripeMock returns the URL of stripe-mock, Stripe's official mock API
// server, started once per test package (it keeps no state) and stopped by
// Main. It runs as the Go tool pinned in the repository's tools/go.mod.
func StripeMock(t testing.TB) string {
	t.Helper()
	stripeOnce.Do(startStripeMock)
	if stripeErr != nil {
		t.Fatalf("testkit: stripe-mock: %v", stripeErr)
	}
	return stripeURL
}

func startStripeMock() {
	_, file, _, _ := runtime.Caller(0)
	toolsDir := filepath.Join(filepath.Dir(file), "..", "..", "tools")
	port, err := embedded.FreePort("127.0.0.1")
	if err != nil {
		stripeErr = err
		return
	}
	httpsPort, err := embedded.FreePort("127.0.0.1")
	if err != nil {
		stripeErr = err
		return
	}
	// Build the binary and run it directly, rather than through `go tool`,
	// so that stopping it cannot leave an orphaned child behind.
	stripeDir, err = os.MkdirTemp("", "testkit-stripe-mock-")
	if err != nil {
		stripeErr = err
		return
	}
	bin := filepath.Join(stripeDir, "stripe-mock")
	build := exec.Command("go", "build", "-o", bin, "github.com/stripe/stripe-mock")
	build.Dir = toolsDir
	build.Env = append(os.Environ(), "GOWORK=off") // the tools module is not in the workspace
	if out, err := build.CombinedOutput(); err != nil {
		stripeErr = fmt.Errorf("build: %w\n%s", err, out)
		return
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// Without -https-addr it would also listen on every interface.
	cmd := exec.Command(bin, "-http-addr", addr, "-https-addr", "127.0.0.1:"+strconv.Itoa(httpsPort))
	if err := cmd.Start(); err != nil {
		stripeErr = fmt.Errorf("start: %w", err)
		return
	}
	stripeCmd = cmd
	stripeURL = "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(stripeURL + "/v1/charges")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			stripeErr = fmt.Errorf("not answering at %s: %w", stripeURL, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stopStripeMock() {
	if stripeCmd != nil {
		_ = stripeCmd.Process.Kill()
		_ = stripeCmd.Wait()
	}
	if stripeDir != "" {
		_ = os.RemoveAll(stripeDir)
	}
}
