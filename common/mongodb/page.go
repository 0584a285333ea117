package mongodb

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Page is a keyset page of a listing in _id order: the documents after the
// id After ("" from the start), at most Limit of them (0: all).
type Page struct {
	After string
	Limit int
}

// FindPage decodes into D the documents of coll that match filter, in _id
// order, of page p, leaving out the fields of projection (nil: none), and
// reports whether more follow. It reads one document beyond the limit to
// tell. An After that is no ObjectID fails with ParseID's error, wrapping
// invalid.
func FindPage[D any](ctx context.Context, coll *mongo.Collection, filter bson.D, projection any, p Page, invalid error) ([]D, bool, error) {
	if p.After != "" {
		after, err := ParseID(p.After, invalid)
		if err != nil {
			return nil, false, err
		}
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}})
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
	if projection != nil {
		opts.SetProjection(projection)
	}
	if p.Limit > 0 {
		opts.SetLimit(int64(p.Limit) + 1)
	}
	cur, err := coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, false, err
	}
	var docs []D
	if err := cur.All(ctx, &docs); err != nil {
		return nil, false, err
	}
	more := p.Limit > 0 && len(docs) > p.Limit
	if more {
		docs = docs[:p.Limit]
	}
	return docs, more, nil
}
