package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/events"
	"ticketing.dev/common/web"
)

type signup struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type ticket struct {
	Title string       `json:"title"`
	Price events.Money `json:"price"`
}

func decode[T any](body string) (T, error) {
	return decodeAs[T]("application/json", body)
}

// decodeAs decodes body sent with the given Content-Type, or with none
// when contentType is empty.
func decodeAs[T any](contentType, body string) (T, error) {
	var v T
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	err := web.Decode(httptest.NewRecorder(), r, &v)
	return v, err
}

func TestDecode_ValidBodies(t *testing.T) {
	s, err := decode[signup](`{"email":"a@b.co","password":"pw12","extra":{"ignored":true}}`)
	require.NoError(t, err)
	assert.Equal(t, signup{Email: "a@b.co", Password: "pw12"}, s)

	empty, err := decode[signup](" \n")
	require.NoError(t, err, "an empty body reads as {} so that validation names the missing fields")
	assert.Equal(t, signup{}, empty)

	tk, err := decode[ticket](`{"title":"concert","price":10.99}`)
	require.NoError(t, err)
	assert.Equal(t, events.Money(1099), tk.Price)
}

func TestDecode_HostileBodiesAre4xx(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		status int
		field  string
	}{
		{"malformed", `{"email":`, http.StatusBadRequest, ""},
		{"not an object", `[1,2]`, http.StatusBadRequest, ""},
		{"operator object for a string", `{"email":{"$gt":""},"password":"pw12"}`, http.StatusBadRequest, "email"},
		{"number for a string", `{"email":42}`, http.StatusBadRequest, "email"},
		{"two objects", `{"email":"a@b.co"}{"email":"c@d.co"}`, http.StatusBadRequest, ""},
		{"trailing garbage", `{"email":"a@b.co"} x`, http.StatusBadRequest, ""},
		{"invalid utf-8", "{\"email\":\"\xff\xfe\"}", http.StatusBadRequest, ""},
		{"over 1 MiB", `{"email":"` + strings.Repeat("a", web.MaxBodyBytes) + `"}`, http.StatusRequestEntityTooLarge, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decode[signup](c.body)
			require.Error(t, err)
			status, body := errs.Response(err)
			assert.Equal(t, c.status, status)
			require.Len(t, body.Errors, 1)
			assert.Equal(t, c.field, body.Errors[0].Field)
			assert.NotEmpty(t, body.Errors[0].Message)
		})
	}
}

func TestDecode_DeeplyNestedBodyIsRefused(t *testing.T) {
	body := `{"email":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`
	_, err := decode[signup](body)
	require.Error(t, err)
	status, _ := errs.Response(err)
	assert.Equal(t, http.StatusBadRequest, status)
}

func TestRouter_UnknownRouteIs404InTheCommonShape(t *testing.T) {
	r := web.NewRouter(web.Nop)
	r.Get("/api/things", func(w http.ResponseWriter, r *http.Request) {})
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/api/nothing", nil),
		httptest.NewRequest(http.MethodDelete, "/api/things", nil),
	} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		assert.Equal(t, http.StatusNotFound, w.Code)
		assert.JSONEq(t, `{"errors":[{"message":"Not Found"}]}`, w.Body.String())
		assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	}
}

func TestHandle_WritesErrorsInTheCommonShape(t *testing.T) {
	r := web.NewRouter(web.Nop)
	r.Get("/rule", web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		return errs.New(errs.Invalid, "Ticket is already reserved")
	}))
	r.Get("/fault", web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		return errors.New("mongo: dial tcp 10.1.2.3:27017: refused")
	}))
	r.Get("/panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	r.Get("/timeout", web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		// As mongo-driver reports a call that ran out of time under load.
		return fmt.Errorf("complete payment: connection(127.0.0.1:27017[-19]) incomplete read of message header: %w",
			fmt.Errorf("%w: client timed out waiting for server response", context.DeadlineExceeded))
	}))
	r.Get("/validation", web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		var v web.Validator
		v.Check(false, "title", "Title is required")
		v.Check(true, "price", "never shown")
		v.Check(false, "price", "Price must be greater than zero")
		return v.Err()
	}))

	cases := []struct {
		path, body string
		status     int
	}{
		{"/rule", `{"errors":[{"message":"Ticket is already reserved"}]}`, 400},
		{"/fault", `{"errors":[{"message":"Something went wrong"}]}`, 500},
		{"/panic", `{"errors":[{"message":"Something went wrong"}]}`, 500},
		{"/timeout", `{"errors":[{"message":"The service is busy; try again"}]}`, 503},
		{"/validation", `{"errors":[{"message":"Title is required","field":"title"},{"message":"Price must be greater than zero","field":"price"}]}`, 400},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, c.path, nil))
		assert.Equal(t, c.status, w.Code, c.path)
		assert.JSONEq(t, c.body, w.Body.String(), c.path)
		assert.NotEmpty(t, w.Header().Get(web.RequestIDHeader))
		if c.status == http.StatusServiceUnavailable {
			assert.Equal(t, "1", w.Header().Get("Retry-After"), c.path)
		}
	}
}

func TestRouter_KeepsASaneRequestID(t *testing.T) {
	r := web.NewRouter(web.Nop)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(web.RequestIDHeader, "abc-123")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	assert.Equal(t, "abc-123", w.Header().Get(web.RequestIDHeader))

	req.Header.Set(web.RequestIDHeader, "bad id\nwith newline")
	w = httptest.NewRecorder()
	r.ServeHTTP(w, req)
	assert.NotEqual(t, "bad id\nwith newline", w.Header().Get(web.RequestIDHeader))
}

func TestHealth(t *testing.T) {
	var dbErr error
	r := web.NewRouter(web.Nop)
	web.Health(r, map[string]web.Check{"mongo": func(context.Context) error { return dbErr }})

	get := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w
	}
	assert.Equal(t, http.StatusOK, get("/healthz").Code)
	assert.Equal(t, http.StatusOK, get("/readyz").Code)
	dbErr = errors.New("down")
	assert.Equal(t, http.StatusOK, get("/healthz").Code)
	w := get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.JSONEq(t, `{"mongo":"unavailable"}`, w.Body.String())
}

func TestValidID(t *testing.T) {
	assert.True(t, web.ValidID("507f1f77bcf86cd799439011"))
	assert.True(t, web.ValidID("507F1F77BCF86CD799439011"))
	for _, bad := range []string{"", "abc", "507f1f77bcf86cd79943901", "507f1f77bcf86cd7994390111", "507f1f77bcf86cd79943901g", `{"$gt":""}`} {
		assert.False(t, web.ValidID(bad), bad)
	}
}
