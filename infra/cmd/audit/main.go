// Command audit checks that the services' databases agree with each other
// (see package audit) and prints what it found. It only reads.
//
//	go run ./infra/cmd/audit -mongo mongodb://127.0.0.1:PORT/
//	go run ./infra/cmd/audit -mongo mongodb://127.0.0.1:PORT/ -wait 30s -stripe-calls DATA/stripe-calls.jsonl
//
// The local stack prints its MongoDB URI when it starts. With -wait the
// command first waits, up to that long, for events to stop flowing, so that
// what is still on its way is not reported as broken. -expiry-grace is
// orders' EXPIRY_GRACE, if it was set: an unpaid order is late only once
// orders' sweeper would have cancelled it. -stripe-calls also checks the
// money (audit.Money): every charge Stripe made is a complete order's
// payment or refunded exactly once; it names the file of the requests made
// to Stripe, one JSON object a line, which the local stack keeps in its
// data folder (it prints the path when it starts). Give it with -wait: a
// charge still being recorded would be reported.
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
	grace := fs.Duration("expiry-grace", audit.DefaultExpiryGrace, "the orders service's EXPIRY_GRACE, after which its sweeper cancels an unpaid order whose expiry was lost")
	stripeCalls := fs.String("stripe-calls", "", "also check the money against this file of the requests made to Stripe, one JSON object a line (the local stack's stripe-calls.jsonl)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *uri == "" {
		fs.Usage()
		return errors.New("-mongo is required")
	}
	if *grace <= 0 {
		return errors.New("-expiry-grace must be positive")
	}
	cfg := audit.Config{ExpiryGrace: *grace}

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
		report, err = audit.WaitQuiet(ctx, dbs, *wait, cfg)
		if errors.Is(err, audit.ErrNotQuiet) {
			quiet, err = false, nil
		}
	} else {
		report, err = audit.Audit(ctx, dbs, cfg)
	}
	if err != nil {
		return err
	}
	if *stripeCalls != "" {
		money, err := checkMoney(ctx, dbs, *stripeCalls)
		if err != nil {
			return err
		}
		report.Violations = append(report.Violations, money...)
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

// checkMoney reads the Stripe calls in path, then the databases, and
// checks the one against the other: in that order, so that every charge
// read has had its time to be recorded.
func checkMoney(ctx context.Context, dbs audit.Databases, path string) ([]audit.Finding, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("stripe calls: %w", err)
	}
	defer f.Close()
	calls, err := audit.ReadStripeCalls(f)
	if err != nil {
		return nil, err
	}
	s, err := audit.Load(ctx, dbs)
	if err != nil {
		return nil, err
	}
	return audit.Money(s, calls), nil
}
