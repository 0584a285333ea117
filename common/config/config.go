// Package config reads a service's environment once, at start-up, and
// reports every missing or malformed variable by name.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Env reads variables through a lookup function, usually os.Getenv, and
// collects problems instead of failing at the first.
type Env struct {
	getenv func(string) string
	errs   []error
}

// NewEnv returns an Env reading through getenv.
func NewEnv(getenv func(string) string) *Env {
	return &Env{getenv: getenv}
}

// Required returns the variable's value, recording an error when it is unset.
func (e *Env) Required(name string) string {
	v := strings.TrimSpace(e.getenv(name))
	if v == "" {
		e.errs = append(e.errs, fmt.Errorf("%s must be defined", name))
	}
	return v
}

// String returns the variable's value, or def when it is unset.
func (e *Env) String(name, def string) string {
	if v := strings.TrimSpace(e.getenv(name)); v != "" {
		return v
	}
	return def
}

// Int returns the variable as a non-negative integer, or def when unset.
func (e *Env) Int(name string, def int) int {
	v := strings.TrimSpace(e.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		e.errs = append(e.errs, fmt.Errorf("%s must be a non-negative integer, got %q", name, v))
		return def
	}
	return n
}

// PositiveInt returns the variable as an integer of at least 1, or def when
// unset.
func (e *Env) PositiveInt(name string, def int) int {
	v := strings.TrimSpace(e.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		e.errs = append(e.errs, fmt.Errorf("%s must be an integer of at least 1, got %q", name, v))
		return def
	}
	return n
}

// Bool returns the variable as a boolean, or def when unset.
func (e *Env) Bool(name string, def bool) bool {
	v := strings.TrimSpace(e.getenv(name))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s must be true or false, got %q", name, v))
		return def
	}
	return b
}

// Duration returns the variable as a positive Go duration, or def when unset.
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(e.getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		e.errs = append(e.errs, fmt.Errorf("%s must be a positive duration such as 15m, got %q", name, v))
		return def
	}
	return d
}

// CIDRs returns the variable as a comma-separated list of network
// prefixes such as "10.0.0.0/8, fd00::/8", or none when it is unset. A bare
// address stands for itself alone. IPv4-mapped IPv6 prefixes are read as
// the IPv4 ones they map, since that is how addresses are compared.
func (e *Env) CIDRs(name string) []netip.Prefix {
	v := strings.TrimSpace(e.getenv(name))
	if v == "" {
		return nil
	}
	var out []netip.Prefix
	for _, item := range strings.Split(v, ",") {
		p, err := parsePrefix(strings.TrimSpace(item))
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s must be a comma-separated list of CIDR prefixes such as 10.0.0.0/8, got %q", name, v))
			return nil
		}
		out = append(out, p)
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("not an address: %q", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("parse prefix: %w", err)
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("IPv4-mapped prefix shorter than /96: %q", s)
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// LogLevel returns the variable as a slog level (debug, info, warn, error).
func (e *Env) LogLevel(name string) slog.Level {
	var l slog.Level
	v := strings.TrimSpace(e.getenv(name))
	if v == "" {
		return slog.LevelInfo
	}
	if err := l.UnmarshalText([]byte(v)); err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s must be debug, info, warn or error, got %q", name, v))
		return slog.LevelInfo
	}
	return l
}

// Err returns every problem found so far, or nil.
func (e *Env) Err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return fmt.Errorf("configuration: %w", errors.Join(e.errs...))
}

// Key returns the variable's value as a secret key of at least minBytes
// bytes, recording an error when it is unset or shorter. The error names
// the variable and the minimum, never the value.
func (e *Env) Key(name string, minBytes int) []byte {
	v := e.Required(name)
	if v != "" && len(v) < minBytes {
		e.errs = append(e.errs, fmt.Errorf("%s must be at least %d bytes, got %d: generate one with openssl rand -base64 48", name, minBytes, len(v)))
	}
	return []byte(v)
}

// MinJWTKeyBytes is the shortest JWT_KEY a service starts with: HS256 is
// as strong as its key, and RFC 7518 asks for one at least as long as the
// 32-byte hash.
const MinJWTKeyBytes = 32

// Process is what every service reads about itself: where it listens,
// what it logs, and where it serves its metrics and profiles.
type Process struct {
	// ListenAddr is where the service listens: LISTEN_HOST and PORT.
	ListenAddr string
	LogLevel   slog.Level
	// DebugAddr is where the service serves its Prometheus metrics;
	// empty, the default, serves nothing.
	DebugAddr string
	// PprofAddr is where the service serves net/http/pprof; empty, the
	// default, serves nothing.
	PprofAddr string
}

// ReadProcess reads LISTEN_HOST and PORT, LOG_LEVEL, DEBUG_ADDR and
// PPROF_ADDR.
func ReadProcess(e *Env) Process {
	return Process{
		ListenAddr: ReadListenAddr(e),
		LogLevel:   e.LogLevel("LOG_LEVEL"),
		DebugAddr:  ReadDebugAddr(e),
		PprofAddr:  ReadPprofAddr(e),
	}
}

