package httpapi

import (
	"encoding/json"
	"net/http"
	"testing"

	"ticketing.dev/auth/internal/user"
	"ticketing.dev/common/web/webtest"
)

// credentialFields are the fields of sign-up and sign-in bodies.
var credentialFields = []webtest.Field{
	{Name: "email", Valid: `"test@test.com"`},
	{Name: "password", Valid: `"password"`},
}

// addCredentialSeeds seeds f with valid bodies and every hostile body small
// enough to mutate quickly (a large seed makes the fuzzer spend its time
// minimizing).
func addCredentialSeeds(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"email":"test@test.com","password":"password"}`,
		`{"email":"  Test@Test.COM ","password":"  password \t"}`,
		`{"email":"a@b.co","password":"pw"}`, `{"email":"a@b.co","password":"` + "\u00e9\u00e9\u00e9\u00e9" + `"}`,
		`{"email":"a@b","password":"password"}`, `{"email":"\"a\"@b.co","password":"password"}`,
		`{"email":"a@b.co","password":"password","extra":{"$gt":""}}`,
	} {
		f.Add([]byte(s))
	}
	for _, b := range webtest.HostileBodies(credentialFields) {
		if len(b.Body) <= 2<<10 {
			f.Add([]byte(b.Body))
		}
	}
}

// decodedAs reads body again with encoding/json alone: the fields a
// decoder that accepted it must have seen.
func decodedAs(t *testing.T, body []byte) credentials {
	t.Helper()
	var c credentials
	if len(body) > 0 && json.Valid(body) {
		if err := json.Unmarshal(body, &c); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
		}
	}
	return c
}

// fuzzDecodeCredentials fuzzes decode with the credential seeds: a body is
// either refused with a client error naming only its fields, or yields the
// body's own email and password, normalized, with a valid email and a
// password that validPassword accepts, as the rules of flow (sign-up,
// sign-in) require.
func fuzzDecodeCredentials(f *testing.F, flow string, decode func(http.ResponseWriter, *http.Request) (credentials, error), validPassword func(string) bool) {
	f.Helper()
	addCredentialSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		w, r := webtest.Post(body)
		got, err := decode(w, r)
		if err != nil {
			webtest.CheckRefusal(t, body, err, "email", "password")
			return
		}
		webtest.CheckAcceptedShape(t, body)
		raw := decodedAs(t, body)
		if got.Email != user.NormalizeEmail(raw.Email) || got.Password != user.NormalizePassword(raw.Password) {
			t.Fatalf("decoded %q as %+v, want the normalized %+v", body, got, raw)
		}
		if !user.ValidEmail(got.Email) || !validPassword(got.Password) {
			t.Fatalf("accepted %+v, which breaks the %s rules", got, flow)
		}
	})
}

// FuzzDecodeSignUp checks that a sign-up body is either refused with a
// client error naming only its fields, or yields the body's own email and
// password, normalized, that pass the sign-up rules.
func FuzzDecodeSignUp(f *testing.F) {
	fuzzDecodeCredentials(f, "sign-up", decodeSignUp, user.ValidPassword)
}

// FuzzDecodeSignIn checks sign-in bodies as FuzzDecodeSignUp does, under
// sign-in's rules: a valid email and a password that is not blank.
func FuzzDecodeSignIn(f *testing.F) {
	fuzzDecodeCredentials(f, "sign-in", decodeSignIn, func(p string) bool { return p != "" })
}
