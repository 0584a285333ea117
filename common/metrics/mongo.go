package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
)

// Mongo counts and times the commands a service sends to MongoDB.
type Mongo struct {
	commands *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMongo registers the MongoDB metrics on reg:
// ticketing_mongodb_commands_total{collection,command} and
// ticketing_mongodb_command_duration_seconds{command}. A nil reg registers
// nothing and returns a nil *Mongo, which records nothing.
func NewMongo(reg prometheus.Registerer) (*Mongo, error) {
	if reg == nil {
		return nil, nil
	}
	r := registrar{reg: reg}
	m := &Mongo{
		commands: r.counter(MongoCommands, "MongoDB commands sent, by collection (empty for commands of none, such as ping) and command name.", "collection", "command"),
		duration: r.histogram(MongoCommandDuration, "Time from sending a MongoDB command to its reply, succeeded or failed, by command name.", "command"),
	}
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

// Monitor returns the driver's command monitor that records the metrics;
// mongodb.Connect installs it. Commands are counted when sent, since only
// the started event carries the command and so its collection, and timed
// when they end, whose events carry their duration: no state joins the two.
// A nil *Mongo returns nil, which monitors nothing.
func (m *Mongo) Monitor() *event.CommandMonitor {
	if m == nil {
		return nil
	}
	return &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			m.commands.WithLabelValues(collectionOf(e.CommandName, e.Command), e.CommandName).Inc()
		},
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			m.duration.WithLabelValues(e.CommandName).Observe(e.Duration.Seconds())
		},
		Failed: func(_ context.Context, e *event.CommandFailedEvent) {
			m.duration.WithLabelValues(e.CommandName).Observe(e.Duration.Seconds())
		},
	}
}

// namesCollection reports whether command's first element's value names
// the collection it acts on. Any other command counts with no collection:
// the first value of some (aggregate on a database, listCollections) is a
// number, and a string there is not always a collection name.
func namesCollection(command string) bool {
	switch command {
	case "find", "insert", "update", "delete", "findAndModify",
		"aggregate", "count", "distinct",
		"createIndexes", "listIndexes", "dropIndexes",
		"create", "drop", "collMod", "killCursors":
		return true
	}
	return false
}

// collectionOf returns the collection command acts on, or "" when it acts
// on none. getMore names it in its collection field.
func collectionOf(command string, doc bson.Raw) string {
	if command == "getMore" {
		name, _ := doc.Lookup("collection").StringValueOK()
		return name
	}
	if !namesCollection(command) {
		return ""
	}
	first, err := doc.IndexErr(0)
	if err != nil {
		return ""
	}
	name, _ := first.Value().StringValueOK()
	return name
}
