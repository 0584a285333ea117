package stack

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/embedded"
	"ticketing.dev/common/testkit"
)

// TestPostgreSQLBackend_LooksUpByIDThroughAnIndex checks the plan
// PostgreSQL makes for the statement FerretDB runs to find a document by
// _id on the stack's PostgreSQL: without the index the embedded server
// adds, it scans the table (see embedded's indexIDContainment).
func TestPostgreSQLBackend_LooksUpByIDThroughAnIndex(t *testing.T) {
	dir := t.TempDir()
	s := &Stack{
		cfg:     Config{ReadyTimeout: time.Minute},
		out:     &out{w: io.Discard},
		killed:  make(map[*proc]bool),
		stopped: make(chan struct{}),
	}
	url, err := s.startPostgres(t.Context(), filepath.Join(dir, "postgresql"), false)
	require.NoError(t, err, "make test installs PostgreSQL's server programs (make deps)")
	t.Cleanup(s.Stop)
	f, err := embedded.StartFerretDB(embedded.FerretDBConfig{PostgreSQLURL: url})
	require.NoError(t, err)
	t.Cleanup(f.Stop)

	coll := testkit.Client(t, f.URI()).Database("shop").Collection("tickets")
	id := bson.NewObjectID()
	_, err = coll.InsertOne(t.Context(), bson.M{"_id": id, "title": "concert"})
	require.NoError(t, err)

	pg, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Close(t.Context()) })
	var table string
	require.NoError(t, pg.QueryRow(t.Context(),
		`SELECT _jsonb->>'table' FROM shop._ferretdb_database_metadata WHERE _jsonb->>'_id' = 'tickets'`).Scan(&table))
	// The table is small: forbid the scan, so that the plan shows whether
	// an index can answer FerretDB's lookup at all.
	_, err = pg.Exec(t.Context(), `SET enable_seqscan = off`)
	require.NoError(t, err)
	plan := func() string {
		var plan string
		rows, err := pg.Query(t.Context(), `EXPLAIN SELECT _jsonb FROM `+pgx.Identifier{"shop", table}.Sanitize()+` WHERE _jsonb->$1 @> $2`,
			"_id", `"`+id.Hex()+`"`)
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			plan += line + "\n"
		}
		require.NoError(t, rows.Err())
		return plan
	}
	require.Eventually(t, func() bool { return strings.Contains(plan(), "Index Scan") },
		5*time.Second, 20*time.Millisecond, "lookup by _id still scans:\n%s", plan())
	assert.Contains(t, plan(), table+"_id_path")

	// FerretDB still finds, updates and deletes through it.
	testkit.UpdateFindDeleteByID(t, coll, id)
	_, err = coll.InsertOne(t.Context(), bson.M{"_id": id, "title": "concert"})
	require.NoError(t, err)

	// FerretDB's own lookups use it once the collection has grown, however
	// often its prepared statement ran while it was small: PostgreSQL's
	// default then settles on the generic plan, which cannot know that $1
	// is _id and scans, and keeps it (embedded's customPlans).
	for range 10 {
		require.NoError(t, coll.FindOne(t.Context(), bson.M{"_id": id}).Err())
	}
	docs := make([]any, 2000)
	for i := range docs {
		docs[i] = bson.M{"title": "concert", "seat": i}
	}
	_, err = coll.InsertMany(t.Context(), docs)
	require.NoError(t, err)
	lookups := func() int64 {
		var n int64
		require.NoError(t, pg.QueryRow(t.Context(), `SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = $1`,
			table+"_id_path").Scan(&n))
		return n
	}
	before := lookups()
	const finds = 20
	for range finds {
		require.NoError(t, coll.FindOne(t.Context(), bson.M{"_id": id}).Err())
	}
	// A session publishes its counts when it ends (when idle, only every
	// 10 s): end FerretDB's.
	f.Stop()
	assert.Eventually(t, func() bool { return lookups()-before >= finds }, 5*time.Second, 20*time.Millisecond,
		"%d of %d finds by _id used the index", lookups()-before, finds)
}

func TestPgVersion_ReadsDebianAndHomebrewFolders(t *testing.T) {
	for dir, want := range map[string]int{
		"/usr/lib/postgresql/15/bin":            15,
		"/opt/homebrew/opt/postgresql@17/bin":   17,
		"/usr/local/opt/postgresql@9/bin":       9,
		"/usr/local/opt/postgresql/bin":         0,
		"/usr/lib/postgresql/not-a-version/bin": 0,
	} {
		assert.Equal(t, want, pgVersion(dir), dir)
	}
}
