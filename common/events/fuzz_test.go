package events_test

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"ticketing.dev/common/events"
)

var (
	// decimal is the grammar ParseMoney reads: JSON's numbers, leading
	// zeros allowed.
	decimal = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][+-]?([0-9]+))?$`)
	// written is what Money.String writes: JSON numbers with at most two
	// decimals and no trailing zero after the point.
	written = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]?[1-9])?$`)
	// maxCents bounds what ParseMoney accepts: 16 digits of cents.
	maxCents = big.NewInt(10_000_000_000_000_000)
	hundred  = big.NewRat(100, 1)
)

// exactCents returns the exact value of the decimal s in cents, and whether
// it is a whole number of cents. It uses big.Rat, another implementation
// than ParseMoney's.
func exactCents(s string) (*big.Int, bool) {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, false
	}
	r.Mul(r, hundred)
	if !r.IsInt() {
		return nil, false
	}
	return r.Num(), true
}

// FuzzParseMoney checks ParseMoney against big.Rat: what it accepts is
// written in its grammar and is exactly the amount it returns, in whole
// cents (so never a third decimal that is not zero); what it refuses is
// refused with ErrMoneyFormat, and is either malformed, a fraction of a
// cent, too large, or out of its exponent range. Accepted amounts print and
// parse back to themselves.
func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{
		"10", "10.99", "10.5", "10.50", "10.990", "0.01", "0", "-0", "-5.25", "1.099e1", "1E2", "1e+2", "1000000",
		"0.0100", "12345678901234.56", "9999999999999999e-2", "1e-2", "100e-4",
		"10.999", "0.001", "", ".5", "5.", "abc", "1e", "1e-3", "1.2.3", "0x10", "1e400", "1e++5", "1e+-5",
		"99999999999999999", "+5", "--1", "NaN", "Infinity", "1_000", "１０", "\x00", "1e9999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := events.ParseMoney(s)
		if err != nil {
			if !errors.Is(err, events.ErrMoneyFormat) {
				t.Fatalf("ParseMoney(%q): %v, not ErrMoneyFormat", s, err)
			}
			if m != 0 {
				t.Fatalf("ParseMoney(%q) refused but returned %d", s, m)
			}
			assertRightlyRefused(t, s)
			return
		}
		if !decimal.MatchString(s) {
			t.Fatalf("ParseMoney accepted %q, which is not a decimal number", s)
		}
		want, whole := exactCents(s)
		if !whole {
			t.Fatalf("ParseMoney(%q) = %d cents, but the amount is not a whole number of cents", s, m)
		}
		if want.Cmp(big.NewInt(int64(m))) != 0 {
			t.Fatalf("ParseMoney(%q) = %d cents, want %s", s, m, want)
		}
		assertRoundTrips(t, m)
	})
}

// assertRightlyRefused fails unless a refused s is malformed, a fraction of
// a cent, too large, or has an exponent out of ParseMoney's range.
func assertRightlyRefused(t *testing.T, s string) {
	t.Helper()
	sub := decimal.FindStringSubmatch(s)
	if sub == nil {
		return
	}
	if exp := strings.TrimLeft(sub[3], "0"); len(exp) > 2 || len(exp) == 2 && exp > "20" {
		return // an exponent beyond ParseMoney's ±20
	}
	cents, whole := exactCents(s)
	if !whole {
		return
	}
	if new(big.Int).Abs(cents).Cmp(maxCents) >= 0 {
		return
	}
	t.Fatalf("ParseMoney refused %q, which is exactly %s cents", s, cents)
}

// assertRoundTrips checks that m prints as a JSON number with at most two
// decimals that is exactly m, and parses back to m, as text and as JSON.
func assertRoundTrips(t *testing.T, m events.Money) {
	t.Helper()
	s := m.String()
	if !written.MatchString(s) || !json.Valid([]byte(s)) {
		t.Fatalf("Money(%d) prints as %q", int64(m), s)
	}
	if cents, _ := exactCents(s); cents == nil || cents.Cmp(big.NewInt(int64(m))) != 0 {
		t.Fatalf("Money(%d) prints as %q, another amount", int64(m), s)
	}
	back, err := events.ParseMoney(s)
	if err != nil || back != m {
		t.Fatalf("Money(%d) prints as %q, which parses back as %d, %v", int64(m), s, back, err)
	}
	b, err := json.Marshal(struct{ P events.Money }{m})
	if err != nil {
		t.Fatalf("marshal Money(%d): %v", int64(m), err)
	}
	var v struct{ P events.Money }
	if err := json.Unmarshal(b, &v); err != nil || v.P != m {
		t.Fatalf("Money(%d) as JSON %s reads back as %d, %v", int64(m), b, v.P, err)
	}
}

// FuzzMoneyString checks that every amount prints as a JSON number of
// dollars with at most two decimals that is exactly the amount, and that
// every amount ParseMoney can hold (under 10^16 cents) parses back.
func FuzzMoneyString(f *testing.F) {
	for _, c := range []int64{0, 1, -1, 5, 10, 99, 100, 101, 1099, 1050, 100_000_000, 9_999_999_999_999_999, 10_000_000_000_000_000, math.MaxInt64, math.MinInt64, math.MinInt64 + 1} {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, c int64) {
		m := events.Money(c)
		s := m.String()
		if !written.MatchString(s) || !json.Valid([]byte(s)) {
			t.Fatalf("Money(%d) prints as %q", c, s)
		}
		if cents, _ := exactCents(s); cents == nil || cents.Cmp(big.NewInt(c)) != 0 {
			t.Fatalf("Money(%d) prints as %q, another amount", c, s)
		}
		if new(big.Int).Abs(big.NewInt(c)).Cmp(maxCents) < 0 {
			assertRoundTrips(t, m)
			return
		}
		if _, err := events.ParseMoney(s); !errors.Is(err, events.ErrMoneyFormat) {
			t.Fatalf("ParseMoney(%q) of an amount too large to hold: %v", s, err)
		}
	})
}

// FuzzMoneyUnmarshalJSON decodes arbitrary JSON into Money, as events and
// request bodies are decoded: it either fails or yields the exact amount of
// the number (or of the number in the string), which then round-trips.
func FuzzMoneyUnmarshalJSON(f *testing.F) {
	for _, s := range []string{
		`10.99`, `"10.99"`, `" 10.5 "`, `null`, `0`, `-1`, `1e2`, `10.999`, `"ten"`, `true`, `{"$gt":0}`, `[1]`,
		`""`, `"\u0031\u0030"`, `"1e++5"`, `1e400`, `99999999999999999`, `"` + strings.Repeat("9", 40) + `"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := events.Money(7) // a value that null must leave alone
		err := json.Unmarshal(b, &m)
		if err != nil {
			return
		}
		text := strings.TrimSpace(string(b))
		switch {
		case text == "null":
			if m != 7 {
				t.Fatalf("null changed the amount to %d", m)
			}
			return
		case strings.HasPrefix(text, `"`):
			var inner string
			if err := json.Unmarshal(b, &inner); err != nil {
				t.Fatalf("accepted %q, not a JSON string", b)
			}
			text = strings.TrimSpace(inner)
		}
		if !decimal.MatchString(text) {
			t.Fatalf("accepted %q, whose amount %q is not a decimal number", b, text)
		}
		if cents, whole := exactCents(text); !whole || cents.Cmp(big.NewInt(int64(m))) != 0 {
			t.Fatalf("read %q as %d cents, want %v", b, m, cents)
		}
		assertRoundTrips(t, m)
	})
}
