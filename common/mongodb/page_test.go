package mongodb_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/testkit"
)

func TestFindPage_WalksTheMatchesInIDOrderAPageAtATime(t *testing.T) {
	t.Parallel()
	coll := testkit.DB(t).Collection("things")
	type doc struct {
		ID     bson.ObjectID `bson:"_id"`
		Kind   string        `bson:"kind"`
		Secret string        `bson:"secret,omitempty"`
	}
	var want []bson.ObjectID
	for i := range 7 {
		d := doc{ID: bson.NewObjectID(), Kind: "a", Secret: "s"}
		if i%3 == 2 {
			d.Kind = "b" // not listed
		} else {
			want = append(want, d.ID)
		}
		_, err := coll.InsertOne(t.Context(), d)
		require.NoError(t, err)
	}
	filter := bson.D{{Key: "kind", Value: "a"}}
	hide := bson.D{{Key: "secret", Value: 0}}

	var got []bson.ObjectID
	page := mongodb.Page{Limit: 2}
	for range 10 {
		docs, more, err := mongodb.FindPage[doc](t.Context(), coll, filter, hide, page, nil)
		require.NoError(t, err)
		for _, d := range docs {
			assert.Empty(t, d.Secret, "the projection leaves it out")
			got = append(got, d.ID)
		}
		if !more {
			break
		}
		page.After = docs[len(docs)-1].ID.Hex()
	}
	assert.Equal(t, want, got)

	all, more, err := mongodb.FindPage[doc](t.Context(), coll, filter, nil, mongodb.Page{}, nil)
	require.NoError(t, err)
	assert.Len(t, all, len(want), "no limit: every match")
	assert.False(t, more)
	assert.Equal(t, "s", all[0].Secret, "no projection: every field")
}

func TestFindPage_AnAfterThatIsNoIDIsTheDomainsError(t *testing.T) {
	t.Parallel()
	invalid := errors.New("ticket id must be valid")
	_, _, err := mongodb.FindPage[bson.M](t.Context(), testkit.DB(t).Collection("things"), bson.D{}, nil, mongodb.Page{After: "nope"}, invalid)
	assert.ErrorIs(t, err, invalid)
	assert.ErrorIs(t, err, mongodb.ErrBadID)
}
