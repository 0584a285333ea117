package apidocs_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/infra/apidocs"
)

// retryScript is the shape of the collection's waiting steps: send the
// request again while the answer is a 404, at most 3 times.
var retryScript = []string{
	`if (pm.response.code === 404 && Number(pm.collectionVariables.get("tries")) < 3) {`,
	`    pm.collectionVariables.set("tries", Number(pm.collectionVariables.get("tries")) + 1);`,
	`    postman.setNextRequest(pm.info.requestName);`,
	`} else {`,
	`    pm.collectionVariables.set("tries", 0);`,
	`    pm.test("status 201", function () { pm.response.to.have.status(201); });`,
	`    pm.collectionVariables.set("orderId", pm.response.json().id);`,
	`}`,
}

var waitScript = []string{
	`if (Number(pm.collectionVariables.get("tries")) > 0) {`,
	`    setTimeout(function () {}, 500);`,
	`}`,
}

// collection builds a collection of one folder holding the requests, with
// the folder's pre-request script.
func collection(prerequest []string, items ...apidocs.Item) *apidocs.Collection {
	folder := apidocs.Item{Name: "Story", Item: items}
	if prerequest != nil {
		folder.Event = []apidocs.Event{{Listen: "prerequest", Script: apidocs.Script{Exec: prerequest}}}
	}
	return &apidocs.Collection{
		Variable: []apidocs.Variable{{Key: "baseUrl", Value: "http://example.invalid"}, {Key: "tries", Value: "0"}},
		Item:     []apidocs.Item{folder},
	}
}

func request(name, method, path string, test ...string) apidocs.Item {
	it := apidocs.Item{Name: name, Request: &apidocs.Request{Method: method, URL: apidocs.URL{Raw: "{{baseUrl}}" + path}}}
	if test != nil {
		it.Event = []apidocs.Event{{Listen: "test", Script: apidocs.Script{Exec: test}}}
	}
	return it
}

