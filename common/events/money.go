package events

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// Money is an amount in whole US cents. On the wire it is a JSON number of
// dollars, as the original app sends prices; it is parsed and printed in
// decimal so that no amount ever passes through floating point.
type Money int64

// Price limits, in cents.
const (
	// MaxPrice is the highest price a ticket may have: one million dollars.
	MaxPrice Money = 1_000_000_00
)

// ErrMoneyFormat is returned for amounts that are not a number of dollars
// with at most two decimal places, or are too large to hold.
var ErrMoneyFormat = errors.New("amount must be a number of dollars with at most 2 decimal places")

// Cents returns m as a number of cents, the unit Stripe charges in.
func (m Money) Cents() int64 { return int64(m) }

// String formats m as JSON.stringify would write the dollar amount:
// 1099 → "10.99", 1050 → "10.5", 1000 → "10".
func (m Money) String() string {
	neg := m < 0
	// The magnitude in uint64, where the most negative int64 has one too.
	c := uint64(m)
	if neg {
		c = -c
	}
	s := strconv.FormatUint(c/100, 10)
	if frac := c % 100; frac != 0 {
		f := strconv.FormatUint(100+frac, 10)[1:] // two digits, zero padded
		s += "." + strings.TrimRight(f, "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// MarshalJSON implements json.Marshaler.
func (m Money) MarshalJSON() ([]byte, error) {
	return []byte(m.String()), nil
}

// UnmarshalJSON accepts a JSON number, or a string holding one as the
// original client sends form input, and requires it to be a whole number of
// cents.
func (m *Money) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = bytes.TrimSpace(b[1 : len(b)-1])
	}
	v, err := ParseMoney(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParseMoney parses a decimal number of dollars, such as "10", "10.5",
// "10.99" or "1.099e1", into cents. It fails for anything with a fraction of
// a cent and for magnitudes above a trillion dollars.
func ParseMoney(s string) (Money, error) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		// One sign at most, then digits: Atoi alone would read "1e++5" and
		// "1e+-5".
		text := s[i+1:]
		digs := text
		if digs != "" && (digs[0] == '+' || digs[0] == '-') {
			digs = digs[1:]
		}
		e, err := strconv.Atoi(strings.TrimPrefix(text, "+"))
		if err != nil || digs == "" || !digits(digs) || e < -20 || e > 20 {
			return 0, ErrMoneyFormat
		}
		mant, exp = s[:i], e
	}
	intPart, fracPart, hasDot := strings.Cut(mant, ".")
	if intPart == "" || !digits(intPart) || (hasDot && (fracPart == "" || !digits(fracPart))) {
		return 0, ErrMoneyFormat
	}
	// The amount is all/10^(len(frac)-exp) dollars; we want it times 100.
	all := strings.TrimLeft(intPart+fracPart, "0")
	shift := exp + 2 - len(fracPart)
	if shift < 0 {
		// Dropping digits is only exact when they are zeros.
		cut := len(all) + shift
		if cut < 0 {
			cut = 0
		}
		if strings.Trim(all[cut:], "0") != "" {
			return 0, ErrMoneyFormat
		}
		all = all[:cut]
	} else {
		if all != "" {
			all += strings.Repeat("0", shift)
		}
	}
	if all == "" {
		return 0, nil
	}
	if len(all) > 16 { // over a trillion dollars: refuse before it can overflow
		return 0, ErrMoneyFormat
	}
	c, err := strconv.ParseInt(all, 10, 64)
	if err != nil {
		return 0, ErrMoneyFormat
	}
	if neg {
		c = -c
	}
	return Money(c), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
