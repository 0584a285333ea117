package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/config"
)

func TestReadNATS_Credentials(t *testing.T) {
	tests := []struct {
		name, user, password string
		wantErr              string
	}{
		{name: "none: a server that checks none"},
		{name: "both", user: "tickets", password: "s3cret"},
		{name: "a user without a password", user: "tickets", wantErr: "NATS_PASSWORD must be defined when NATS_USER is"},
		{name: "a password without a user", password: "s3cret", wantErr: "NATS_USER must be defined when NATS_PASSWORD is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env(map[string]string{
				"NATS_URL": "nats://nats-srv:4222", "NATS_CLUSTER_ID": "ticketing", "NATS_CLIENT_ID": "tickets-abc",
				"NATS_USER": tt.user, "NATS_PASSWORD": tt.password,
			})

			got := config.ReadNATS(e)

			if tt.wantErr != "" {
				require.Error(t, e.Err())
				assert.Contains(t, e.Err().Error(), tt.wantErr)
				return
			}
			require.NoError(t, e.Err())
			assert.Equal(t, tt.user, got.User)
			assert.Equal(t, tt.password, got.Password)
		})
	}
}
