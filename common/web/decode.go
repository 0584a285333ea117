package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"ticketing.dev/common/errs"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

// Errors for bodies that cannot be decoded.
var (
	ErrBodyTooLarge = errs.New(errs.TooLarge, "Request body too large")
	ErrMalformed    = errs.New(errs.Invalid, "Request body must be a JSON object")
)

// Decode reads a JSON object into dst, a pointer to a request model.
//
// An empty body decodes as {} so that validation reports the missing fields,
// as the original app does. A body that is not one well-formed JSON object,
// holds invalid UTF-8, or exceeds MaxBodyBytes is refused with a 4xx. A value
// of the wrong type, such as an operator object {"$gt":""} where a string
// belongs, is a validation error naming its field. Unknown fields are
// ignored, as the original app ignores them.
func Decode(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return ErrBodyTooLarge
		}
		return errs.New(errs.Invalid, "Could not read request body")
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if !utf8.Valid(body) {
		return errs.New(errs.Invalid, "Request body must be valid UTF-8")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
			return &errs.ValidationError{Fields: []errs.FieldError{{
				Field:   te.Field,
				Message: "Invalid value for " + te.Field,
			}}}
		}
		return ErrMalformed
	}
	if dec.More() {
		return ErrMalformed
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ErrMalformed
	}
	return nil
}
