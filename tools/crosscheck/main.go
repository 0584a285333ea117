// Command crosscheck type-checks packages for other platforms, as a cross
// build would compile them, without generating their code.
//
// `make test` runs it for macOS and Windows on every command: what kept
// `make run` from building on macOS before (a Linux-only field of
// syscall.SysProcAttr) is a type error, and type-checking three platforms
// from source takes a minute or two, where building them from an empty
// cache took longer than the rest of `make test` (`make cross` still
// builds them). It prints every error and exits 1 when there is one.
//
//	crosscheck [-targets darwin/arm64,windows/amd64] packages...
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/tools/go/packages"
)

func main() {
	targets := flag.String("targets", "darwin/arm64,darwin/amd64,windows/amd64", "comma-separated GOOS/GOARCH pairs")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "crosscheck: name the packages to check")
		os.Exit(2)
	}
	failed := false
	for _, target := range strings.Split(*targets, ",") {
		goos, goarch, ok := strings.Cut(target, "/")
		if !ok {
			fmt.Fprintf(os.Stderr, "crosscheck: %q is not GOOS/GOARCH\n", target)
			os.Exit(2)
		}
		start := time.Now()
		n, err := check(goos, goarch, flag.Args())
		if err != nil {
			fmt.Fprintf(os.Stderr, "crosscheck: %s: %v\n", target, err)
			os.Exit(2)
		}
		if n > 0 {
			failed = true
		}
		fmt.Printf("crosscheck %s: %d errors (%.0f s)\n", target, n, time.Since(start).Seconds())
	}
	if failed {
		os.Exit(1)
	}
}

// check type-checks patterns and all their dependencies from source for
// goos/goarch, without cgo as a cross build has it, printing every error
// and returning their number.
func check(goos, goarch string, patterns []string) (int, error) {
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedImports | packages.NeedDeps |
			packages.NeedSyntax | packages.NeedTypes,
		Env: append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0"),
	}
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		return 0, err
	}
	return packages.PrintErrors(pkgs), nil
}
