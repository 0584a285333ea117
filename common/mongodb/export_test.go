package mongodb

import "go.mongodb.org/mongo-driver/v2/mongo"

// NewFilterGuard returns a Guard that keeps the check in the filter, as it
// does on MongoDB, so that the tests run that path on FerretDB too.
func NewFilterGuard(db *mongo.Database) *Guard {
	return &Guard{db: db, known: true}
}

// Queued returns the number of documents waiting for the next command.
func (in *Inserter) Queued() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.queue)
}
