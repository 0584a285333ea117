package embedded_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/embedded"
	"ticketing.dev/common/testkit"
)

// TestFerretDB_LooksUpByIDThroughAnIndex checks the plan SQLite makes for
// the statement FerretDB runs to update a document by _id: without the
// index the embedded server adds, it scans the table.
func TestFerretDB_LooksUpByIDThroughAnIndex(t *testing.T) {
	dir := t.TempDir()
	f, err := embedded.StartFerretDB(embedded.FerretDBConfig{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(f.Stop)
	client := testkit.Client(t, f.URI())
	coll := client.Database("shop").Collection("tickets")
	id := bson.NewObjectID()
	_, err = coll.InsertOne(t.Context(), bson.M{"_id": id, "title": "concert"})
	require.NoError(t, err)

	open := func() *sql.DB {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "shop.sqlite")+"?mode=ro")
		require.NoError(t, err)
		return db
	}
	db := open()
	var table string
	require.NoError(t, db.QueryRow(`SELECT table_name FROM _ferretdb_collections WHERE name = 'tickets'`).Scan(&table))
	require.NoError(t, db.Close())
	plan := func() string {
		db := open()
		defer db.Close()
		rows, err := db.Query(`EXPLAIN QUERY PLAN UPDATE "`+table+`" SET _ferretdb_sjson = ? WHERE _ferretdb_sjson->'$._id' = ?`, "{}", `"`+id.Hex()+`"`)
		require.NoError(t, err)
		defer rows.Close()
		var steps []string
		for rows.Next() {
			var a, b, c int
			var detail string
			require.NoError(t, rows.Scan(&a, &b, &c, &detail))
			steps = append(steps, detail)
		}
		return strings.Join(steps, "; ")
	}
	require.Eventually(t, func() bool { return strings.Contains(plan(), "USING INDEX") }, 5*time.Second, 20*time.Millisecond,
		"update by _id still scans: %s", plan())
	assert.Contains(t, plan(), table+"_id_path")

	// FerretDB still finds, updates and deletes through it, and drops
	// the collection with it.
	testkit.UpdateFindDeleteByID(t, coll, id)
	require.NoError(t, coll.Drop(t.Context()))
	n, err := client.Database("shop").Collection("tickets").CountDocuments(t.Context(), bson.M{})
	require.NoError(t, err)
	assert.Zero(t, n)
}
