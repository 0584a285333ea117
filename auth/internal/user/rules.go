package user

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what a user may register.
const (
	// MaxEmailLen is the longest address SMTP can carry (RFC 5321 path limit
	// less the angle brackets).
	MaxEmailLen = 254
	// MinPasswordLen and MaxPasswordLen bound a password, counted in
	// characters after trimming, as the original app did.
	MinPasswordLen = 4
	MaxPasswordLen = 30
)

// NormalizeEmail trims surrounding white space and lower-cases the email.
// Every email is normalized before it is validated, stored or looked up, so
// "Jo@Example.com " and "jo@example.com" are one user. Lower-casing the local
// part is not what RFC 5321 promises, but it is what every mail provider a
// user will type does, and it stops one person from registering twice.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// NormalizePassword trims surrounding white space from the password, as the
// original app's express-validator trim() sanitizer did before validating
// and hashing. Users of the original who typed a padded password were stored
// without the padding, so keeping the behaviour keeps their passwords valid.
func NormalizePassword(password string) string {
	return strings.TrimSpace(password)
}

// ValidEmail reports whether email, already normalized, is an address a
// user can be registered under: a bare addr-spec that net/mail accepts and
// would write back unchanged (so no display names, comments, quoting or
// surrounding space), at most MaxEmailLen bytes, with a local part of at
// most 64 bytes and a domain of at least two dot-separated labels made of
// letters, digits and inner hyphens. That refuses domain literals such as
// "[127.0.0.1]" and dotless hosts such as "localhost", which no user of a
// public site has, and accepts internationalized addresses.
func ValidEmail(email string) bool {
	if email == "" || len(email) > MaxEmailLen {
		return false
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return false
	}
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at > 64 {
		return false
	}
	return validDomain(email[at+1:])
}

func validDomain(domain string) bool {
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' {
				return false
			}
		}
	}
	// An all-digit top-level label is an IP address, not a domain.
	tld := labels[len(labels)-1]
	return strings.IndexFunc(tld, func(r rune) bool { return !unicode.IsDigit(r) }) >= 0
}

// ValidPassword reports whether password, already normalized, has between
// MinPasswordLen and MaxPasswordLen characters.
func ValidPassword(password string) bool {
	n := utf8.RuneCountInString(password)
	return n >= MinPasswordLen && n <= MaxPasswordLen
}
