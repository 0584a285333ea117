package apidocs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Runner runs a collection as Postman's collection runner does: every
// request in order, in one cookie jar, with the collection's scripts run
// around each, and postman.setNextRequest choosing the request that follows.
// It adds nothing of its own: no retries, no waits the scripts do not ask
// for.
type Runner struct {
	// Client sends the requests; its Jar is the run's cookie jar.
	Client *http.Client
	// Environment holds the variables of the chosen environment, which take
	// precedence over the collection's, as in Postman.
	Environment map[string]string
	// Sleep waits for a script's setTimeout; time.Sleep when nil.
	Sleep func(time.Duration)
	// Observe, when set, sees every exchange of the run.
	Observe func(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte)
	// MaxSends ends a run that sends more requests than this, so that a
	// script which never stops sending one again fails rather than hangs;
	// 1000 when 0.
	MaxSends int
	// ScriptTimeout is the JavaScript time one script may take before it is
	// interrupted, so that a loop in a script fails the run rather than
	// hangs it; 5 s when 0. The waits of setTimeout do not count.
	ScriptTimeout time.Duration
}

// TestResult is the outcome of one pm.test: Err is nil when it passed.
type TestResult struct {
	Request string
	Name    string
	Err     error
}

// Report is what a run did.
type Report struct {
	// Sends counts the times each request was sent, by its path (Step.Path).
	Sends map[string]int
	// Tests are the pm.test outcomes, in the order they ran.
	Tests []TestResult
	// Variables are the collection's variables at the end of the run.
	Variables map[string]any
}

// Failed returns the tests that failed.
func (r *Report) Failed() []TestResult {
	var out []TestResult
	for _, t := range r.Tests {
		if t.Err != nil {
			out = append(out, t)
		}
	}
	return out
}

// Parse parses every script of the collection as JavaScript, and returns
// the first syntax error.
func Parse(c *Collection) error {
	for _, s := range c.Requests() {
		for _, listen := range []string{"prerequest", "test"} {
			for _, src := range s.scripts(c, listen) {
				if _, err := compile(src); err != nil {
					return fmt.Errorf("%s, %s script: %w", s.Path(), listen, err)
				}
			}
		}
	}
	return nil
}

// Run runs the whole collection, as "Run collection" does. An error means
// the run could not go on — a script that does not parse, one that threw
// outside a pm.test or ran too long, a request that could not be sent — and
// the report holds what ran until then; failed tests are in the report only.
func (r *Runner) Run(ctx context.Context, c *Collection) (*Report, error) {
	if err := Parse(c); err != nil {
		return nil, err
	}
	sleep := r.Sleep
	if sleep == nil {
		sleep = time.Sleep
	}
	maxSends := r.MaxSends
	if maxSends == 0 {
		maxSends = 1000
	}
	timeout := r.ScriptTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	rep := &Report{Sends: map[string]int{}, Variables: map[string]any{}}
	for _, v := range c.Variable {
		rep.Variables[v.Key] = v.Value
	}
	steps := c.Requests()
	sent := 0
	for i := 0; i < len(steps); {
		s := steps[i]
		if sent == maxSends {
			return rep, fmt.Errorf("%d requests sent: the run does not end (setNextRequest in a loop?)", sent)
		}
		sent++
		sb := &sandbox{request: s.Item.Name, vars: rep.Variables, sleep: sleep, timeout: timeout}
		if err := r.scripts(c, s, "prerequest", sb); err != nil {
			return rep, err
		}
		if err := r.send(ctx, s, sb, rep); err != nil {
			return rep, fmt.Errorf("%s: %w", s.Path(), err)
		}
		if err := r.scripts(c, s, "test", sb); err != nil {
			return rep, err
		}
		rep.Tests = append(rep.Tests, sb.tests...)

		switch {
		case sb.nextStop:
			return rep, nil
		case sb.next != nil:
			j := indexOf(steps, *sb.next)
			if j < 0 {
				return rep, fmt.Errorf("%s: setNextRequest(%q): no request has that name", s.Path(), *sb.next)
			}
			i = j
		default:
			i++
		}
	}
	return rep, nil
}

// indexOf finds the request the collection runner jumps to by name: the
// first with that name.
func indexOf(steps []Step, name string) int {
	for i, s := range steps {
		if s.Item.Name == name {
			return i
		}
	}
	return -1
}

func (r *Runner) scripts(c *Collection, s Step, listen string, sb *sandbox) error {
	for _, src := range s.scripts(c, listen) {
		if err := sb.run(listen, src); err != nil {
			return fmt.Errorf("%s, %s script: %w", s.Path(), listen, err)
		}
	}
	return nil
}

func (r *Runner) send(ctx context.Context, s Step, sb *sandbox, rep *Report) error {
	rq := s.Item.Request
	expand := func(v string) (string, error) { return r.expand(v, rep.Variables) }
	url, err := expand(rq.URL.Raw)
	if err != nil {
		return err
	}
	var reqBody []byte
	if rq.Body != nil && rq.Body.Mode == "raw" {
		b, err := expand(rq.Body.Raw)
		if err != nil {
			return err
		}
		reqBody = []byte(b)
	}
	req, err := http.NewRequestWithContext(ctx, rq.Method, url, bytes.NewReader(reqBody))
	if err != nil {
		return err
	}
	for _, h := range rq.Header {
		if h.Disabled {
			continue
		}
		v, err := expand(h.Value)
		if err != nil {
			return err
		}
		req.Header.Add(h.Key, v)
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	rep.Sends[s.Path()]++
	if r.Observe != nil {
		r.Observe(req, reqBody, resp, body)
	}
	sb.code, sb.body = resp.StatusCode, body
	return nil
}

var placeholder = regexp.MustCompile(`\{\{([^{}]+)\}\}`)

// expand replaces the {{variables}} of s: the environment's first, then the
// collection's, then Postman's dynamic variables that the collection uses.
// An unknown variable is an error: Postman would send its name as it is.
func (r *Runner) expand(s string, vars map[string]any) (string, error) {
	var missing []string
	out := placeholder.ReplaceAllStringFunc(s, func(m string) string {
		name := placeholder.FindStringSubmatch(m)[1]
		if v, ok := r.Environment[name]; ok {
			return v
		}
		if v, ok := vars[name]; ok {
			return toString(v)
		}
		switch name {
		case "$timestamp":
			return strconv.FormatInt(time.Now().Unix(), 10)
		case "$guid", "$randomUUID":
			return newGUID()
		}
		missing = append(missing, m)
		return m
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("unknown variables %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// toString is what a variable's value is sent as: a string as it is, any
// other value as JSON, which writes numbers as JavaScript does.
func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
