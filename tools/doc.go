// Package tools pins the Go tools the build uses (see the tool directives in
// go.mod): run them with `go tool NAME` from this folder.
package tools
