// Command deadletters lists, replays and discards the dead letters of one service:
// the events its listeners gave up on, kept in the collection
// "deadletters" of its database (see package deadletter), or for expiration,
// whose only store is Redis, in the hash "deadletters" of its Redis (see
// package deadletter/redisstore).
//
//	go run ./infra/cmd/deadletters list -mongo mongodb://127.0.0.1:PORT/orders
//	go run ./infra/cmd/deadletters list -redis 127.0.0.1:6379
//	go run ./infra/cmd/deadletters replay -mongo mongodb://127.0.0.1:PORT/orders -nats nats://127.0.0.1:4222 -id ID [-id ID ...]
//	go run ./infra/cmd/deadletters replay -mongo mongodb://127.0.0.1:PORT/orders -nats nats://127.0.0.1:4222 -all
//	NATS_PASSWORD=... go run ./infra/cmd/deadletters replay -mongo ... -nats nats://127.0.0.1:4222 -user operator -all
//	go run ./infra/cmd/deadletters discard -mongo mongodb://127.0.0.1:PORT/orders -id ID [-id ID ...]
//
// -mongo is the service's MONGO_URI; when it names no database, -db does.
// -redis, instead, is expiration's Redis, as its REDIS_URL
// (redis://[user:password@]host[:port][/db]) or its REDIS_HOST (host[:port]).
// -bus (default $BUS, else stan) names the bus to replay on: stan for NATS
// Streaming (with -cluster), jetstream for NATS JetStream.
// A replay publishes each event again, as it was, on its subject, and then
// deletes its dead letter. Where NATS requires credentials, -user names the
// user to publish as, one that may publish every subject (the operator, see
// bus.OperatorGrant), and NATS_PASSWORD holds its password; the -nats URL
// may carry both instead, as the local stack prints it. Every queue group subscribed to the subject
// receives it, not only the service's: the listeners are versioned and
// idempotent, so the others acknowledge it without effect. Mend what made
// the events fail before replaying them, or they come back. Discard deletes
// dead letters without publishing them: events found to be of no use.
//
// Exit status: 0 on success, 1 when something failed (a replay stops at the
// first event it cannot publish), 2 on a usage error.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/deadletter/redisstore"
	"ticketing.dev/common/lifecycle"
	"ticketing.dev/common/mongodb"
)

// errUsage is run's answer to arguments it cannot act on.
var errUsage = errors.New("usage")

// connectTimeout bounds the wait for NATS Streaming.
const connectTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "deadletters:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "deadletters:", err)
		os.Exit(1)
	}
}

// ids is a flag that may be given many times, each a dead letter's id or a
// comma-separated list of them.
type ids []string

func (s *ids) String() string { return strings.Join(*s, ",") }

func (s *ids) Set(v string) error {
	for _, id := range strings.Split(v, ",") {
		if id = strings.TrimSpace(id); id != "" {
			*s = append(*s, id)
		}
	}
	return nil
}

// defaultRedisPort is used when -redis names no port.
const defaultRedisPort = "6379"

// options are the flags of both commands.
type options struct {
	mongo, db, nats, cluster, client string
	redis                            string
	bus                              string
	user, password                   string
	asJSON, all                      bool
	ids                              ids
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay" && args[0] != "discard") {
		fmt.Fprintln(stderr, "usage: deadletters list|replay|discard -mongo URI|-redis URL [flags]; deadletters list -h for the flags")
		return fmt.Errorf("%w: the first argument must be list, replay or discard", errUsage)
	}
	command := args[0]
	var o options
	fs := flag.NewFlagSet("deadletters "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.mongo, "mongo", "", "the service's MongoDB URI, its MONGO_URI (this or -redis is required)")
	fs.StringVar(&o.db, "db", "", "the service's database, when -mongo names none (tickets, orders, payments)")
	fs.StringVar(&o.redis, "redis", "", "instead of -mongo, expiration's Redis: its REDIS_URL or REDIS_HOST")
	switch command {
	case "list":
		fs.BoolVar(&o.asJSON, "json", false, "print one JSON object per dead letter, with the whole payload")
	case "discard":
		fs.Var(&o.ids, "id", "a dead letter to discard, as list prints it (repeatable, or comma-separated)")
	default:
		fs.StringVar(&o.bus, "bus", cmp.Or(getenv("BUS"), bus.STAN), "the bus to publish on, as BUS names it: stan (NATS Streaming) or jetstream")
		fs.StringVar(&o.nats, "nats", "", "NATS URL to publish on (required)")
		fs.StringVar(&o.cluster, "cluster", "ticketing", "NATS Streaming cluster id (stan only)")
		fs.StringVar(&o.client, "client", fmt.Sprintf("deadletters-%d", os.Getpid()), "NATS client id, unique among connected clients")
		fs.StringVar(&o.user, "user", "", "NATS user to publish as, with the password in NATS_PASSWORD")
		fs.Var(&o.ids, "id", "a dead letter to replay, as list prints it (repeatable, or comma-separated)")
		fs.BoolVar(&o.all, "all", false, "replay every dead letter, oldest first")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	case o.mongo == "" && o.redis == "":
		return fmt.Errorf("%w: -mongo or -redis is required", errUsage)
	case o.mongo != "" && o.redis != "":
		return fmt.Errorf("%w: -mongo and -redis name two services; give one", errUsage)
	case o.redis != "" && o.db != "":
		return fmt.Errorf("%w: -db names a MongoDB database; -redis takes none", errUsage)
	case command == "replay" && o.nats == "":
		return fmt.Errorf("%w: -nats is required to replay", errUsage)
	case command == "replay" && o.all == (len(o.ids) > 0):
		return fmt.Errorf("%w: replay takes either -id or -all", errUsage)
	case command == "discard" && len(o.ids) == 0:
		return fmt.Errorf("%w: discard takes -id", errUsage)
	}
	if o.user != "" {
		if o.password = getenv("NATS_PASSWORD"); o.password == "" {
			return fmt.Errorf("%w: -user needs its password in NATS_PASSWORD", errUsage)
		}
	}

	letters, where, closeStore, err := open(o)
	if err != nil {
		return err
	}
	defer lifecycle.Close(&err, closeStore)
	switch command {
	case "list":
		return list(ctx, letters, where, o.asJSON, stdout)
	case "discard":
		for _, id := range o.ids {
			if err := letters.Discard(ctx, id); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "discarded %s\n", id)
		}
		return nil
	}
	return replay(ctx, letters, o, stdout, stderr)
}

