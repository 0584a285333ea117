package webtest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/session"
	"ticketing.dev/common/web"
	"ticketing.dev/common/web/webtest"
)

var fields = []webtest.Field{{Name: "title", Valid: `"concert"`}, {Name: "price", Valid: `10`}}

func TestHostileBodies_AreOverTheLimitOnlyWhenTheyExpect413(t *testing.T) {
	names := map[string]bool{}
	for _, b := range webtest.HostileBodies(fields) {
		assert.False(t, names[b.Name], "two bodies named %q", b.Name)
		names[b.Name] = true
		assert.Equal(t, b.Status == http.StatusRequestEntityTooLarge, len(b.Body) > web.MaxBodyBytes, b.Name)
	}
	assert.Len(t, names, 18+2*16)
}

func TestHostileBodies_AreRefusedByDecodeOrByValidation(t *testing.T) {
	for _, b := range webtest.HostileBodies(fields) {
		t.Run(b.Name, func(t *testing.T) {
			var v struct {
				Title string `json:"title"`
				Price int    `json:"price"`
			}
			w, r := webtest.Post([]byte(b.Body))
			err := web.Decode(w, r, &v)
			if err == nil {
				// What decodes must then fail validation: a field missing, or
				// one with its zero value.
				assert.True(t, v.Title == "" || v.Price == 0 || len(v.Title) > 1000, "%+v", v)
				return
			}
			webtest.CheckRefusal(t, []byte(b.Body), err, "title", "price")
		})
	}
}

func TestHostileHeaders_AreRefusedWithTheirStatus(t *testing.T) {
	var decoded bool
	r := web.NewRouter(web.Nop)
	r.Use(web.RefuseCrossOrigin)
	r.Post("/", web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		var v struct {
			Title string `json:"title"`
			Price int    `json:"price"`
		}
		if err := web.Decode(w, r, &v); err != nil {
			return err
		}
		decoded = true
		return web.NoContent(w, http.StatusNoContent)
	}))
	names := map[string]bool{}
	for _, h := range webtest.HostileHeaders(fields) {
		t.Run(h.Name, func(t *testing.T) {
			assert.False(t, names[h.Name], "two requests named %q", h.Name)
			names[h.Name] = true
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(h.Body))
			req.Header.Set("Content-Type", "application/json")
			h.Set(req)
			w := httptest.NewRecorder()

			r.ServeHTTP(w, req)

			webtest.AssertErrorResponse(t, w.Code, w.Header(), w.Body.Bytes(), h.Status)
			assert.False(t, decoded, "nothing decoded")
		})
	}
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(webtest.Object(fields, nil)))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	assert.Equal(t, http.StatusNoContent, w.Code, "the same body as JSON from no other origin is read")
	assert.True(t, decoded)
}

func TestForgedSessions_AreNoSession(t *testing.T) {
	key := []byte("test-jwt-key-of-at-least-32-bytes")
	const user = "507f1f77bcf86cd799439011"
	m := session.NewManager(key, time.Hour, false)
	rec := httptest.NewRecorder()
	require.NoError(t, m.SignIn(rec, user, "a@b.co"))
	genuine := httptest.NewRequest(http.MethodGet, "/", nil)
	genuine.AddCookie(rec.Result().Cookies()[0])
	_, ok := m.Parse(genuine)
	require.True(t, ok, "the genuine cookie is a session")

	forged := webtest.ForgedSessions(t, key, user)
	assert.Len(t, forged, 19)
	for _, f := range forged {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(f.Cookie)
		_, ok := m.Parse(r)
		assert.False(t, ok, f.Name)
	}
}

func TestMalformedIDs_AreNotIDs(t *testing.T) {
	for _, id := range webtest.MalformedIDs() {
		assert.False(t, web.ValidID(id), id)
		assert.False(t, strings.Contains(id, "/"), "one path segment: %s", id)
	}
}

func TestTokenOf_UndoesCookieValue(t *testing.T) {
	assert.Equal(t, "header.claims.signature", webtest.TokenOf(t, webtest.CookieValue("header.claims.signature")))
}
