package requestid_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/requestid"
)

func TestWith_FromReturnsTheIDAndEmptyAddsNothing(t *testing.T) {
	ctx := requestid.With(context.Background(), "r1")
	assert.Equal(t, "r1", requestid.From(ctx))
	assert.Equal(t, "r1", requestid.From(requestid.With(ctx, "")), "an empty id keeps the one before")
	assert.Empty(t, requestid.From(context.Background()))
}

func TestLogHandler_NamesTheRequestOfTheContextALineIsLoggedWith(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(requestid.LogHandler(slog.NewJSONHandler(&buf, nil))).With("service", "tickets")

	log.InfoContext(requestid.With(context.Background(), "r1"), "with", "k", "v")
	log.InfoContext(context.Background(), "without")
	log.Info("no context")

	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		require.NoError(t, json.Unmarshal(l, &m))
		lines = append(lines, m)
	}
	require.Len(t, lines, 3)
	assert.Equal(t, "r1", lines[0]["request_id"])
	assert.Equal(t, "tickets", lines[0]["service"])
	assert.Equal(t, "v", lines[0]["k"])
	assert.NotContains(t, lines[1], "request_id")
	assert.NotContains(t, lines[2], "request_id")
}
