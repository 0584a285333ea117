// Package routes is the one routing table of the ingress: which service
// answers which path. The local gateway routes by it, and the Kubernetes
// Ingress is tested against it, so the two cannot drift apart.
package routes

import "strings"

// Route sends every path under Prefix to Service.
type Route struct {
	// Prefix matches whole path segments, as a Kubernetes Ingress path of
	// pathType Prefix does: /api/users matches /api/users and
	// /api/users/signin, not /api/usersx.
	Prefix  string
	Service string
}

// Table is the routing table, most specific first.
var Table = []Route{
	{Prefix: "/api/users", Service: "auth"},
	{Prefix: "/api/tickets", Service: "tickets"},
	{Prefix: "/api/orders", Service: "orders"},
	{Prefix: "/api/payments", Service: "payments"},
	{Prefix: "/", Service: "client"},
}

// Match returns the service that answers path: the longest matching prefix.
func Match(path string) (string, bool) {
	best := -1
	for i, r := range Table {
		if matches(r.Prefix, path) && (best < 0 || len(r.Prefix) > len(Table[best].Prefix)) {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	return Table[best].Service, true
}

func matches(prefix, path string) bool {
	if prefix == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// Services returns every service the table routes to, in table order.
func Services() []string {
	out := make([]string, 0, len(Table))
	for _, r := range Table {
		out = append(out, r.Service)
	}
	return out
}