// open opens the store o names, a deadletter.Store on a service's MongoDB
// or a redisstore.Store on expiration's Redis, and returns it with a name
// for where it is and a function that closes it.
func open(o options) (deadletter.Keeper, string, func() error, error) {
	if o.redis != "" {
		opts, err := redisOptions(o.redis)
		if err != nil {
			return nil, "", nil, err
		}
		rdb := redis.NewClient(opts)
		return redisstore.New(rdb), "Redis " + opts.Addr, rdb.Close, nil
	}
	db, disconnect, err := mongodb.Open(o.mongo, o.db)
	if err != nil {
		return nil, "", nil, err
	}
	if db.Name() == "" {
		return nil, "", nil, errors.Join(
			fmt.Errorf("%w: name the service's database in -mongo's path or with -db", errUsage), disconnect())
	}
	return deadletter.New(db), db.Name(), disconnect, nil
}

// redisOptions reads -redis as expiration reads REDIS_URL, when it is a
// URL, or REDIS_HOST.
func redisOptions(v string) (*redis.Options, error) {
	if strings.Contains(v, "://") {
		opts, err := redis.ParseURL(v)
		if err != nil {
			// The URL may hold a password: name the flag, not the value.
			return nil, fmt.Errorf("%w: -redis must be a redis:// or rediss:// URL or a host[:port]", errUsage)
		}
		return opts, nil
	}
	if _, _, err := net.SplitHostPort(v); err != nil {
		v = net.JoinHostPort(strings.Trim(v, "[]"), defaultRedisPort)
	}
	return &redis.Options{Addr: v}, nil
}

// list prints the dead letters in s, which is where, oldest first.
func list(ctx context.Context, s deadletter.Keeper, where string, asJSON bool, stdout io.Writer) error {
	letters, err := s.List(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, l := range letters {
			if err := enc.Encode(jsonLetter(l)); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		return nil
	}
	if len(letters) == 0 {
		_, err := fmt.Fprintf(stdout, "no dead letters in %s\n", where)
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tAT\tSUBJECT\tGROUP\tDELIVERIES\tSEQ\tERROR\tDATA")
	for _, l := range letters {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", l.ID, l.At.Format(time.RFC3339), l.Subject, l.Group,
			l.Deliveries, l.Sequence, oneLine(l.Err, 80), oneLine(string(l.Data), 80))
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// letterJSON is a dead letter as list -json prints it; the payload is
// shown as the text it is, JSON or not.
type letterJSON struct {
	ID         string    `json:"id"`
	Subject    string    `json:"subject"`
	Group      string    `json:"group"`
	Data       string    `json:"data"`
	Err        string    `json:"error"`
	Deliveries int       `json:"deliveries"`
	Sequence   uint64    `json:"sequence"`
	Published  time.Time `json:"published"`
	At         time.Time `json:"at"`
}

func jsonLetter(l deadletter.Letter) letterJSON {
	return letterJSON{
		ID: l.ID, Subject: l.Subject, Group: l.Group, Data: string(l.Data), Err: l.Err,
		Deliveries: l.Deliveries, Sequence: l.Sequence, Published: l.Published, At: l.At,
	}
}

// oneLine shortens s to n runes on one line, for the table.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// replay publishes the dead letters o names through a bus connection of
// its own.
func replay(ctx context.Context, s deadletter.Keeper, o options, stdout, stderr io.Writer) (err error) {
	connectCtx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	conn, err := bus.Connect(connectCtx, bus.Config{
		Transport: o.bus, URL: o.nats, ClusterID: o.cluster, ClientID: o.client, User: o.user, Password: o.password,
	}, log)
	if err != nil {
		return err
	}
	defer lifecycle.Close(&err, conn.Close)

	if o.all {
		n, err := deadletter.ReplayAll(ctx, s, conn)
		fmt.Fprintf(stdout, "replayed %d dead letters\n", n)
		return err
	}
	for i, id := range o.ids {
		if err := s.Replay(ctx, conn, id); err != nil {
			fmt.Fprintf(stdout, "replayed %d of %d dead letters\n", i, len(o.ids))
			return err
		}
		fmt.Fprintf(stdout, "replayed %s\n", id)
	}
	return nil
}
