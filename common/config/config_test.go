package config_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/config"
)

func env(vars map[string]string) *config.Env {
	return config.NewEnv(func(k string) string { return vars[k] })
}

// jwtKey is a JWT_KEY of the shortest length a service accepts.
const jwtKey = "0123456789abcdef0123456789abcdef"

func TestReadHTTP_Defaults(t *testing.T) {
	e := env(map[string]string{"JWT_KEY": jwtKey, "MONGO_URI": "mongodb://db/auth"})
	c := config.ReadHTTP(e)
	require.NoError(t, e.Err())
	assert.Equal(t, ":3000", c.ListenAddr, "every interface, as a container needs")
	assert.Equal(t, []byte(jwtKey), c.JWTKey)
	assert.True(t, c.CookieSecure)
	assert.Equal(t, 24*time.Hour, c.SessionTTL)
	assert.Equal(t, slog.LevelInfo, c.LogLevel)
	assert.Empty(t, c.DebugAddr, "metrics are off unless asked for")
	assert.Empty(t, c.PprofAddr, "profiling is off unless asked for")
}

func TestReadListenAddr_LISTEN_HOSTNarrowsWhereAServiceListens(t *testing.T) {
	for vars, want := range map[[2]string]string{
		{"", ""}:              ":3000",
		{"127.0.0.1", "4001"}: "127.0.0.1:4001",
		{"::1", "4002"}:       "[::1]:4002",
	} {
		assert.Equal(t, want, config.ReadListenAddr(env(map[string]string{"LISTEN_HOST": vars[0], "PORT": vars[1]})))
	}
}

func TestReadHTTP_JWTKeyOfLessThan32BytesIsRefused(t *testing.T) {
	require.Len(t, jwtKey, config.MinJWTKeyBytes)
	tests := []struct {
		name, key string
		want      string
	}{
		{"one byte", "k", "JWT_KEY must be at least 32 bytes, got 1"},
		{"one byte short", jwtKey[1:], "JWT_KEY must be at least 32 bytes, got 31"},
		{"short once trimmed", "  " + jwtKey[2:] + "  ", "JWT_KEY must be at least 32 bytes, got 30"},
		{"unset", "", "JWT_KEY must be defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env(map[string]string{"JWT_KEY": tt.key, "MONGO_URI": "mongodb://db/auth"})

			config.ReadHTTP(e)

			err := e.Err()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			if len(tt.key) > 8 {
				assert.NotContains(t, err.Error(), strings.TrimSpace(tt.key), "the key stays out of the message")
			}
		})
	}
}

func TestReadHTTP_JWTKeyOf32BytesOrMoreIsTaken(t *testing.T) {
	for _, key := range []string{jwtKey, jwtKey + jwtKey + "=="} {
		e := env(map[string]string{"JWT_KEY": key, "MONGO_URI": "mongodb://db/auth"})

		c := config.ReadHTTP(e)

		require.NoError(t, e.Err())
		assert.Equal(t, []byte(key), c.JWTKey)
	}
}

func TestReadDebugAddrAndPprofAddr(t *testing.T) {
	tests := []struct {
		name, value, want string
		wantErr           bool
	}{
		{"unset is off", "", "", false},
		{"loopback with a port", "127.0.0.1:6060", "127.0.0.1:6060", false},
		{"any port", "localhost:0", "localhost:0", false},
		{"no port", "127.0.0.1", "", true},
		{"empty port", "127.0.0.1:", "", true},
	}
	for variable, read := range map[string]func(*config.Env) string{
		"DEBUG_ADDR": config.ReadDebugAddr,
		"PPROF_ADDR": config.ReadPprofAddr,
	} {
		for _, tt := range tests {
			t.Run(variable+" "+tt.name, func(t *testing.T) {
				e := env(map[string]string{variable: tt.value})

				got := read(e)

				assert.Equal(t, tt.want, got)
				if tt.wantErr {
					require.Error(t, e.Err())
					assert.Contains(t, e.Err().Error(), variable)
				} else {
					assert.NoError(t, e.Err())
				}
			})
		}
	}
}

func TestReadHTTP_ReadsTheMetricsAndProfileAddressesApart(t *testing.T) {
	e := env(map[string]string{"JWT_KEY": jwtKey, "MONGO_URI": "mongodb://db/auth", "DEBUG_ADDR": ":9090"})
	c := config.ReadHTTP(e)
	require.NoError(t, e.Err())
	assert.Equal(t, ":9090", c.DebugAddr)
	assert.Empty(t, c.PprofAddr, "metrics do not turn profiling on")

	e = env(map[string]string{"JWT_KEY": jwtKey, "MONGO_URI": "mongodb://db/auth", "PPROF_ADDR": "127.0.0.1:6061"})
	c = config.ReadHTTP(e)
	require.NoError(t, e.Err())
	assert.Empty(t, c.DebugAddr)
	assert.Equal(t, "127.0.0.1:6061", c.PprofAddr)
}

