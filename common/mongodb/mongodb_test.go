package mongodb_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/mongodb"
)

func TestConnect_DatabaseIsTheURIPathOrTheDefault(t *testing.T) {
	for uri, want := range map[string]string{
		"mongodb://auth-mongo-srv:27017/auth":       "auth",
		"mongodb://db:27017/users?retryWrites=true": "users",
		"mongodb://db:27017":                        "tickets",
		"mongodb://db:27017/":                       "tickets",
	} {
		client, db, err := mongodb.Connect(uri, "tickets")
		require.NoError(t, err, uri)
		assert.Equal(t, want, db.Name(), uri)
		require.NoError(t, client.Disconnect(context.Background()))
	}
}

func TestConnect_RejectsAMalformedURI(t *testing.T) {
	_, _, err := mongodb.Connect("postgres://nope", "x")
	assert.ErrorContains(t, err, "MONGO_URI")
}

func TestObjectID(t *testing.T) {
	oid, err := mongodb.ObjectID("507f1f77bcf86cd799439011")
	require.NoError(t, err)
	assert.Equal(t, "507f1f77bcf86cd799439011", oid.Hex())
	_, err = mongodb.ObjectID("nope")
	assert.ErrorIs(t, err, mongodb.ErrBadID)
}

func TestParseID_MalformedIsBothTheDomainsErrorAndErrBadID(t *testing.T) {
	invalid := errors.New("Order id must be valid")
	oid, err := mongodb.ParseID("507f1f77bcf86cd799439011", invalid)
	require.NoError(t, err)
	assert.Equal(t, "507f1f77bcf86cd799439011", oid.Hex())

	_, err = mongodb.ParseID("nope", invalid)
	assert.ErrorIs(t, err, invalid)
	assert.ErrorIs(t, err, mongodb.ErrBadID)
}

func TestCheckID_NamesTheMalformedID(t *testing.T) {
	assert.NoError(t, mongodb.CheckID("ticket", "507f1f77bcf86cd799439011"))
	for _, id := range []string{"", "nope", `{"$gt":""}`, "507f1f77bcf86cd79943901"} {
		err := mongodb.CheckID("ticket", id)
		assert.ErrorIs(t, err, mongodb.ErrBadID, id)
		assert.ErrorContains(t, err, fmt.Sprintf("malformed ticket id %q", id))
	}
}
