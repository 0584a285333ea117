package load

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// metricsText is what a service serves on /metrics, as client_golang
// writes it.
const metricsText = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
# HELP ticketing_http_requests_total HTTP requests served.
# TYPE ticketing_http_requests_total counter
ticketing_http_requests_total{code="201",method="POST",route="/api/tickets"} 1500
# HELP ticketing_mongodb_commands_total MongoDB commands sent, by collection and command.
# TYPE ticketing_mongodb_commands_total counter
ticketing_mongodb_commands_total{collection="tickets",command="insert"} 1500
ticketing_mongodb_commands_total{collection="tickets",command="update"} 12
ticketing_mongodb_commands_total{collection="tickets",command="find"} 3.0e+00
ticketing_mongodb_commands_total{collection="",command="ping"} 20
ticketing_bus_published_total{subject="ticket:created"} 1500 1712345678000
go_gc_duration_seconds{quantile="0.5"} NaN
http_odd_label{path="a \"quoted\" \\ path\nnext",empty=""} +Inf
`

func TestParseMetrics(t *testing.T) {
	samples, err := parseMetrics(strings.NewReader(metricsText))
	require.NoError(t, err)
	require.Len(t, samples, 9)
	assert.Equal(t, metricSample{name: "go_goroutines", labels: map[string]string{}, value: 42}, samples[0])
	assert.Equal(t, metricSample{
		name:   "ticketing_http_requests_total",
		labels: map[string]string{"code": "201", "method": "POST", "route": "/api/tickets"},
		value:  1500,
	}, samples[1])
	assert.Equal(t, 3.0, samples[4].value)
	assert.Equal(t, 1500.0, samples[6].value, "the timestamp is not the value")
	assert.True(t, math.IsNaN(samples[7].value))
	assert.Equal(t, map[string]string{"path": "a \"quoted\" \\ path\nnext", "empty": ""}, samples[8].labels)
	assert.True(t, math.IsInf(samples[8].value, 1))
}

func TestParseMetrics_Malformed(t *testing.T) {
	for _, text := range []string{
		"novalue\n",
		`m{a="1"` + "\n",
		`m{a=1} 2` + "\n",
		`m{a="1} 2` + "\n",
		`m{a="1"} two` + "\n",
		`m 1 2 3` + "\n",
	} {
		_, err := parseMetrics(strings.NewReader(text))
		assert.Error(t, err, text)
	}
}

func TestCommandCounter(t *testing.T) {
	samples, err := parseMetrics(strings.NewReader(metricsText + `ticketing_mongodb_commands_total{collection="tickets",command="insert",outcome="error"} 2` + "\n"))
	require.NoError(t, err)
	counts, found := commandCounter(samples)
	assert.True(t, found)
	assert.Equal(t, map[commandKey]float64{
		{"tickets", "insert"}: 1502, // summed over the other labels
		{"tickets", "update"}: 12,
		{"tickets", "find"}:   3,
		{"", "ping"}:          20,
	}, counts)

	_, found = commandCounter([]metricSample{{name: "go_goroutines", value: 1}})
	assert.False(t, found)
}

func TestCommandDelta(t *testing.T) {
	before := map[string]map[commandKey]float64{
		"tickets": {{"tickets", "insert"}: 100, {"tickets", "find"}: 7},
		"orders":  {{"orders", "insert"}: 50, {"tickets", "insert"}: 100},
		"auth":    {{"users", "find"}: 3},
	}
	after := map[string]map[commandKey]float64{
		"tickets": {{"tickets", "insert"}: 160, {"tickets", "find"}: 7, {"tickets", "update"}: 2},
		// Restarted meanwhile: it counts from zero again.
		"orders": {{"orders", "insert"}: 5, {"tickets", "insert"}: 160},
		// Not read before: no delta.
		"payments": {{"orders", "insert"}: 9},
	}
	assert.Equal(t, []CommandCount{
		{Service: "orders", Collection: "orders", Command: "insert", Count: 5},
		{Service: "orders", Collection: "tickets", Command: "insert", Count: 60},
		{Service: "tickets", Collection: "tickets", Command: "insert", Count: 60},
		{Service: "tickets", Collection: "tickets", Command: "update", Count: 2},
	}, commandDelta(before, after))
}

func TestScrapeCommands(t *testing.T) {
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(metricsText))
	}))
	defer counting.Close()
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("go_goroutines 3\n"))
	}))
	defer silent.Close()
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	addr := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

	counts, counted, err := scrapeCommands(t.Context(), http.DefaultClient, map[string]string{
		"tickets": addr(counting), "client": addr(silent), "orders": addr(missing),
	})
	assert.True(t, counted)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "orders: GET http://"+addr(missing)+"/metrics: 404")
	assert.Equal(t, 1500.0, counts["tickets"][commandKey{"tickets", "insert"}])
	assert.Empty(t, counts["client"], "a service without a database counts nothing")
	assert.NotContains(t, counts, "orders")

	_, counted, err = scrapeCommands(t.Context(), http.DefaultClient, map[string]string{"client": addr(silent)})
	assert.False(t, counted, "no service counts its commands yet")
	assert.NoError(t, err)
}

func TestCommandsPerRequest(t *testing.T) {
	s := StepResult{Requests: 100, CommandsMeasured: true, Commands: []CommandCount{
		{Service: "tickets", Collection: "tickets", Command: "insert", Count: 100},
		{Service: "tickets", Collection: "tickets", Command: "update", Count: 10},
		{Service: "tickets", Collection: "", Command: "ping", Count: 40},
		{Service: "orders", Collection: "tickets", Command: "insert", Count: 100},
	}}
	total, by, ok := s.CommandsPerRequest()
	assert.True(t, ok)
	assert.InDelta(t, 2.1, total, 1e-9)
	assert.InDeltaMapValues(t, map[string]float64{"tickets": 1.1, "orders": 1}, by, 1e-9)

	_, _, ok = StepResult{Requests: 100}.CommandsPerRequest()
	assert.False(t, ok, "not measured")
	_, _, ok = StepResult{CommandsMeasured: true}.CommandsPerRequest()
	assert.False(t, ok, "no request")
}

func TestCall(t *testing.T) {
	tests := []struct {
		method, path string
		status       int
		want         string
	}{
		{"POST", "/api/tickets", 201, "POST /api/tickets 201"},
		{"GET", "/api/tickets/65f1c0ffee0000000000abcd", 200, "GET /api/tickets/:id 200"},
		{"GET", "/api/tickets?limit=50", 200, "GET /api/tickets?limit 200"},
		{"GET", "/api/orders?limit=5&after=65f1c0ffee0000000000abcd", 200, "GET /api/orders?after&limit 200"},
		{"POST", "/api/payments", 0, "POST /api/payments error"},
		{"GET", "/api/tickets/not-an-id", 400, "GET /api/tickets/not-an-id 400"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Call(tt.method, routeOf(tt.path), tt.status), tt.path)
	}
}
