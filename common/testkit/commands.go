package testkit

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/requestid"
)

// Commands records the data commands a client sends (find, insert,
// update, delete and the like) as their shapes, so that a test can compare
// what two pieces of code send: the floor of infra/bench and the stores it
// copies. The commands of connections, indexes and cursors (hello,
// buildInfo, createIndexes, getMore, ...) are left out: they depend on the
// client's state and the driver's batch size, not on the query.
type Commands struct {
	mu  sync.Mutex
	got []Command
	log strings.Builder // of Run
}

// Command is one command as Commands records it.
type Command struct {
	Name       string // find, insert, update, delete, ...
	Database   string
	Collection string
	// Shape is the command's fields, with the values of the data it
	// carries replaced by their types; see Shape.
	Shape string
}

// String is the command as a golden file holds it: name, collection,
// shape.
func (c Command) String() string { return c.Name + " " + c.Collection + " " + c.Shape }

// dataCommands are the commands Commands records; their first field names
// the collection.
var dataCommands = map[string]bool{
	"find": true, "insert": true, "update": true, "delete": true,
	"findAndModify": true, "aggregate": true, "count": true, "distinct": true,
}

// Monitor returns the driver's command monitor that records into c.
func (c *Commands) Monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if !dataCommands[e.CommandName] {
			return
		}
		coll, _ := e.Command.Index(0).Value().StringValueOK()
		cmd := Command{Name: e.CommandName, Database: e.DatabaseName, Collection: coll, Shape: Shape(e.Command)}
		c.mu.Lock()
		c.got = append(c.got, cmd)
		c.mu.Unlock()
	}}
}

// Take returns the commands recorded since the last Take, in the order
// they were sent, and forgets them.
func (c *Commands) Take() []Command {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.got
	c.got = nil
	return got
}

// RequestID is the request id of Request's context.
const RequestID = "0123456789abcdef01234567"

// Request returns the test's context as a request's, with a request id
// that never changes (RequestID), so that the events a store writes, which
// carry it, have the same shape in every run.
func Request(t testing.TB) context.Context {
	return requestid.With(t.Context(), RequestID)
}

// RecordCommands returns a fresh database, as DB does, reached through a
// client of its own whose data commands the returned Commands records.
func RecordCommands(t testing.TB) (*mongo.Database, *Commands) {
	t.Helper()
	name := DB(t).Name() // started, named, and dropped when the test ends
	rec := &Commands{}
	return Client(t, mongoSrv.URI(), options.Client().SetMonitor(rec.Monitor())).Database(name), rec
}

// sessionFields are the fields the driver adds to every command, whatever
// the code that sends it.
var sessionFields = map[string]bool{
	"$db": true, "lsid": true, "$clusterTime": true, "txnNumber": true, "$readPreference": true,
	"readConcern": true, "writeConcern": true, "maxTimeMS": true,
	"apiVersion": true, "apiStrict": true, "apiDeprecationErrors": true,
}

// dataFields hold the data a command carries: a filter, an update, the
// documents inserted. Their values are shown as types; the values of the
// other fields (projection, sort, limit, ordered, multi) say what the
// command does and are shown as they are.
var dataFields = map[string]bool{
	"filter": true, "q": true, "u": true, "documents": true, "query": true, "update": true, "pipeline": true,
}

