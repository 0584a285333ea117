// Command audit checks that the services' databases agree with each other
// (see package audit) and prints what it found. It only reads.
//
//	go run ./infra/cmd/audit -mongo mongodb://127.0.0.1:PORT/
//
// The local stack prints its MongoDB URI when it starts. With -wait the
// command first waits, up to that long, for events to stop flowing, so that
// what is still on its way is not reported as broken.
//
// Exit status: 0 when no invariant is broken (warnings may be printed), 1
// when one is, 2 when the audit could not run, 3 when the system did not
// become quiet within -wait (the report then says what was still unsettled:
// a system that never converges is a failure, not a pass).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"ticketing.dev/infra/audit"
)

// errViolations is run's answer when the audit found broken invariants.
var errViolations = errors.New("invariants are broken")

// errNotQuiet is run's answer when events were still flowing, or findings
// still unsettled, when -wait ran out.
var errNotQuiet = errors.New("the system did not become quiet")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, errViolations):
		os.Exit(1)
	case errors.Is(err, errNotQuiet):
		os.Exit(3)
	case err != nil:
		fmt.Fprintln(os.Stderr, "audit:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	uri := fs.String("mongo", "", "MongoDB URI of the server holding the auth, tickets, orders and payments databases (required)")
	wait := fs.Duration("wait", 0, "first wait up to this long for the system to become quiet (0: audit at once)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *uri == "" {
		fs.Usage()
		return errors.New("-mongo is required")
	}

	dbs, disconnect, err := audit.Connect(*uri)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if derr := disconnect(ctx); derr != nil && err == nil {
			err = fmt.Errorf("disconnect: %w", derr)
		}
	}()

	var report audit.Report
	quiet := true
	if *wait > 0 {
		report, err = audit.WaitQuiet(ctx, dbs, *wait)
		if errors.Is(err, audit.ErrNotQuiet) {
			quiet, err = false, nil
		}
	} else {
		report, err = audit.Audit(ctx, dbs)
	}
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, report)
	switch {
	case !quiet:
		fmt.Fprintf(stdout, "FAIL: not quiet after %v: the findings marked (settling) never settled\n", *wait)
		return errNotQuiet
	case !report.OK():
		return errViolations
	}
	return nil
}
