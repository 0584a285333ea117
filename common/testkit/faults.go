package testkit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Faults drops chosen commands of a MongoDB client on their way to the
// server: the client sees the connection fail, as after a timeout or a
// lost network, and the server never applies them. It lets a test make
// one write fail where the store's reads before it succeed.
type Faults struct {
	mu   sync.Mutex
	drop [][]byte // the commands to drop, as they start on the wire
	n    int      // how many were dropped
}

// ErrDropped is the error the client's connection fails with when Faults
// drops a command.
var ErrDropped = errors.New("testkit: command dropped")

// Drop makes every later command named command (insert, update, ...) on
// collection fail in the client without reaching the server, until Heal.
func (f *Faults) Drop(command, collection string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drop = append(f.drop, commandPrefix(command, collection))
}

// Heal lets every command through again.
func (f *Faults) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drop = nil
}

// Dropped is how many commands were dropped.
func (f *Faults) Dropped() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// commandPrefix is how a command on collection starts in an OP_MSG body:
// its first element, a string named after the command.
func commandPrefix(command, collection string) []byte {
	var b bytes.Buffer
	b.WriteByte(0x02) // BSON string
	b.WriteString(command)
	b.WriteByte(0)
	_ = binary.Write(&b, binary.LittleEndian, int32(len(collection)+1))
	b.WriteString(collection)
	b.WriteByte(0)
	return b.Bytes()
}

// dropped reports whether the wire message p is to be dropped, counting it.
func (f *Faults) dropped(p []byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.drop {
		if bytes.Contains(p, d) {
			f.n++
			return true
		}
	}
	return false
}

// DialContext dials as net.Dialer does, through connections that drop
// what f says.
func (f *Faults) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := new(net.Dialer).DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &faultyConn{Conn: c, faults: f}, nil
}

// faultyConn closes itself, unsent, on a message its Faults drops.
type faultyConn struct {
	net.Conn
	faults *Faults
}

func (c *faultyConn) Write(p []byte) (int, error) {
	if c.faults.dropped(p) {
		_ = c.Conn.Close()
		return 0, ErrDropped
	}
	return c.Conn.Write(p)
}

// FaultyDB returns a fresh, empty database on the package's FerretDB, as
// DB does, through a client of its own whose commands the returned Faults
// can drop. Its writes are not retried, so a dropped write fails.
func FaultyDB(t testing.TB) (*mongo.Database, *Faults) {
	t.Helper()
	name := DB(t).Name() // started, named, and dropped when the test ends
	f := new(Faults)
	return Client(t, mongoSrv.URI(), options.Client().SetDialer(f).SetRetryWrites(false)).Database(name), f
}
