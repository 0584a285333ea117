package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// customPlans returns the PostgreSQL URL FerretDB connects with: url, its
// sessions planning every prepared statement with its parameters
// (plan_cache_mode, unless url sets it). FerretDB's lookups name the field
// by a parameter (_jsonb->$1 @> $2), so only a plan that knows $1 can use
// an index on _jsonb->'_id' (indexIDContainment); PostgreSQL's default
// switches a statement to the generic plan after five runs when that plan
// looked as cheap, which it does while a collection is small, and kept
// scanning as the collection grew: the relay's removals after a create
// burst ran at ~100 a second, ~430 with custom plans.
func customPlans(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("postgresql url: %w", err)
	}
	q := u.Query()
	if !q.Has("plan_cache_mode") {
		q.Set("plan_cache_mode", "force_custom_plan")
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// indexIDContainment adds to every collection table of FerretDB's
// PostgreSQL backend at pgURL the index its lookups by _id need, every
// idIndexEvery until ctx is done.
//
// FerretDB 1.24 creates the unique _id index of a collection as a btree on
// _jsonb->'_id' but looks documents up by _jsonb->$1 @> $2 (a find, an
// update or a delete by _id, $1 being '_id'), a containment test a btree
// cannot answer: every lookup by _id scanned the whole table. With 17,000
// tickets a lookup took 72 ms, and the outbox relay, which removes each
// published event from its document by _id, fell minutes behind a create
// burst (100–150 removals a second). A GIN index on the same expression
// answers the containment test: 0.02 ms, once FerretDB's sessions plan
// with the parameters (customPlans). The index belongs to FerretDB's
// table and goes with it when the collection is dropped; FerretDB's own
// index list, kept in its metadata, does not show it. Only the embedded
// server (tests and the local stack) runs this; MongoDB indexes _id
// itself.
func indexIDContainment(ctx context.Context, pgURL string, log *slog.Logger) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	indexLoop(ctx, log, func(ctx context.Context) (int, int, error) {
		if conn == nil {
			c, err := pgx.Connect(ctx, pgURL)
			if err != nil {
				return 0, 0, fmt.Errorf("postgresql: %w", err)
			}
			conn = c
		}
		created, seen, err := indexPGTables(ctx, conn)
		if err != nil && conn.IsClosed() {
			conn = nil
		}
		return created, seen, err
	})
}

// indexPGTables creates the missing _id containment indexes of FerretDB's
// collection tables, which live in a schema per database beside that
// database's _ferretdb_database_metadata table. It returns how many it
// created and how many collection tables it saw.
func indexPGTables(ctx context.Context, conn *pgx.Conn) (int, int, error) {
	rows, err := conn.Query(ctx, `SELECT n.nspname, c.relname,
			EXISTS (SELECT 1 FROM pg_class i WHERE i.relnamespace = n.oid AND i.relname = c.relname || '_id_path')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND c.relname NOT LIKE '\_ferretdb\_%'
			AND EXISTS (SELECT 1 FROM pg_class m WHERE m.relnamespace = n.oid AND m.relname = '_ferretdb_database_metadata')`)
	if err != nil {
		return 0, 0, err
	}
	type table struct{ schema, name string }
	var missing []table
	seen := 0
	for rows.Next() {
		var t table
		var indexed bool
		if err := rows.Scan(&t.schema, &t.name, &indexed); err != nil {
			rows.Close()
			return 0, 0, err
		}
		seen++
		if !indexed {
			missing = append(missing, t)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	created := 0
	for _, t := range missing {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s USING gin ((_jsonb->'_id') jsonb_path_ops)`,
			pgx.Identifier{t.name + "_id_path"}.Sanitize(), pgx.Identifier{t.schema, t.name}.Sanitize())
		if _, err := conn.Exec(ctx, q); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "3F000") {
				continue // the collection or its database was dropped meanwhile
			}
			return created, seen, fmt.Errorf("table %s.%s: %w", t.schema, t.name, err)
		}
		created++
	}
	return created, seen, nil
}
