package pages

import (
	"errors"
	"net/http"
	"slices"

	"ticketing.dev/client/internal/api"
)

// maxFormBytes bounds a posted form; the largest holds a title and a price.
const maxFormBytes = 64 << 10

// form is a form's values as the user typed them and what the API said
// about them: each field's message shown beside that field, the others
// above the form.
type form struct {
	values  map[string]string
	errs    map[string]string
	fields  []string // the form's fields, in page order
	General []string
}

// newForm returns a form with the given fields, in page order.
func newForm(fields ...string) form {
	return form{values: map[string]string{}, errs: map[string]string{}, fields: fields}
}

// parseForm reads the form's fields from a posted request.
func parseForm(w http.ResponseWriter, r *http.Request, fields ...string) (form, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return form{}, errBadForm
	}
	f := newForm(fields...)
	for _, name := range fields {
		f.values[name] = r.PostForm.Get(name)
	}
	return f, nil
}

// Value is the value of a field as last typed.
func (f form) Value(name string) string { return f.values[name] }

// Error is the API's message about a field, empty when it has none.
func (f form) Error(name string) string { return f.errs[name] }

// Autofocus reports whether name is the first field with an error, which
// the page focuses so that a keyboard or screen-reader user lands on it.
// Messages above the form take the focus instead when there are any: they
// come first, and they say what went wrong as a whole.
func (f form) Autofocus(name string) bool {
	if len(f.General) > 0 {
		return false
	}
	for _, field := range f.fields {
		if f.errs[field] != "" {
			return field == name
		}
	}
	return false
}

// HasErrors reports whether the API said anything about the form.
func (f form) HasErrors() bool { return len(f.errs) > 0 || len(f.General) > 0 }

// set records the value of a field.
func (f form) set(name, value string) form {
	f.values[name] = value
	return f
}

// withMessage adds a message above the form.
func (f form) withMessage(msg string) form {
	f.General = append(f.General, msg)
	return f
}

// withErrors places the messages of an API refusal: beside their field when
// the form has it, above the form otherwise. It returns the status to answer
// with, or 0 for errors that are no refusal of the form's content, which
// the caller returns instead.
func (f form) withErrors(err error) (form, int) {
	apiErr, ok := errors.AsType[*api.Error](err)
	if !ok {
		return f, 0
	}
	switch apiErr.Status {
	case http.StatusBadRequest, http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable:
	default:
		return f, 0
	}
	for _, d := range apiErr.Errors {
		if slices.Contains(f.fields, d.Field) && f.errs[d.Field] == "" {
			f.errs[d.Field] = d.Message
			continue
		}
		f.General = append(f.General, d.Message)
	}
	return f, apiErr.Status
}
