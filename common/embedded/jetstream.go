package embedded

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	natsd "github.com/nats-io/nats-server/v2/server"
)

// Bus is an embedded bus server, NATS Streaming or JetStream, as the
// tests and the local stack start either.
type Bus interface {
	// Transport is "stan" or "jetstream", as BUS names them.
	Transport() string
	// URL is the nats:// URL clients connect to.
	URL() string
	// ClusterID is the NATS Streaming cluster id; "" for JetStream.
	ClusterID() string
	// Start starts the server again after Stop, on the same address
	// and store.
	Start() error
	// Stop shuts the server down; clients see their connection drop.
	Stop()
}

var (
	_ Bus = (*NATSStreaming)(nil)
	_ Bus = (*JetStream)(nil)
)

// Transport implements Bus.
func (n *NATSStreaming) Transport() string { return "stan" }

// StartBus starts the server of transport, "stan" (NATS Streaming) or
// "jetstream", with cfg.
func StartBus(transport string, cfg NATSConfig) (Bus, error) {
	switch transport {
	case "stan":
		return StartNATSStreaming(cfg)
	case "jetstream":
		return StartJetStream(cfg)
	default:
		return nil, fmt.Errorf("unknown bus %q (stan or jetstream)", transport)
	}
}

// JetStream is a running embedded NATS server with JetStream.
type JetStream struct {
	mu  sync.Mutex
	cfg NATSConfig
	srv *natsd.Server
}

// StartJetStream starts a NATS server with JetStream enabled, keeping its
// streams in cfg.StoreDir (a new temporary folder when unset, removed by
// nothing: give one to keep streams across Stop and Start). ClusterID is
// not used.
func StartJetStream(cfg NATSConfig) (*JetStream, error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		port, err := FreePort(cfg.Host)
		if err != nil {
			return nil, fmt.Errorf("jetstream: %w", err)
		}
		cfg.Port = port
	}
	if cfg.StoreDir == "" {
		dir, err := os.MkdirTemp("", "jetstream-")
		if err != nil {
			return nil, fmt.Errorf("jetstream: %w", err)
		}
		cfg.StoreDir = dir
	}
	j := &JetStream{cfg: cfg}
	if err := j.Start(); err != nil {
		return nil, err
	}
	return j, nil
}

// Start implements Bus.
func (j *JetStream) Start() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.srv != nil {
		return errors.New("jetstream: already running")
	}
	opts := &natsd.Options{
		Host:      j.cfg.Host,
		Port:      j.cfg.Port,
		JetStream: true,
		StoreDir:  filepath.Join(j.cfg.StoreDir, "jetstream"),
		NoSigs:    true,
		NoLog:     true,
	}
	for _, u := range j.cfg.Users {
		opts.Users = append(opts.Users, &natsd.User{Username: u.Name, Password: u.Password, Permissions: permissions(u)})
	}
	srv, err := natsd.NewServer(opts)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return errors.New("jetstream: server not ready within 10 s")
	}
	j.srv = srv
	return nil
}

// Stop implements Bus.
func (j *JetStream) Stop() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.srv != nil {
		j.srv.Shutdown()
		j.srv.WaitForShutdown()
		j.srv = nil
	}
}

// URL implements Bus.
func (j *JetStream) URL() string {
	return "nats://" + net.JoinHostPort(j.cfg.Host, strconv.Itoa(j.cfg.Port))
}

// ClusterID implements Bus: JetStream has none.
func (j *JetStream) ClusterID() string { return "" }

// Transport implements Bus.
func (j *JetStream) Transport() string { return "jetstream" }
