package events

import (
	"fmt"
	"time"
)

// jsTime is the layout of JavaScript's Date.prototype.toISOString.
const jsTime = "2006-01-02T15:04:05.000Z07:00"

// Time is a point in time that travels as JavaScript's toISOString writes
// it: RFC 3339 in UTC with exactly three fractional digits.
type Time struct {
	time.Time
}

// NewTime truncates t to milliseconds, the precision the wire keeps.
func NewTime(t time.Time) Time {
	return Time{t.UTC().Truncate(time.Millisecond)}
}

// String formats t as toISOString does.
func (t Time) String() string {
	return t.UTC().Format(jsTime)
}

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.String() + `"`), nil
}

// UnmarshalJSON accepts any RFC 3339 time.
func (t *Time) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("time must be an RFC 3339 string")
	}
	parsed, err := time.Parse(time.RFC3339Nano, string(b[1:len(b)-1]))
	if err != nil {
		return fmt.Errorf("time must be an RFC 3339 string: %w", err)
	}
	*t = NewTime(parsed)
	return nil
}
