package user_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/auth/internal/user"
)

// cheap keeps unit tests fast; the format and code paths are those of
// DefaultParams.
var cheap = user.Params{LogN: 10, R: 8, P: 1, KeyLen: 64, SaltLen: 16}

func TestHashPassword_DefaultHashNamesItsParameters(t *testing.T) {
	hash, err := user.HashPassword("secret", user.DefaultParams())
	require.NoError(t, err)

	// 16-byte salt and 64-byte key in unpadded base64: 22 and 86 characters.
	assert.Regexp(t, regexp.MustCompile(`^scrypt\$ln=14,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{86}$`), hash)
	ok, err := user.VerifyPassword("secret", hash)
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestDecoyHash_IsAWellFormedHashNothingMatches(t *testing.T) {
	decoy, err := user.DecoyHash(user.DefaultParams())
	require.NoError(t, err)
	other, err := user.DecoyHash(user.DefaultParams())
	require.NoError(t, err)

	assert.Regexp(t, regexp.MustCompile(`^scrypt\$ln=14,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{86}$`), decoy,
		"the form and cost of a real hash, so that verifying against it costs the same")
	assert.NotEqual(t, decoy, other)
	for _, pw := range []string{"", "secret", "correct horse"} {
		ok, err := user.VerifyPassword(pw, decoy)
		require.NoError(t, err)
		assert.False(t, ok, "password %q", pw)
	}
}

func TestDecoyHash_RefusesUnsafeParameters(t *testing.T) {
	_, err := user.DecoyHash(user.Params{LogN: 30, R: 8, P: 1, KeyLen: 64, SaltLen: 16})
	assert.Error(t, err)
}

func TestVerifyPassword_RoundTrip(t *testing.T) {
	hash, err := user.HashPassword("correct horse", cheap)
	require.NoError(t, err)

	ok, err := user.VerifyPassword("correct horse", hash)
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestVerifyPassword_WrongPasswordDoesNotMatch(t *testing.T) {
	hash, err := user.HashPassword("correct horse", cheap)
	require.NoError(t, err)

	for _, pw := range []string{"correct hors", "Correct horse", "correct horse ", ""} {
		ok, err := user.VerifyPassword(pw, hash)
		require.NoError(t, err)
		assert.False(t, ok, "password %q", pw)
	}
}

func TestHashPassword_SaltsEveryHash(t *testing.T) {
	a, err := user.HashPassword("same", cheap)
	require.NoError(t, err)
	b, err := user.HashPassword("same", cheap)
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
}

func TestHashPassword_RefusesUnsafeParameters(t *testing.T) {
	for name, p := range map[string]user.Params{
		"zero":            {},
		"huge N":          {LogN: 30, R: 8, P: 1, KeyLen: 64, SaltLen: 16},
		"too much memory": {LogN: 20, R: 8, P: 1, KeyLen: 64, SaltLen: 16},
		"short salt":      {LogN: 10, R: 8, P: 1, KeyLen: 64, SaltLen: 4},
		"short key":       {LogN: 10, R: 8, P: 1, KeyLen: 8, SaltLen: 16},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := user.HashPassword("pw", p)
			assert.Error(t, err)
		})
	}
}

// A Node.js vector: crypto.scryptSync('password', '0123456789abcdef', 64),
// stored as the original app stored it.
const legacyHash = "02974558af0dba6c98dbd12bf6912dfbeece662102bdca8f4177886b245cec29" +
	"c7985754529460678d7bc3e3cbdd557d3eb8f6936664da91415d2de8d7bf1bb9.0123456789abcdef"

func TestVerifyPassword_ReadsTheOriginalAppsHashes(t *testing.T) {
	ok, err := user.VerifyPassword("password", legacyHash)
	require.NoError(t, err)
	assert.True(t, ok)

	ok, err = user.VerifyPassword("passwort", legacyHash)
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestVerifyPassword_TamperedHashes(t *testing.T) {
	hash, err := user.HashPassword("pw12", cheap)
	require.NoError(t, err)
	parts := strings.Split(hash, "$")
	require.Len(t, parts, 4)
	join := func(p ...string) string { return strings.Join(p, "$") }

	t.Run("a changed key does not match", func(t *testing.T) {
		key := []byte(parts[3])
		if key[0] == 'A' {
			key[0] = 'B'
		} else {
			key[0] = 'A'
		}
		ok, err := user.VerifyPassword("pw12", join(parts[0], parts[1], parts[2], string(key)))
		require.NoError(t, err)
		assert.False(t, ok)
	})

	t.Run("changed parameters do not match", func(t *testing.T) {
		ok, err := user.VerifyPassword("pw12", join(parts[0], "ln=11,r=8,p=1", parts[2], parts[3]))
		require.NoError(t, err)
		assert.False(t, ok)
	})

	malformed := map[string]string{
		"empty":                 "",
		"unknown scheme":        join("bcrypt", parts[1], parts[2], parts[3]),
		"missing field":         join(parts[0], parts[1], parts[2]),
		"extra field":           hash + "$x",
		"parameters reordered":  join(parts[0], "r=8,ln=10,p=1", parts[2], parts[3]),
		"parameters padded":     join(parts[0], "ln=010,r=8,p=1", parts[2], parts[3]),
		"parameters trailing":   join(parts[0], "ln=10,r=8,p=1,x=1", parts[2], parts[3]),
		"parameter missing":     join(parts[0], "ln=10,r=8", parts[2], parts[3]),
		"N too large":           join(parts[0], "ln=40,r=8,p=1", parts[2], parts[3]),
		"memory too large":      join(parts[0], "ln=20,r=64,p=1", parts[2], parts[3]),
		"negative parallelism":  join(parts[0], "ln=10,r=8,p=-1", parts[2], parts[3]),
		"salt not base64":       join(parts[0], parts[1], "!!!!", parts[3]),
		"key not base64":        join(parts[0], parts[1], parts[2], "????"),
		"key too short":         join(parts[0], parts[1], parts[2], "AAAA"),
		"padded base64":         join(parts[0], parts[1], parts[2]+"==", parts[3]),
		"plain text":            "pw12",
		"legacy with short key": legacyHash[100:],
		"legacy with bad hex":   "zz" + legacyHash[2:],
		"legacy without salt":   legacyHash[:128],
	}
	for name, encoded := range malformed {
		t.Run(name, func(t *testing.T) {
			ok, err := user.VerifyPassword("pw12", encoded)
			require.ErrorIs(t, err, user.ErrMalformedHash)
			assert.False(t, ok)
		})
	}
}
