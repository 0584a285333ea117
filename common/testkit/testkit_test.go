package testkit_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

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

func TestFaultyDB_DropsTheChosenCommandOnlyUntilHealed(t *testing.T) {
	db, faults := testkit.FaultyDB(t)
	ctx := t.Context()
	coll, other := db.Collection("orders"), db.Collection("tickets")
	_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}})
	require.NoError(t, err)

	faults.Drop("insert", "orders")
	_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}})
	require.ErrorIs(t, err, testkit.ErrDropped)
	_, err = other.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}})
	require.NoError(t, err, "another collection's insert goes through")
	_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}})
	require.NoError(t, err, "another command on the collection goes through")
	assert.Equal(t, 1, faults.Dropped())

	faults.Heal()
	_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 3}})
	require.NoError(t, err)
	n, err := coll.CountDocuments(ctx, bson.D{})
	require.NoError(t, err)
	assert.EqualValues(t, 2, n, "the dropped insert never reached the server")
}
