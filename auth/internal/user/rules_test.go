package user_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"ticketing.dev/auth/internal/user"
)

func TestValidEmail(t *testing.T) {
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63)
	tests := []struct {
		email string
		valid bool
	}{
		{"test@test.com", true},
		{"first.last+tag@sub.example.co.uk", true},
		{"o'brien@example.ie", true},
		{"x@xn--bcher-kva.example", true},
		{"jürgen@bücher.de", true},
		{"a@b.co", true},
		{"", false},
		{"alskdflaskjfd", false},
		{"test@test", false},
		{"test@localhost", false},
		{"@test.com", false},
		{"test@", false},
		{"test@@test.com", false},
		{"test@.test.com", false},
		{"test@test..com", false},
		{"test@test.com.", false},
		{"test@-test.com", false},
		{"test@test-.com", false},
		{"test@test_1.com", false},
		{"test@[127.0.0.1]", false},
		{"test@127.0.0.1", false},
		{"Test <test@test.com>", false},
		{"test@test.com (comment)", false},
		{`"a b"@test.com`, false},
		{" test@test.com", false},
		{"te st@test.com", false},
		{strings.Repeat("a", 65) + "@test.com", false},
		{long, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.valid, user.ValidEmail(tt.email), "ValidEmail(%q)", tt.email)
	}
}

func TestValidPassword_CountsCharactersNotBytes(t *testing.T) {
	tests := []struct {
		password string
		valid    bool
	}{
		{"", false},
		{"abc", false},
		{"abcd", true},
		{strings.Repeat("x", 30), true},
		{strings.Repeat("x", 31), false},
		{"äöüß", true},
		{strings.Repeat("ä", 30), true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.valid, user.ValidPassword(tt.password), "ValidPassword(%q)", tt.password)
	}
}

func TestNormalize(t *testing.T) {
	assert.Equal(t, "jo@example.com", user.NormalizeEmail("  Jo@Example.COM\t"))
	assert.Equal(t, "pass word", user.NormalizePassword("  pass word \n"))
}