// server answers POST /orders with a 404 the first notFound times, then
// with a 201, and counts what it was asked.
type server struct {
	mu       sync.Mutex
	notFound int
	asked    []string
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, r.Method+" "+r.URL.Path)
	if r.URL.Path == "/text" {
		_, _ = w.Write([]byte("hello"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/orders" && s.notFound > 0 {
		s.notFound--
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"errors":[{"message":"Not found"}]}`))
		return
	}
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]string{"id": "order-1", "path": r.URL.Path})
}

func runner(t *testing.T, srv http.Handler) (*apidocs.Runner, *[]time.Duration) {
	t.Helper()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	client := ts.Client()
	client.Jar = jar
	var slept []time.Duration
	return &apidocs.Runner{
		Client:      client,
		Environment: map[string]string{"baseUrl": ts.URL},
		Sleep:       func(d time.Duration) { slept = append(slept, d) },
	}, &slept
}

func TestRunner_SendsAStepAgainWhileItsScriptAsks(t *testing.T) {
	srv := &server{notFound: 2}
	r, slept := runner(t, srv)
	c := collection(waitScript,
		request("order", "POST", "/orders", retryScript...),
		request("after", "GET", "/after", `pm.test("status 201", function () { pm.response.to.have.status(201); });`))

	rep, err := r.Run(context.Background(), c)
	require.NoError(t, err)
	assert.Equal(t, []string{"POST /orders", "POST /orders", "POST /orders", "GET /after"}, srv.asked,
		"sent again twice, then on to the next step")
	assert.Equal(t, []time.Duration{500 * time.Millisecond, 500 * time.Millisecond}, *slept, "a wait before each repeat only")
	assert.Empty(t, rep.Failed())
	assert.Len(t, rep.Tests, 2, "no test ran on the attempts sent again")
	assert.Equal(t, "order-1", rep.Variables["orderId"])
	assert.Equal(t, float64(0), rep.Variables["tries"], "the count starts again for the next step")
	assert.Equal(t, 3, rep.Sends["Story / order"])
}

func TestRunner_FailsTheStepWhenItsScriptStopsWaiting(t *testing.T) {
	srv := &server{notFound: 100}
	r, slept := runner(t, srv)
	rep, err := r.Run(context.Background(), collection(waitScript, request("order", "POST", "/orders", retryScript...)))
	require.NoError(t, err)
	assert.Len(t, srv.asked, 4, "the first attempt and 3 more, as the script says")
	assert.Len(t, *slept, 3)
	require.Len(t, rep.Failed(), 1)
	assert.Equal(t, "status 201", rep.Failed()[0].Name)
	assert.Contains(t, rep.Failed()[0].Err.Error(), "expected response to have status code 201 but got 404")
}

func TestRunner_EnvironmentComesBeforeTheCollection(t *testing.T) {
	srv := &server{}
	r, _ := runner(t, srv)
	c := collection(nil, request("one", "GET", "/{{where}}"))
	c.Variable = append(c.Variable, apidocs.Variable{Key: "where", Value: "collection"})
	r.Environment["where"] = "environment"
	_, err := r.Run(context.Background(), c)
	require.NoError(t, err)
	assert.Equal(t, []string{"GET /environment"}, srv.asked)
}

func TestRunner_SetNextRequestNullEndsTheRun(t *testing.T) {
	for _, script := range []string{`postman.setNextRequest(null);`, `pm.execution.setNextRequest(null);`} {
		srv := &server{}
		r, _ := runner(t, srv)
		_, err := r.Run(context.Background(), collection(nil,
			request("one", "GET", "/one", script),
			request("two", "GET", "/two")))
		require.NoError(t, err)
		assert.Equal(t, []string{"GET /one"}, srv.asked, script)
	}
}

func TestRunner_EndsARunThatNeverEnds(t *testing.T) {
	srv := &server{}
	r, _ := runner(t, srv)
	r.MaxSends = 5
	_, err := r.Run(context.Background(), collection(nil, request("loop", "GET", "/loop", `postman.setNextRequest(pm.info.requestName);`)))
	require.Error(t, err)
	assert.Len(t, srv.asked, 5)
}

func TestRunner_AssertionsAndValues(t *testing.T) {
	cases := []struct {
		name, script string
		fails        bool
	}{
		{"status", `pm.test("t", function () { pm.response.to.have.status(201); });`, false},
		{"wrong status", `pm.test("t", function () { pm.response.to.have.status(200); });`, true},
		{"property", `pm.test("t", function () { pm.expect(pm.response.json().path).to.eql("/x"); });`, false},
		{"other property", `pm.test("t", function () { pm.expect(pm.response.json().path).to.eql("/y"); });`, true},
		{"missing property is undefined", `pm.test("t", function () { pm.expect(pm.response.json().nope).to.eql(pm.collectionVariables.get("nope")); });`, false},
		{"number and string differ", `pm.test("t", function () { pm.expect(Number("3")).to.eql("3"); });`, true},
		{"sum", `pm.test("t", function () { pm.expect(Number(pm.collectionVariables.get("tries")) + 1).to.eql(1); });`, false},
		{"strings join", `pm.test("t", function () { pm.expect("a" + 1).to.eql("a1"); });`, false},
		{"false condition", `if (pm.response.code === 201 && 1 > 2) { pm.test("t", function () { pm.expect(1).to.eql(2); }); } else { pm.test("t", function () { pm.expect(1).to.eql(1); }); }`, false},
		{"true condition", `if (pm.response.code !== 404 || 1 > 2) { pm.test("t", function () { pm.expect(1).to.eql(2); }); } else { pm.test("t", function () { pm.expect(1).to.eql(1); }); }`, true},
		{"single quotes", `pm.test('t', function () { pm.expect(pm.response.json().path).to.eql('/x'); });`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := runner(t, &server{})
			rep, err := r.Run(context.Background(), collection(nil, request("one", "GET", "/x", tc.script)))
			require.NoError(t, err)
			require.Len(t, rep.Tests, 1)
			assert.Equal(t, tc.fails, rep.Tests[0].Err != nil, "%v", rep.Tests[0].Err)
		})
	}
}

// TestRunner_AFailedTestDoesNotEndTheScript, as in Postman: an assertion
// ends its pm.test only.
func TestRunner_AFailedTestDoesNotEndTheScript(t *testing.T) {
	r, _ := runner(t, &server{})
	rep, err := r.Run(context.Background(), collection(nil, request("one", "GET", "/x",
		`pm.test("first", function () { pm.response.to.have.status(404); pm.expect(1).to.eql(1); });`,
		`pm.collectionVariables.set("after", pm.response.json().path);`,
		`pm.test("second", function () { pm.response.to.have.status(201); });`)))
	require.NoError(t, err)
	require.Len(t, rep.Tests, 2)
	assert.Error(t, rep.Tests[0].Err)
	assert.NoError(t, rep.Tests[1].Err)
	assert.Equal(t, "/x", rep.Variables["after"])
}

// TestRunner_AScriptThatThrowsEndsTheRun: pm.response.json() of a body that
// is not JSON throws in Postman; outside a pm.test that ends the run, naming
// the line.
func TestRunner_AScriptThatThrowsEndsTheRun(t *testing.T) {
	r, _ := runner(t, &server{})
	_, err := r.Run(context.Background(), collection(nil, request("one", "GET", "/text",
		`pm.test("status 200", function () { pm.response.to.have.status(200); });`,
		`pm.collectionVariables.set("id", pm.response.json().id);`)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Story / one, test script: line 2: SyntaxError: pm.response.json(): the body is not JSON")
}

// TestRunner_FailsOnWhatTheSandboxLacks: a script using a part of Postman's
// sandbox the runner does not give it throws, naming that part, so that it
// fails the run rather than passes unnoticed.
func TestRunner_FailsOnWhatTheSandboxLacks(t *testing.T) {
	for _, tc := range []struct{ listen, script, err string }{
		{"test", `pm.sendRequest("http://example.invalid", function () {});`, "line 1: TypeError: pm.sendRequest is not in the runner's sandbox for test scripts"},
		{"test", "\npm.cookies.get(\"session\");", "line 2: TypeError: pm.cookies is not in the runner's sandbox for test scripts"},
		{"test", `pm.collectionVariables.set("x", pm.response.headers.get("X-Request-Id"));`, "TypeError: pm.response.headers is not in the runner's sandbox for test scripts"},
		{"test", `if (pm.response.code === 201) { pm.environment.set("x", 1); }`, "TypeError: pm.environment is not in the runner's sandbox for test scripts"},
		{"test", `console.log("hello");`, "ReferenceError: console is not defined"},
		{"prerequest", `pm.collectionVariables.set("code", pm.response.code);`, "TypeError: pm.response is not in the runner's sandbox for prerequest scripts"},
	} {
		t.Run(tc.script, func(t *testing.T) {
			srv := &server{}
			r, _ := runner(t, srv)
			step := request("one", "GET", "/x")
			step.Event = []apidocs.Event{{Listen: tc.listen, Script: apidocs.Script{Exec: []string{tc.script}}}}
			_, err := r.Run(context.Background(), collection(nil, step))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "Story / one, "+tc.listen+" script: ")
			assert.Contains(t, err.Error(), tc.err)
		})
	}

	t.Run("in a test", func(t *testing.T) {
		r, _ := runner(t, &server{})
		rep, err := r.Run(context.Background(), collection(nil, request("one", "GET", "/x",
			`pm.test("t", function () { pm.expect(pm.response.json().path).to.equal("/x"); });`)))
		require.NoError(t, err)
		require.Len(t, rep.Failed(), 1, "the test fails, as a test that throws does in Postman")
		assert.EqualError(t, rep.Failed()[0].Err, "TypeError: pm.expect(…).to.equal is not in the runner's sandbox for test scripts")
	})
}

// TestRunner_RefusesAScriptThatDoesNotParse before anything is sent.
func TestRunner_RefusesAScriptThatDoesNotParse(t *testing.T) {
	srv := &server{}
	r, _ := runner(t, srv)
	_, err := r.Run(context.Background(), collection(nil,
		request("one", "GET", "/one"),
		request("two", "GET", "/two", `pm.test("t", function () {`)))
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "Story / two, test script: SyntaxError"), err.Error())
	assert.Empty(t, srv.asked)
}

// TestRunner_WaitsForTimersBeforeGoingOn, as Postman's sandbox does: the
// request goes out after its pre-request script's timers ran, earliest due
// first.
func TestRunner_WaitsForTimersBeforeGoingOn(t *testing.T) {
	srv := &server{}
	r, slept := runner(t, srv)
	c := collection([]string{
		`setTimeout(function () { pm.collectionVariables.set("where", pm.collectionVariables.get("where") + "-300"); }, 300);`,
		`setTimeout(function (s) { pm.collectionVariables.set("where", pm.collectionVariables.get("where") + s); }, 100, "-100");`,
		`pm.collectionVariables.set("where", "now");`,
	}, request("one", "GET", "/{{where}}"))
	_, err := r.Run(context.Background(), c)
	require.NoError(t, err)
	assert.Equal(t, []string{"GET /now-100-300"}, srv.asked)
	assert.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, *slept)
}

// TestRunner_InterruptsAScriptThatDoesNotEnd, in a pm.test too, whose catch
// does not stop the interruption, and in a chain of timers, at the line it
// was running: for a timer interrupted before its callback's first
// instruction, the line that set the timer.
func TestRunner_InterruptsAScriptThatDoesNotEnd(t *testing.T) {
	for _, tc := range []struct{ script, line string }{
		{`while (true) {}`, "line 1"},
		{`pm.test("t", function () { for (;;) {} });`, "line 1"},
		{`function again() { setTimeout(again, 0); } again();`, "line 1"},
		{"pm.collectionVariables.set(\"x\", 1);\nfunction again() { setTimeout(again, 0); }\nagain();", "line 2"},
	} {
		t.Run(tc.script, func(t *testing.T) {
			r, _ := runner(t, &server{})
			r.ScriptTimeout = 50 * time.Millisecond
			rep, err := r.Run(context.Background(), collection(nil, request("one", "GET", "/x", tc.script)))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "Story / one, test script: "+tc.line+": the script ran for more than 50ms")
			assert.Empty(t, rep.Tests)
		})
	}
}
