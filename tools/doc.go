// Package tools pins the Go tools the build uses (see the tool directives in
// go.mod): run them with `go tool NAME` from this folder. Its own commands
// (crosscheck) are built by the Makefile.
package tools