// HTTP is the configuration every service with an API shares.
type HTTP struct {
	Process
	JWTKey       []byte
	MongoURI     string
	CookieSecure bool
	SessionTTL   time.Duration
}

// ReadHTTP reads the Process variables, JWT_KEY (at least MinJWTKeyBytes),
// MONGO_URI, COOKIE_SECURE and SESSION_TTL.
func ReadHTTP(e *Env) HTTP {
	return HTTP{
		Process:      ReadProcess(e),
		JWTKey:       e.Key("JWT_KEY", MinJWTKeyBytes),
		MongoURI:     e.Required("MONGO_URI"),
		CookieSecure: e.Bool("COOKIE_SECURE", true),
		SessionTTL:   e.Duration("SESSION_TTL", 24*time.Hour),
	}
}

// ReadListenAddr reads where a service listens: LISTEN_HOST (default
// empty, every interface, as a container needs) and PORT (default 3000).
// The local stack sets 127.0.0.1, so that nothing it runs is reachable from
// the network.
func ReadListenAddr(e *Env) string {
	return net.JoinHostPort(e.String("LISTEN_HOST", ""), e.String("PORT", "3000"))
}

// ReadDebugAddr reads DEBUG_ADDR, the host:port where a service serves
// its Prometheus metrics (/metrics), such as 127.0.0.1:6060; unset, it is
// empty and nothing is served. It is never for the ingress. The Kubernetes
// manifests bind :9090 on the pod's address, which no Service exposes, for
// Prometheus to scrape. Profiles are not served there: see ReadPprofAddr.
func ReadDebugAddr(e *Env) string {
	return readAddr(e, "DEBUG_ADDR", "127.0.0.1:6060")
}

// ReadPprofAddr reads PPROF_ADDR, the host:port where a service serves
// Go's profiles (net/http/pprof under /debug/pprof/), such as
// 127.0.0.1:6061; unset, the default, it is empty and nothing is served.
// A profile shows memory and the command line and costs CPU, so it has an
// address of its own that no NetworkPolicy allows: set it for the local
// stack and the bench (PPROF=true), or bind it to loopback for an
// operator's port-forward; the Kubernetes manifests never set it.
func ReadPprofAddr(e *Env) string {
	return readAddr(e, "PPROF_ADDR", "127.0.0.1:6061")
}

// readAddr reads the optional host:port in variable name; example is a
// valid value for the error message.
func readAddr(e *Env, name, example string) string {
	v := strings.TrimSpace(e.getenv(name))
	if v == "" {
		return ""
	}
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		e.errs = append(e.errs, fmt.Errorf("%s must be host:port such as %s, got %q", name, example, v))
		return ""
	}
	return v
}

// DefaultMaxDeliveries is BUS_MAX_DELIVERIES when it is unset.
const DefaultMaxDeliveries = 10

// NATS is the configuration of a service's connection to the bus.
type NATS struct {
	// Transport is "stan" (NATS Streaming, the default) or "jetstream"
	// (see package bus).
	Transport string
	URL       string
	// ClusterID is the NATS Streaming cluster; JetStream has none.
	ClusterID string
	ClientID  string
	// Replicas is how many JetStream servers keep the stream.
	Replicas int
	// User and Password are the service's credentials on the NATS server,
	// which lets each user publish only its own subjects (see package
	// bus); both empty connect without credentials, as to a server of
	// the tests that checks none.
	User     string
	Password string
	// MaxDeliveries is how many times an event is delivered to the
	// service's handler before it goes to the service's dead letters
	// (see package bus).
	MaxDeliveries int
}

// ReadNATS reads BUS, "stan" (the default) or "jetstream"; NATS_URL and
// NATS_CLIENT_ID, required; NATS_CLUSTER_ID, required with stan;
// NATS_USER and NATS_PASSWORD, both or neither; BUS_MAX_DELIVERIES, an
// integer of at least 1 (default DefaultMaxDeliveries); and
// JETSTREAM_REPLICAS, an integer of at least 1 (default 1).
func ReadNATS(e *Env) NATS {
	n := NATS{
		Transport:     e.String("BUS", "stan"),
		URL:           e.Required("NATS_URL"),
		ClientID:      e.Required("NATS_CLIENT_ID"),
		User:          e.String("NATS_USER", ""),
		Password:      e.String("NATS_PASSWORD", ""),
		MaxDeliveries: e.PositiveInt("BUS_MAX_DELIVERIES", DefaultMaxDeliveries),
		Replicas:      e.PositiveInt("JETSTREAM_REPLICAS", 1),
	}
	switch n.Transport {
	case "stan":
		n.ClusterID = e.Required("NATS_CLUSTER_ID")
	case "jetstream":
		n.ClusterID = e.String("NATS_CLUSTER_ID", "")
	default:
		e.errs = append(e.errs, fmt.Errorf("BUS must be stan or jetstream, got %q", n.Transport))
	}
	switch {
	case n.User != "" && n.Password == "":
		e.errs = append(e.errs, errors.New("NATS_PASSWORD must be defined when NATS_USER is"))
	case n.User == "" && n.Password != "":
		e.errs = append(e.errs, errors.New("NATS_USER must be defined when NATS_PASSWORD is"))
	}
	return n
}
