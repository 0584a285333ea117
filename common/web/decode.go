package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
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
	ErrNotJSON      = errs.New(errs.UnsupportedMediaType, "Content-Type must be application/json")
)

// Decode reads a JSON object into dst, a pointer to a request model.
//
// A body must come as application/json, parameters such as charset
// allowed; in any other format, or with no Content-Type, it is refused with
// a 415 before it is read. That keeps a cross-site HTML form, which can
// post text/plain or form-encoded bodies but never application/json, from
// acting on the API. The API routers refuse such bodies earlier still, in
// RefuseCrossOrigin; this check keeps every handler safe on its own.
//
// An empty body decodes as {} so that validation reports the missing fields,
// as the original app does. A body that is not one well-formed JSON object,
// holds invalid UTF-8, or exceeds MaxBodyBytes is refused with a 4xx. A value
// of the wrong type, such as an operator object {"$gt":""} where a string
// belongs, is a validation error naming its field. Unknown fields are
// ignored, as the original app ignores them.
func Decode(w http.ResponseWriter, r *http.Request, dst any) error {
	// A length known up front refuses a foreign body unread; a chunked
	// one, of unknown length, is refused once it proves not to be empty.
	if r.ContentLength > 0 && !isJSON(r) {
		return ErrNotJSON
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return ErrBodyTooLarge
		}
		return errs.New(errs.Invalid, "Could not read request body")
	}
	if len(body) > 0 && !isJSON(r) {
		return ErrNotJSON
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

// isJSON reports whether r declares its body application/json, with any
// parameters. Only that type: a form, text/plain, and JSON's relatives such
// as application/merge-patch+json are not what the routes read.
func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}
