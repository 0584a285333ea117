package stack

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWaitReady_RecordsTheTimeFromStartToFirstReady(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if asked.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	p, err := startProc("sleeper", "/bin/sleep", []string{"30"}, nil, &out{w: io.Discard})
	require.NoError(t, err)
	defer p.stop(time.Second)
	_, ok := p.ready()
	require.False(t, ok, "not ready before it is asked")

	require.NoError(t, p.waitReady(context.Background(), srv.URL+"/readyz", 10*time.Second))

	d, ok := p.ready()
	assert.True(t, ok)
	assert.Positive(t, d)
	assert.EqualValues(t, 3, asked.Load(), "asked until the first 200, then no more")
}

func TestWaitReady_ReportsAChildThatExits(t *testing.T) {
	p, err := startProc("quitter", "/bin/true", nil, nil, &out{w: io.Discard})
	require.NoError(t, err)

	err = p.waitReady(context.Background(), "http://127.0.0.1:1/readyz", 10*time.Second)

	assert.ErrorContains(t, err, "quitter exited before it was ready")
	_, ok := p.ready()
	assert.False(t, ok)
}
