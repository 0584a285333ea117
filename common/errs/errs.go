// Package errs gives errors their meaning to a client. Domain packages
// declare their sentinel errors with New, so the one table in Status maps
// every error the services return to an HTTP status and a message.
package errs

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Kind classifies an error by what the client did wrong, if anything.
type Kind int

// The kinds of error a client can be told about.
const (
	// Internal is a fault of the server; the client sees a generic message.
	Internal Kind = iota
	// Invalid is bad input or a broken business rule.
	Invalid
	// Unauthorized is a missing session or a resource owned by someone else.
	Unauthorized
	// NotFound is an unknown resource or route.
	NotFound
	// TooLarge is a request body over the limit.
	TooLarge
	// TooManyRequests is a client over its rate limit.
	TooManyRequests
	// Unavailable is a dependency that could not be reached.
	Unavailable
	// UnsupportedMediaType is a request body in another format than JSON.
	UnsupportedMediaType
	// Forbidden is a request the server refuses whoever sends it, such as
	// one a browser sent from another site's page.
	Forbidden
	// Busy is a request the server could not finish in time, such as one
	// whose database call timed out under load: the client may try again.
	Busy
)

// statuses is the one table from kinds to HTTP statuses.
var statuses = map[Kind]int{
	Internal:             http.StatusInternalServerError,
	Invalid:              http.StatusBadRequest,
	Unauthorized:         http.StatusUnauthorized,
	NotFound:             http.StatusNotFound,
	TooLarge:             http.StatusRequestEntityTooLarge,
	UnsupportedMediaType: http.StatusUnsupportedMediaType,
	Forbidden:            http.StatusForbidden,
	TooManyRequests:      http.StatusTooManyRequests,
	Unavailable:          http.StatusBadGateway,
	Busy:                 http.StatusServiceUnavailable,
}

// ErrBusy is what a client learns of a request that timed out on the way
// to a dependency (context.DeadlineExceeded): a 503, worth trying again.
var ErrBusy = New(Busy, "The service is busy; try again")

// Error is an error a client may see.
type Error struct {
	Kind    Kind
	Message string
}

// New returns an error of kind k whose message is shown to the client.
// Each call returns a distinct value, so it can serve as a sentinel.
func New(k Kind, message string) *Error {
	return &Error{Kind: k, Message: message}
}

func (e *Error) Error() string { return e.Message }

// FieldError is one failed validation of one request field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every failed field of a request. It is a 400.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		msgs[i] = f.Field + ": " + f.Message
	}
	return "invalid request: " + strings.Join(msgs, "; ")
}

// Detail is one entry of the common error body.
type Detail struct {
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Body is the common error shape: {"errors":[{"message","field"}]}.
type Body struct {
	Errors []Detail `json:"errors"`
}

// InternalMessage is all a client learns of a server fault.
const InternalMessage = "Something went wrong"

// Response returns the HTTP status and body for err. Errors without a kind
// are server faults: 500 with a generic message.
func Response(err error) (int, Body) {
	var verr *ValidationError
	if errors.As(err, &verr) {
		details := make([]Detail, len(verr.Fields))
		for i, f := range verr.Fields {
			details[i] = Detail{Message: f.Message, Field: f.Field}
		}
		return http.StatusBadRequest, Body{Errors: details}
	}
	var e *Error
	if errors.As(err, &e) && e.Kind != Internal {
		return statuses[e.Kind], Body{Errors: []Detail{{Message: e.Message}}}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return statuses[Busy], Body{Errors: []Detail{{Message: ErrBusy.Message}}}
	}
	return http.StatusInternalServerError, Body{Errors: []Detail{{Message: InternalMessage}}}
}
