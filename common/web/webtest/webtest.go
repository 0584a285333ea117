// Package webtest holds what the services' fuzz targets and hostile-input
// tables share: requests as the server hands them to handlers, the check
// that a refusal is a client error, and the hostile bodies every route that
// reads JSON is tried with. It depends on no database or bus, so that fuzz
// binaries built with it stay small.
package webtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/web"
)

// Post returns a POST of body with a JSON content type, and a recorder to
// hand a decoder with it.
func Post(body []byte) (*httptest.ResponseRecorder, *http.Request) {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return httptest.NewRecorder(), r
}

// CheckRefusal fails t unless err, the refusal of body by a decoder, is a
// client error: a status from 400 to 499 and a body in the common shape
// with a message in every entry, and with fields, if any, among fields.
func CheckRefusal(t testing.TB, body []byte, err error, fields ...string) {
	t.Helper()
	status, resp := errs.Response(err)
	if status < 400 || status > 499 {
		t.Fatalf("body %q refused with %d (%v), not a client error", truncate(body), status, err)
	}
	if len(resp.Errors) == 0 {
		t.Fatalf("body %q refused with no error entries (%v)", truncate(body), err)
	}
	for _, d := range resp.Errors {
		if d.Message == "" {
			t.Fatalf("body %q refused with an empty message (%v)", truncate(body), err)
		}
		if d.Field != "" && !slices.Contains(fields, d.Field) {
			t.Fatalf("body %q refused naming field %q, not one of %q", truncate(body), d.Field, fields)
		}
	}
}

// CheckAcceptedShape fails t unless body, which a decoder accepted, is
// blank or one JSON object within web.MaxBodyBytes, in valid UTF-8.
func CheckAcceptedShape(t testing.TB, body []byte) {
	t.Helper()
	if len(body) > web.MaxBodyBytes {
		t.Fatalf("accepted a body of %d bytes", len(body))
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return
	}
	if trimmed[0] != '{' || !json.Valid(trimmed) {
		t.Fatalf("accepted %q, which is not one JSON object", truncate(body))
	}
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// Field is one field of a route's body and a valid JSON value for it.
type Field struct {
	Name  string
	Valid string
}

// Body is one hostile body and the status it must be answered with.
type Body struct {
	Name   string
	Body   string
	Status int
}

// Object writes fields as a JSON object, each with its valid value except
// those given in replace, whose raw JSON replaces it.
func Object(fields []Field, replace map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		v := f.Valid
		if r, ok := replace[f.Name]; ok {
			v = r
		}
		b.WriteString(`"` + f.Name + `":` + v)
	}
	b.WriteByte('}')
	return b.String()
}

// Nesting is how deep the deeply nested bodies go: as deep as
// encoding/json's own limit, so that both sides of it are tried.
const Nesting = 10_000