func TestReadHTTP_NamesEveryMissingVariable(t *testing.T) {
	e := env(nil)
	config.ReadHTTP(e)
	config.ReadNATS(e)
	err := e.Err()
	require.Error(t, err)
	for _, name := range []string{"JWT_KEY", "MONGO_URI", "NATS_URL", "NATS_CLUSTER_ID", "NATS_CLIENT_ID"} {
		assert.Contains(t, err.Error(), name+" must be defined")
	}
}

func TestEnv_RejectsMalformedValues(t *testing.T) {
	e := env(map[string]string{
		"COOKIE_SECURE": "maybe", "EXPIRATION_WINDOW": "soon", "RATE_LIMIT": "-1", "LOG_LEVEL": "loud",
	})
	assert.True(t, e.Bool("COOKIE_SECURE", true))
	assert.Equal(t, 15*time.Minute, e.Duration("EXPIRATION_WINDOW", 15*time.Minute))
	assert.Equal(t, 60, e.Int("RATE_LIMIT", 60))
	e.LogLevel("LOG_LEVEL")
	err := e.Err()
	require.Error(t, err)
	for _, name := range []string{"COOKIE_SECURE", "EXPIRATION_WINDOW", "RATE_LIMIT", "LOG_LEVEL"} {
		assert.Contains(t, err.Error(), name)
	}
}

func TestEnv_ParsesValues(t *testing.T) {
	e := env(map[string]string{"COOKIE_SECURE": "false", "EXPIRATION_WINDOW": "3s", "RATE_LIMIT": "0", "LOG_LEVEL": "debug"})
	assert.False(t, e.Bool("COOKIE_SECURE", true))
	assert.Equal(t, 3*time.Second, e.Duration("EXPIRATION_WINDOW", time.Minute))
	assert.Equal(t, 0, e.Int("RATE_LIMIT", 60))
	assert.Equal(t, slog.LevelDebug, e.LogLevel("LOG_LEVEL"))
	assert.NoError(t, e.Err())
}

func TestEnv_CIDRs(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  []string
	}{
		{"unset is none", "", nil},
		{"one prefix", "127.0.0.1/32", []string{"127.0.0.1/32"}},
		{"a list with spaces", " 10.0.0.0/8 , fd00::/8,192.168.0.0/16 ", []string{"10.0.0.0/8", "fd00::/8", "192.168.0.0/16"}},
		{"a bare address is itself alone", "127.0.0.1,::1", []string{"127.0.0.1/32", "::1/128"}},
		{"host bits are masked", "10.1.2.3/8", []string{"10.0.0.0/8"}},
		{"IPv4-mapped prefixes are IPv4", "::ffff:10.0.0.0/104", []string{"10.0.0.0/8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env(map[string]string{"TRUSTED_PROXIES": tt.value})

			got := e.CIDRs("TRUSTED_PROXIES")

			require.NoError(t, e.Err())
			var names []string
			for _, p := range got {
				names = append(names, p.String())
			}
			assert.Equal(t, tt.want, names)
		})
	}
}

func TestEnv_CIDRsRejectsMalformedLists(t *testing.T) {
	for _, value := range []string{"10.0.0.0/33", "localhost", "10.0.0.0/8,", "10.0.0.0/8;fd00::/8", "fe80::1%eth0", "::ffff:10.0.0.0/8"} {
		t.Run(value, func(t *testing.T) {
			e := env(map[string]string{"TRUSTED_PROXIES": value})

			assert.Empty(t, e.CIDRs("TRUSTED_PROXIES"))

			err := e.Err()
			require.Error(t, err)
			assert.Contains(t, err.Error(), "TRUSTED_PROXIES")
		})
	}
}

func TestReadNATS_MaxDeliveries(t *testing.T) {
	tests := []struct {
		name, value string
		want        int
		wantErr     bool
	}{
		{"unset is the default", "", config.DefaultMaxDeliveries, false},
		{"one gives up after the first failure", "1", 1, false},
		{"a larger limit", " 25 ", 25, false},
		{"zero would never deliver", "0", config.DefaultMaxDeliveries, true},
		{"negative", "-3", config.DefaultMaxDeliveries, true},
		{"not a number", "ten", config.DefaultMaxDeliveries, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env(map[string]string{
				"NATS_URL": "nats://nats-srv:4222", "NATS_CLUSTER_ID": "ticketing", "NATS_CLIENT_ID": "orders-abc",
				"BUS_MAX_DELIVERIES": tt.value,
			})

			got := config.ReadNATS(e)

			assert.Equal(t, tt.want, got.MaxDeliveries)
			if tt.wantErr {
				require.Error(t, e.Err())
				assert.Contains(t, e.Err().Error(), "BUS_MAX_DELIVERIES must be an integer of at least 1")
			} else {
				assert.NoError(t, e.Err())
			}
		})
	}
}
