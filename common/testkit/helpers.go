package testkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"ticketing.dev/common/embedded"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, as
// the PORT a service under test listens on.
func FreePort(t testing.TB) string {
	t.Helper()
	port, err := embedded.FreePort("127.0.0.1")
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	return strconv.Itoa(port)
}

// FreeAddr returns 127.0.0.1 and a port that was free a moment ago: an
// address for a listener under test, or one nothing listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", FreePort(t))
}

// AssertJSONLogs asserts that logs holds at least one line and that every
// line is a JSON object with a level, as the services log.
func AssertJSONLogs(t testing.TB, logs string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	var lines int
	for sc.Scan() {
		var entry map[string]any
		if err := json.Unmarshal(sc.Bytes(), &entry); err != nil {
			t.Errorf("log line %q is no JSON object: %v", sc.Text(), err)
			continue
		}
		if _, ok := entry["level"]; !ok {
			t.Errorf("log line %q has no level", sc.Text())
		}
		lines++
	}
	if lines == 0 {
		t.Error("no log line")
	}
}

// Buffer is a bytes.Buffer safe for concurrent use: the stdout of a service
// whose goroutines log while the test reads.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// AssertSecretsNotLogged checks that logs, a service's stdout, is JSON
// lines, at least one, and that no line holds any of secrets (by name),
// whole or as the last 16 characters of it, so that a secret cut short in
// a log line is still caught. Secrets shorter than 8 characters would match
// by chance and are refused.
func AssertSecretsNotLogged(t testing.TB, logs string, secrets map[string]string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Errorf("testkit: no log lines")
		return
	}
	for i, line := range lines {
		if !json.Valid([]byte(line)) {
			t.Errorf("testkit: log line %d is not JSON: %s", i+1, line)
		}
	}
	for name, secret := range secrets {
		if len(secret) < 8 {
			t.Fatalf("testkit: secret %s is too short to look for", name)
		}
		tail := secret[len(secret)-min(16, len(secret)):]
		for i, line := range lines {
			if strings.Contains(line, secret) || strings.Contains(line, tail) {
				t.Errorf("testkit: log line %d holds the %s: %s", i+1, name, line)
			}
		}
	}
}
