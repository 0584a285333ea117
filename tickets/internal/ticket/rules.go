package ticket

import (
	"strings"
	"unicode/utf8"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/events"
)

// Messages of the rules a new or edited ticket must follow.
const (
	MsgTitleRequired = "Title is required"
	MsgTitleTooLong  = "Title must be at most 200 characters"
	MsgPricePositive = "Price must be greater than zero"
	MsgPriceTooHigh  = "Price must be at most 1000000"
	MsgPriceCents    = "Price must have at most 2 decimal places"
)

// MaxTitleLen bounds a title, in characters. Without a bound one listing
// could carry a title near the 1 MiB body limit, whose ticket:created,
// with JSON's escapes (up to six bytes a character), would exceed what NATS
// accepts in one message and stall the outbox relay behind it.
const MaxTitleLen = 200

// NormalizeTitle trims the spaces around a title, so that a title of
// spaces alone counts as missing.
func NormalizeTitle(title string) string { return strings.TrimSpace(title) }

// CheckTitle returns the message of the rule a normalized title breaks, or "".
func CheckTitle(title string) string {
	switch {
	case title == "":
		return MsgTitleRequired
	case utf8.RuneCountInString(title) > MaxTitleLen:
		return MsgTitleTooLong
	}
	return ""
}

// CheckPrice returns the message of the rule price breaks, or "".
// Fractions of a cent cannot reach it: events.Money holds whole cents.
func CheckPrice(price events.Money) string {
	switch {
	case price <= 0:
		return MsgPricePositive
	case price > events.MaxPrice:
		return MsgPriceTooHigh
	}
	return ""
}

// Validate checks a normalized title and a price, reporting every broken
// rule as a field of an *errs.ValidationError.
func Validate(title string, price events.Money) error {
	var fields []errs.FieldError
	if msg := CheckTitle(title); msg != "" {
		fields = append(fields, errs.FieldError{Field: "title", Message: msg})
	}
	if msg := CheckPrice(price); msg != "" {
		fields = append(fields, errs.FieldError{Field: "price", Message: msg})
	}
	if fields != nil {
		return &errs.ValidationError{Fields: fields}
	}
	return nil
}
