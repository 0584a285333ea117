package routes_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"ticketing.dev/infra/routes"
)

func TestMatch(t *testing.T) {
	cases := map[string]string{
		"/api/users/signup":        "auth",
		"/api/users":               "auth",
		"/api/users/currentuser":   "auth",
		"/api/tickets":             "tickets",
		"/api/tickets/507f1f77bcf": "tickets",
		"/api/orders/x":            "orders",
		"/api/payments":            "payments",
		"/":                        "client",
		"/tickets/new":             "client",
		"/api/usersx":              "client",
		"/api/ticketsfoo/bar":      "client",
		"/api":                     "client",
	}
	for path, want := range cases {
		got, ok := routes.Match(path)
		assert.True(t, ok, path)
		assert.Equal(t, want, got, path)
	}
	_, ok := routes.Match("no-slash")
	assert.False(t, ok)
}