// HostileBodies are the bodies every route that reads the JSON object
// fields is tried with. Each is otherwise valid, so that the hostile part
// alone is what must be refused: a wrong type (a number for a string field,
// a word for a number field), operator objects and arrays for each field, a
// huge value for each field, and bodies that are no JSON
// object at all, too large, too deep or not UTF-8. All are a 400 but the
// body over web.MaxBodyBytes, a 413.
func HostileBodies(fields []Field) []Body {
	valid := Object(fields, nil)
	deep := strings.Repeat(`{"a":`, Nesting) + "1" + strings.Repeat("}", Nesting)
	bodies := []Body{
		{"missing fields", `{}`, 400},
		{"null for the body", `null`, 400},
		{"an array for the body", `[` + valid + `]`, 400},
		{"a string for the body", `"` + strings.ReplaceAll(valid, `"`, `\"`) + `"`, 400},
		{"a number for the body", `42`, 400},
		{"truncated JSON", valid[:len(valid)-1], 400},
		{"two objects", valid + valid, 400},
		{"trailing garbage", valid + `x`, 400},
		{"single quotes", strings.ReplaceAll(valid, `"`, `'`), 400},
		{"a comment", `/**/` + valid, 400},
		{"form encoding", `a=b&c=d`, 400},
		{"a byte-order mark", "\xef\xbb\xbf" + valid, 400},
		{"invalid UTF-8 outside strings", "\xff" + valid, 400},
		{"a raw NUL", "{\x00}", 400},
		{"arrays 10k deep", strings.Repeat("[", Nesting) + strings.Repeat("]", Nesting), 400},
		{"objects 10k deep for the body", deep, 400},
		{"over 1 MiB", Object(fields, map[string]string{fields[0].Name: `"` + strings.Repeat("a", web.MaxBodyBytes) + `"`}), 413},
		{"over 1 MiB of white space", valid + strings.Repeat(" ", web.MaxBodyBytes), 413},
	}
	for _, f := range fields {
		with := func(v string) string { return Object(fields, map[string]string{f.Name: v}) }
		wrongType := struct{ name, value string }{"a number", `42`}
		if !strings.HasPrefix(f.Valid, `"`) {
			wrongType = struct{ name, value string }{"a word", `"forty-two"`}
		}
		for _, v := range []struct{ name, value string }{
			wrongType,
			{"a boolean", `true`},
			{"null", `null`},
			{"an empty string", `""`},
			{"an array", `[` + f.Valid + `]`},
			{"an empty object", `{}`},
			{`{"$gt":""}`, `{"$gt":""}`},
			{`{"$ne":null}`, `{"$ne":null}`},
			{`{"$where":"1"}`, `{"$where":"1"}`},
			{`{"$regex":".*"}`, `{"$regex":".*"}`},
			{"an escaped operator", `{"\u0024gt":""}`},
			{"a huge string", `"` + strings.Repeat("9", 512<<10) + `"`},
			{"invalid UTF-8", "\"\xff\xfe" + strings.Trim(f.Valid, `"`) + "\""},
			{"objects 10k deep", deep},
		} {
			bodies = append(bodies, Body{f.Name + " as " + v.name, with(v.value), 400})
		}
		bodies = append(bodies,
			Body{f.Name + " twice, an operator last", strings.TrimSuffix(valid, "}") + `,"` + f.Name + `":{"$gt":""}}`, 400},
			Body{f.Name + " in upper case as an operator", strings.TrimSuffix(valid, "}") + `,"` + strings.ToUpper(f.Name) + `":{"$gt":""}}`, 400},
		)
	}
	return bodies
}

// Errors decodes a body in the common error shape, failing the test when
// it is not one.
func Errors(t testing.TB, body []byte) []errs.Detail {
	t.Helper()
	var e errs.Body
	require.NoError(t, json.Unmarshal(body, &e), "%s", truncate(body))
	return e.Errors
}

// AssertErrorResponse checks that a response is want, with a JSON body in
// the common error shape: {"errors":[{"message":...}]}, every entry with a
// message, no other top-level member.
func AssertErrorResponse(t testing.TB, status int, header http.Header, body []byte, want int) bool {
	t.Helper()
	ok := assert.Equal(t, want, status, "%s", truncate(body))
	ok = assert.Equal(t, "application/json; charset=utf-8", header.Get("Content-Type")) && ok
	var shape map[string]json.RawMessage
	if !assert.NoError(t, json.Unmarshal(body, &shape), "%s", truncate(body)) {
		return false
	}
	var e errs.Body
	ok = assert.Len(t, shape, 1, "%s", truncate(body)) && ok
	if !assert.NoError(t, json.Unmarshal(shape["errors"], &e.Errors), "%s", truncate(body)) {
		return false
	}
	ok = assert.NotEmpty(t, e.Errors, "%s", truncate(body)) && ok
	for _, d := range e.Errors {
		ok = assert.NotEmpty(t, d.Message, "%s", truncate(body)) && ok
	}
	return ok
}
