package stack

import (
	"crypto/rand"
	"maps"
	"net/url"
	"slices"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/embedded"
)

// clusterID is the stack's NATS Streaming cluster id, as in Kubernetes.
const clusterID = "ticketing"

// operatorUser publishes events by hand on the stack's bus: the
// chaos tests, and dead letters replayed with the URL NATS returns.
const operatorUser = "operator"

// natsUsers returns the users of the stack's bus server of transport, as
// in Kubernetes: each service with the permissions of its grant
// (bus.ServiceGrants) and the operator with bus.OperatorGrant, each with a
// password of its own, new at every start; and the passwords by user.
func natsUsers(transport string) ([]embedded.NATSUser, map[string]string) {
	grants := bus.ServiceGrants()
	grants[operatorUser] = bus.OperatorGrant()
	users := make([]embedded.NATSUser, 0, len(grants))
	passwords := make(map[string]string, len(grants))
	for _, name := range slices.Sorted(maps.Keys(grants)) {
		p := grants[name].PermissionsOn(transport, clusterID)
		passwords[name] = rand.Text()
		users = append(users, embedded.NATSUser{Name: name, Password: passwords[name], Publish: p.Publish, Subscribe: p.Subscribe})
	}
	return users, passwords
}

// operatorURL is the bus server's URL with the operator's credentials.
func (s *Stack) operatorURL() string {
	u, err := url.Parse(s.nats.URL())
	if err != nil {
		return s.nats.URL() // the server's own URL always parses
	}
	u.User = url.UserPassword(operatorUser, s.natsPasswords[operatorUser])
	return u.String()
}