// Shape renders a command without its first field (its name and
// collection) and the driver's session fields, as
// {field:value,...} with the fields in name order, except in a sort,
// whose order is its meaning. Inside the data fields (filter, q, u,
// documents, ...) a value is shown as its type, by the names of MongoDB's
// $type (objectId, string, long, date, ...), booleans excepted: they are
// flags more often than data ($exists: false). An array shows each
// distinct shape of its elements once, so that one document or a batch of
// them look the same. No id or time is shown: shapes are deterministic.
func Shape(cmd bson.Raw) string {
	elems, err := cmd.Elements()
	if err != nil {
		return "<" + err.Error() + ">"
	}
	var b strings.Builder
	b.WriteByte('{')
	fields := elems[1:]
	slices.SortFunc(fields, func(x, y bson.RawElement) int { return strings.Compare(x.Key(), y.Key()) })
	first := true
	for _, e := range fields {
		if sessionFields[e.Key()] {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeField(&b, e.Key(), e.Value(), false)
	}
	b.WriteByte('}')
	return b.String()
}

// writeField writes key:value, value as a type when data says it is data
// or key names a data field.
func writeField(b *strings.Builder, key string, v bson.RawValue, data bool) {
	b.WriteString(key)
	b.WriteByte(':')
	writeValue(b, v, data || dataFields[key], key != "sort")
}

func writeValue(b *strings.Builder, v bson.RawValue, data, sorted bool) {
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		elems, err := v.Document().Elements()
		if err != nil {
			b.WriteString("<" + err.Error() + ">")
			return
		}
		if sorted {
			slices.SortFunc(elems, func(x, y bson.RawElement) int { return strings.Compare(x.Key(), y.Key()) })
		}
		b.WriteByte('{')
		for i, e := range elems {
			if i > 0 {
				b.WriteByte(',')
			}
			writeField(b, e.Key(), e.Value(), data)
		}
		b.WriteByte('}')
	case bson.TypeArray:
		vals, err := v.Array().Values()
		if err != nil {
			b.WriteString("<" + err.Error() + ">")
			return
		}
		var shapes []string
		for _, x := range vals {
			var s strings.Builder
			writeValue(&s, x, data, true)
			if !slices.Contains(shapes, s.String()) {
				shapes = append(shapes, s.String())
			}
		}
		b.WriteString("[" + strings.Join(shapes, ",") + "]")
	case bson.TypeBoolean:
		b.WriteString(strconv.FormatBool(v.Boolean()))
	default:
		if data {
			b.WriteString(typeName(v.Type))
			return
		}
		b.WriteString(literal(v))
	}
}

// literal is a value outside the data fields, as Go would write it.
func literal(v bson.RawValue) string {
	switch v.Type {
	case bson.TypeInt32:
		return strconv.Itoa(int(v.Int32()))
	case bson.TypeInt64:
		return strconv.FormatInt(v.Int64(), 10)
	case bson.TypeDouble:
		return strconv.FormatFloat(v.Double(), 'g', -1, 64)
	case bson.TypeString:
		return strconv.Quote(v.StringValue())
	}
	return v.String()
}

// typeName is t's alias in MongoDB's $type.
func typeName(t bson.Type) string {
	switch t {
	case bson.TypeDouble:
		return "double"
	case bson.TypeString:
		return "string"
	case bson.TypeBinary:
		return "binData"
	case bson.TypeObjectID:
		return "objectId"
	case bson.TypeDateTime:
		return "date"
	case bson.TypeNull:
		return "null"
	case bson.TypeRegex:
		return "regex"
	case bson.TypeInt32:
		return "int"
	case bson.TypeTimestamp:
		return "timestamp"
	case bson.TypeInt64:
		return "long"
	case bson.TypeDecimal128:
		return "decimal"
	}
	return t.String()
}

// Run runs op, which must succeed, and logs the commands it sent under
// name; the commands recorded before it (a test's set-up) are dropped.
func (c *Commands) Run(t testing.TB, name string, op func() error) {
	t.Helper()
	c.Take()
	if err := op(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	cmds := c.Take()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log.WriteString("# " + name + "\n")
	for _, cmd := range cmds {
		c.log.WriteString(cmd.String() + "\n")
	}
}

// updateGolden is the -update flag of every test binary that links the
// kit: go test ./<store> -run TestCommandShapes -update rewrites the
// golden files instead of comparing with them.
var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

// Golden compares the log of every Run so far with the golden file at
// path, or, with -update, writes it there. The file holds, for each
// operation, a line "# name" and then one line per command
// (Command.String).
func (c *Commands) Golden(t testing.TB, path string) {
	update := *updateGolden
	t.Helper()
	c.mu.Lock()
	got := "# The MongoDB commands of each operation, as testkit.Shape renders them.\n" +
		"# Written by: go test -run '^" + t.Name() + "$' -update\n" + c.log.String()
	c.mu.Unlock()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("testkit: %v", err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatalf("testkit: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("testkit: %v (run the test with -update to write it)", err)
	}
	assert.Equal(t, string(want), got, "%s: if the change is meant, run the test with -update and review the file's diff", path)
}

// GoldenCommands returns the commands of a golden file that
// Commands.Golden wrote, all operations together, without the comments.
func GoldenCommands(t testing.TB, path string) []string {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	var out []string
	for line := range strings.Lines(string(text)) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}
