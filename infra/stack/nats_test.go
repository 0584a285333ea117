package stack

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/events"
)

func TestNATSUsers_AServiceUserPerGrantAndTheOperatorEachWithItsOwnPassword(t *testing.T) {
	for _, transport := range bus.Transports() {
		t.Run(transport, func(t *testing.T) { testNATSUsers(t, transport) })
	}
}

func testNATSUsers(t *testing.T, transport string) {
	users, passwords := natsUsers(transport)
	want := append(slices.Collect(maps.Keys(bus.ServiceGrants())), operatorUser)
	var names []string
	seen := map[string]bool{}
	for _, u := range users {
		names = append(names, u.Name)
		assert.Equal(t, passwords[u.Name], u.Password, u.Name)
		assert.NotEmpty(t, u.Password, u.Name)
		assert.False(t, seen[u.Password], "%s shares a password", u.Name)
		seen[u.Password] = true
		grant, ok := bus.ServiceGrants()[u.Name]
		if !ok {
			grant = bus.OperatorGrant()
		}
		p := grant.PermissionsOn(transport, clusterID)
		assert.Equal(t, p.Publish, u.Publish, u.Name)
		assert.Equal(t, p.Subscribe, u.Subscribe, u.Name)
	}
	assert.ElementsMatch(t, want, names)
}

// The chaos tests publish with the configuration Bus returns, whose
// credentials are the operator's.
func TestBus_CarriesTheOperatorsCredentials(t *testing.T) {
	for _, transport := range bus.Transports() {
		t.Run(transport, func(t *testing.T) {
			users, passwords := natsUsers(transport)
			n, err := embedded.StartBus(transport, embedded.NATSConfig{ClusterID: clusterID, Users: users, StoreDir: t.TempDir()})
			require.NoError(t, err)
			defer n.Stop()
			s := &Stack{nats: n, natsPasswords: passwords}

			cfg2 := s.Bus("stack-test")
			assert.Equal(t, transport, cfg2.Transport)
			assert.False(t, strings.Contains(n.URL(), "@"), "the server's own URL has no credentials")
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			conn, err := bus.Connect(ctx, cfg2, slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			defer func() { _ = conn.Close() }()
			assert.NoError(t, conn.Publish(ctx, string(events.SubjectOrderCancelled), []byte(`{}`)))
		})
	}
}
