package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/web"
)

// TestDecode_ABodyInAnotherFormatIs415 covers what an HTML form of another
// site can send (text/plain, form-encoded, multipart) and what is not
// JSON by declaration, each with a body that would otherwise decode.
func TestDecode_ABodyInAnotherFormatIs415(t *testing.T) {
	const valid = `{"email":"a@b.co","password":"pw12"}`
	tests := []struct {
		name, contentType, body string
	}{
		{"text/plain", "text/plain", valid},
		{"text/plain as fetch sends it", "text/plain;charset=UTF-8", valid},
		{"form-encoded", "application/x-www-form-urlencoded", "email=a%40b.co&password=pw12"},
		{"form-encoded JSON", "application/x-www-form-urlencoded", valid},
		{"multipart", "multipart/form-data; boundary=x", valid},
		{"no Content-Type", "", valid},
		{"an empty Content-Type", " ", valid},
		{"text/json", "text/json", valid},
		{"a JSON relative", "application/merge-patch+json", valid},
		{"JSON as a parameter of text/plain", "text/plain; type=application/json", valid},
		{"a list of types", "application/json, text/plain", valid},
		{"text/plain over 1 MiB, refused unread", "text/plain", `{"email":"` + strings.Repeat("a", web.MaxBodyBytes) + `"}`},
		{"white space alone", "text/plain", " \n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := decodeAs[signup](tt.contentType, tt.body)

			require.ErrorIs(t, err, web.ErrNotJSON)
			status, body := errs.Response(err)
			assert.Equal(t, http.StatusUnsupportedMediaType, status)
			assert.Equal(t, errs.Body{Errors: []errs.Detail{{Message: "Content-Type must be application/json"}}}, body)
			assert.Equal(t, signup{}, s, "nothing decoded")
		})
	}
}

func TestDecode_ABodyOfUnknownLengthInAnotherFormatIs415(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/", io.MultiReader(strings.NewReader(`{"email":"a@b.co"}`)))
	r.ContentLength = -1 // chunked
	r.Header.Set("Content-Type", "text/plain")
	var s signup

	err := web.Decode(httptest.NewRecorder(), r, &s)

	assert.ErrorIs(t, err, web.ErrNotJSON)
	assert.Equal(t, signup{}, s)
}

func TestDecode_JSONWithParametersIsRead(t *testing.T) {
	for _, ct := range []string{
		"application/json",
		"application/json; charset=utf-8",
		"application/json;charset=UTF-8",
		"Application/JSON",
	} {
		t.Run(ct, func(t *testing.T) {
			s, err := decodeAs[signup](ct, `{"email":"a@b.co","password":"pw12"}`)

			require.NoError(t, err)
			assert.Equal(t, signup{Email: "a@b.co", Password: "pw12"}, s)
		})
	}
}

// TestDecode_NoBodyNeedsNoContentType: a request without a body reads as
// {} whatever it declares, so that validation names the missing fields.
func TestDecode_NoBodyNeedsNoContentType(t *testing.T) {
	for _, ct := range []string{"", "text/plain", "application/json"} {
		s, err := decodeAs[signup](ct, "")

		require.NoError(t, err, ct)
		assert.Equal(t, signup{}, s)
	}
}
