package errs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	"ticketing.dev/common/errs"
)

var errReserved = errs.New(errs.Invalid, "Cannot edit a reserved ticket")

func TestResponse(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		status int
		body   errs.Body
	}{
		{"sentinel", errReserved, http.StatusBadRequest,
			errs.Body{Errors: []errs.Detail{{Message: "Cannot edit a reserved ticket"}}}},
		{"wrapped sentinel", fmt.Errorf("update ticket: %w", errReserved), http.StatusBadRequest,
			errs.Body{Errors: []errs.Detail{{Message: "Cannot edit a reserved ticket"}}}},
		{"not authorized", errs.New(errs.Unauthorized, "Not authorized"), http.StatusUnauthorized,
			errs.Body{Errors: []errs.Detail{{Message: "Not authorized"}}}},
		{"not found", errs.New(errs.NotFound, "Not Found"), http.StatusNotFound,
			errs.Body{Errors: []errs.Detail{{Message: "Not Found"}}}},
		{"too large", errs.New(errs.TooLarge, "Request body too large"), http.StatusRequestEntityTooLarge,
			errs.Body{Errors: []errs.Detail{{Message: "Request body too large"}}}},
		{"not JSON", errs.New(errs.UnsupportedMediaType, "Request body must be application/json"), http.StatusUnsupportedMediaType,
			errs.Body{Errors: []errs.Detail{{Message: "Request body must be application/json"}}}},
		{"forbidden", errs.New(errs.Forbidden, "Cross-origin request refused"), http.StatusForbidden,
			errs.Body{Errors: []errs.Detail{{Message: "Cross-origin request refused"}}}},
		{"rate limited", errs.New(errs.TooManyRequests, "Too many requests"), http.StatusTooManyRequests,
			errs.Body{Errors: []errs.Detail{{Message: "Too many requests"}}}},
		{"unavailable", errs.New(errs.Unavailable, "Payment provider unreachable"), http.StatusBadGateway,
			errs.Body{Errors: []errs.Detail{{Message: "Payment provider unreachable"}}}},
		{"validation", &errs.ValidationError{Fields: []errs.FieldError{
			{Field: "email", Message: "Email must be valid"},
			{Field: "password", Message: "Password must be between 4 and 30 characters"},
		}}, http.StatusBadRequest, errs.Body{Errors: []errs.Detail{
			{Field: "email", Message: "Email must be valid"},
			{Field: "password", Message: "Password must be between 4 and 30 characters"},
		}}},
		{"unknown error hides its details", errors.New("mongo: connection refused to 10.0.0.3"),
			http.StatusInternalServerError, errs.Body{Errors: []errs.Detail{{Message: "Something went wrong"}}}},
		{"a timed-out dependency is busy, not a fault", fmt.Errorf("find order: connection(127.0.0.1:27017[-7]) incomplete read of message header: %w", context.DeadlineExceeded),
			http.StatusServiceUnavailable, errs.Body{Errors: []errs.Detail{{Message: "The service is busy; try again"}}}},
		{"internal kind hides its message", errs.New(errs.Internal, "secret detail"),
			http.StatusInternalServerError, errs.Body{Errors: []errs.Detail{{Message: "Something went wrong"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := errs.Response(c.err)
			assert.Equal(t, c.status, status)
			assert.Equal(t, c.body, body)
		})
	}
}
