package config_test

import (
	"maps"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/config"
)

// readNATS reads the NATS settings from the variables vars. With wantErr,
// it checks that reading fails with an error that says it, and reports
// false; without, that reading succeeds, and reports true.
func readNATS(t *testing.T, vars map[string]string, wantErr string) (config.NATS, bool) {
	t.Helper()
	e := env(vars)
	got := config.ReadNATS(e)
	if wantErr != "" {
		require.Error(t, e.Err())
		assert.Contains(t, e.Err().Error(), wantErr)
		return got, false
	}
	require.NoError(t, e.Err())
	return got, true
}

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
			got, ok := readNATS(t, map[string]string{
				"NATS_URL": "nats://nats-srv:4222", "NATS_CLUSTER_ID": "ticketing", "NATS_CLIENT_ID": "tickets-abc",
				"NATS_USER": tt.user, "NATS_PASSWORD": tt.password,
			}, tt.wantErr)
			if !ok {
				return
			}
			assert.Equal(t, tt.user, got.User)
			assert.Equal(t, tt.password, got.Password)
		})
	}
}

func TestReadNATS_Transport(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		want    config.NATS
		wantErr string
	}{
		{
			name: "stan by default, with its cluster",
			vars: map[string]string{"NATS_CLUSTER_ID": "ticketing"},
			want: config.NATS{Transport: "stan", ClusterID: "ticketing", Replicas: 1},
		},
		{
			name:    "stan needs its cluster",
			vars:    map[string]string{"BUS": "stan"},
			wantErr: "NATS_CLUSTER_ID must be defined",
		},
		{
			name: "jetstream needs no cluster, and takes its replicas",
			vars: map[string]string{"BUS": "jetstream", "JETSTREAM_REPLICAS": "3"},
			want: config.NATS{Transport: "jetstream", Replicas: 3},
		},
		{
			name:    "an unknown transport",
			vars:    map[string]string{"BUS": "kafka", "NATS_CLUSTER_ID": "ticketing"},
			wantErr: `BUS must be stan or jetstream, got "kafka"`,
		},
		{
			name:    "no replicas",
			vars:    map[string]string{"BUS": "jetstream", "JETSTREAM_REPLICAS": "0"},
			wantErr: "JETSTREAM_REPLICAS",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{"NATS_URL": "nats://nats-srv:4222", "NATS_CLIENT_ID": "tickets-abc"}
			maps.Copy(vars, tt.vars)
			got, ok := readNATS(t, vars, tt.wantErr)
			if !ok {
				return
			}
			assert.Equal(t, tt.want.Transport, got.Transport)
			assert.Equal(t, tt.want.ClusterID, got.ClusterID)
			assert.Equal(t, tt.want.Replicas, got.Replicas)
		})
	}
}
