package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the driver FerretDB's SQLite backend uses
)

// The indexer looks for new collections every idIndexEvery, and backs off
// to idIndexIdle while it finds none, so that an idle stack does not open
// its database files ten times a second. Until a new collection's index
// exists, lookups in it scan; it is then small.
const (
	idIndexEvery = 100 * time.Millisecond
	idIndexIdle  = 2 * time.Second
)

// indexIDPaths adds to every collection table of FerretDB's SQLite
// databases in dir the index its lookups by _id need, every idIndexEvery
// until ctx is done.
//
// FerretDB 1.24 creates the unique _id index of a collection on the
// expression _ferretdb_sjson->"_id" but looks documents up by
// _ferretdb_sjson->'$._id' (a find, an update or a delete by _id), an
// expression SQLite does not match to that index: every lookup by _id
// parsed the JSON of every document of the collection. With 10,000
// documents an update by _id took 87 ms, a find 11 ms; with this index,
// 0.4 ms each. The index belongs to FerretDB's table, and goes with it
// when the collection is dropped. Only the embedded server (tests and
// the local stack) runs this; MongoDB indexes _id itself.
func indexIDPaths(ctx context.Context, dir string, log *slog.Logger) {
	indexLoop(ctx, log, func(ctx context.Context) (int, int, error) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.sqlite"))
		created := 0
		for _, f := range files {
			n, err := indexIDPath(ctx, f)
			if err != nil && ctx.Err() == nil {
				log.Warn("index _id lookups", "file", f, "err", err)
			}
			created += n
		}
		return created, len(files), nil
	})
}

// indexLoop runs pass every idIndexEvery until ctx is done, backing off to
// idIndexIdle while it creates nothing and sees no new database or table.
// pass returns how many indexes it created and how many databases or
// tables it saw.
func indexLoop(ctx context.Context, log *slog.Logger, pass func(context.Context) (created, seen int, err error)) {
	wait, known := idIndexEvery, 0
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		created, seen, err := pass(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("index _id lookups", "err", err)
		}
		if created > 0 || seen != known {
			wait = idIndexEvery
		} else {
			wait = min(2*wait, idIndexIdle)
		}
		known = seen
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// indexIDPath creates the missing _id lookup indexes of one database file
// and returns how many it created.
// It opens the file anew each time, since FerretDB deletes a dropped
// database's file and may create another under the same name.
func indexIDPath(ctx context.Context, file string) (int, error) {
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'
		AND name NOT LIKE '\_ferretdb\_%' ESCAPE '\'
		AND name NOT IN (SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name LIKE '%\_id\_path' ESCAPE '\')`)
	if err != nil {
		return 0, err
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return 0, err
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, err
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	for _, t := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (_ferretdb_sjson->'$._id')`, quote(t+"_id_path"), quote(t))
		if _, err := db.ExecContext(ctx, q); err != nil && !strings.Contains(err.Error(), "no such table") {
			return 0, fmt.Errorf("table %s: %w", t, err)
		}
	}
	return len(tables), nil
}

// quote quotes an SQLite identifier.
func quote(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
