package testkit_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func TestRedis_BothServersAnswer(t *testing.T) {
	for name, addr := range map[string]string{
		"embedded": testkit.MiniRedis(t),
		"real":     testkit.RedisServer(t),
	} {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err, name)
		_, err = c.Write([]byte("*1\r\n$4\r\nPING\r\n"))
		require.NoError(t, err, name)
		buf := make([]byte, 7)
		_, err = io.ReadFull(c, buf)
		require.NoError(t, err, name)
		assert.Equal(t, "+PONG\r\n", string(buf), name)
		c.Close()
	}
}

func TestStripeMock_Answers(t *testing.T) {
	url := testkit.StripeMock(t)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url+"/v1/charges", nil)
	require.NoError(t, err)
	req.SetBasicAuth("sk_test_123", "")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
