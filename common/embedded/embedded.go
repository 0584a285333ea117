// Package embedded runs the servers the services depend on inside the
// current process: a MongoDB-compatible FerretDB, and a NATS Streaming
// server or a NATS server with JetStream (see Bus). Tests and the local
// stack use it; the services never do.
package embedded

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	natsd "github.com/nats-io/nats-server/v2/server"
	stand "github.com/nats-io/nats-streaming-server/server"
	"github.com/nats-io/nats-streaming-server/stores"
)

// FerretDBConfig configures an embedded FerretDB.
type FerretDBConfig struct {
	// Addr is the TCP address to listen on; "127.0.0.1:0" picks a free port.
	Addr string
	// Dir holds the SQLite databases, one file per database.
	Dir string
	// PostgreSQLURL, when set, selects the PostgreSQL backend instead of SQLite.
	PostgreSQLURL string
	// Logger receives FerretDB's own logs; nil discards them.
	Logger *slog.Logger
}

// FerretDB is a running embedded FerretDB.
type FerretDB struct {
	uri    string
	cancel context.CancelFunc
	done   <-chan struct{}
}

// StartFerretDB starts FerretDB and returns once it accepts connections.
func StartFerretDB(cfg FerretDBConfig) (*FerretDB, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fc := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: cfg.Addr},
		Logger:   logger,
	}
	if cfg.PostgreSQLURL != "" {
		u, err := customPlans(cfg.PostgreSQLURL)
		if err != nil {
			return nil, fmt.Errorf("ferretdb: %w", err)
		}
		fc.Handler, fc.PostgreSQLURL = "postgresql", u
	} else {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("ferretdb: %w", err)
		}
		// FerretDB opens SQLite in WAL mode; synchronous(normal), SQLite's
		// advice for WAL, makes a commit survive the crash of a process
		// but not of the machine, and writes 2.4 times as fast as the
		// default (300 inserts: 62 ms rather than 146 ms). The stack's
		// PostgreSQL runs without fsync for the same reason.
		fc.Handler, fc.SQLiteURL = "sqlite", "file:"+cfg.Dir+"/?_pragma=synchronous(normal)"
	}
	f, err := ferretdb.New(fc)
	if err != nil {
		return nil, fmt.Errorf("ferretdb: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		_ = f.Run(ctx)
	}()
	indexed := make(chan struct{})
	go func() {
		defer close(indexed)
		if cfg.PostgreSQLURL != "" {
			indexIDContainment(ctx, cfg.PostgreSQLURL, logger)
		} else {
			indexIDPaths(ctx, cfg.Dir, logger)
		}
	}()
	done := both(ran, indexed)
	uri := f.MongoDBURI() // waits for the listener
	host := uri[len("mongodb://") : len(uri)-1]
	if err := WaitTCP(host, 10*time.Second); err != nil {
		cancel()
		<-done
		return nil, fmt.Errorf("ferretdb: %w", err)
	}
	return &FerretDB{uri: uri, cancel: cancel, done: done}, nil
}

// both returns a channel closed once a and b are.
func both(a, b <-chan struct{}) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		<-a
		<-b
		close(c)
	}()
	return c
}

// URI returns the server's MongoDB URI, without a database name.
func (f *FerretDB) URI() string { return f.uri }

// Stop shuts the server down and waits for it.
func (f *FerretDB) Stop() {
	f.cancel()
	<-f.done
}

// NATSConfig configures an embedded NATS Streaming server.
type NATSConfig struct {
	// ClusterID defaults to "ticketing".
	ClusterID string
	// Host defaults to 127.0.0.1; Port 0 picks a free port, kept across restarts.
	Host string
	Port int
	// StoreDir, when set, keeps channels in files there, surviving restarts;
	// otherwise they live in memory and a restart forgets them.
	StoreDir string
	// Users, when set, are the only clients the server admits, each with
	// its password and permissions; unset, it admits anyone, as the tests
	// that start a server of their own expect.
	Users []NATSUser
}

// NATSUser is a user of an embedded NATS Streaming server.
type NATSUser struct {
	Name, Password string
	// Publish and Subscribe are the NATS subjects the user may publish and
	// subscribe to (see bus.Grant.Permissions); nil permits every subject.
	Publish, Subscribe []string
}

// streamingUser is the user of the streaming server's own connections to
// its NATS server, which must reach every subject.
const streamingUser = "_nss"

// NATSStreaming is a running embedded NATS Streaming server.
type NATSStreaming struct {
	mu  sync.Mutex
	cfg NATSConfig
	srv *stand.StanServer
}

// StartNATSStreaming starts a NATS Streaming server.
func StartNATSStreaming(cfg NATSConfig) (*NATSStreaming, error) {
	if cfg.ClusterID == "" {
		cfg.ClusterID = "ticketing"
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		port, err := FreePort(cfg.Host)
		if err != nil {
			return nil, fmt.Errorf("nats streaming: %w", err)
		}
		cfg.Port = port
	}
	n := &NATSStreaming{cfg: cfg}
	if err := n.Start(); err != nil {
		return nil, err
	}
	return n, nil
}

// Start starts the server again after Stop, on the same address and store.
func (n *NATSStreaming) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		return errors.New("nats streaming: already running")
	}
	sopts := stand.GetDefaultOptions()
	sopts.ID = n.cfg.ClusterID
	if n.cfg.StoreDir != "" {
		sopts.StoreType = stores.TypeFile
		sopts.FilestoreDir = n.cfg.StoreDir
	}
	nopts := stand.DefaultNatsServerOptions
	nopts.Host = n.cfg.Host
	nopts.Port = n.cfg.Port
	nopts.NoSigs = true
	nopts.NoLog = true
	if len(n.cfg.Users) > 0 {
		sopts.Username, sopts.Password = streamingUser, rand.Text()
		nopts.Users = []*natsd.User{{Username: sopts.Username, Password: sopts.Password}}
		for _, u := range n.cfg.Users {
			nopts.Users = append(nopts.Users, &natsd.User{Username: u.Name, Password: u.Password, Permissions: permissions(u)})
		}
	}
	srv, err := stand.RunServerWithOpts(sopts, &nopts)
	if err != nil {
		return fmt.Errorf("nats streaming: %w", err)
	}
	n.srv = srv
	return nil
}

// permissions returns u's permissions as the NATS server takes them.
func permissions(u NATSUser) *natsd.Permissions {
	if u.Publish == nil && u.Subscribe == nil {
		return nil
	}
	p := &natsd.Permissions{}
	if u.Publish != nil {
		p.Publish = &natsd.SubjectPermission{Allow: u.Publish}
	}
	if u.Subscribe != nil {
		p.Subscribe = &natsd.SubjectPermission{Allow: u.Subscribe}
	}
	return p
}

// Stop shuts the server down; clients see their connection drop.
func (n *NATSStreaming) Stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv = nil
	}
}

// URL returns the nats:// URL clients connect to.
func (n *NATSStreaming) URL() string {
	return "nats://" + net.JoinHostPort(n.cfg.Host, strconv.Itoa(n.cfg.Port))
}

// ClusterID returns the cluster id clients must name.
func (n *NATSStreaming) ClusterID() string { return n.cfg.ClusterID }
