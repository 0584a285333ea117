package webtest

import (
	"net/url"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/web"
)

// BadPage is a listing query that must be refused with a 400 whose errors
// are Want.
type BadPage struct {
	Query string
	Want  []errs.Detail
}

// BadPageQueries returns the limit and cursor values a paged listing must
// refuse (web.ParsePage), with the errors that name them.
func BadPageQueries() []BadPage {
	limit := errs.Detail{Message: web.MsgPageLimit, Field: "limit"}
	cursor := errs.Detail{Message: web.MsgPageCursor, Field: "cursor"}
	id := "507f1f77bcf86cd799439011"
	var bad []BadPage
	for _, q := range []string{
		"limit=0", "limit=-1", "limit=1001", "limit=", "limit", "limit=abc",
		"limit=%2B5", // +5
		"limit=+5",   // a space, as a query writes one
		"limit=5%20", "limit=1e2", "limit=3.0", "limit=0x10", "limit=99999999999999999999999",
		"limit=%7B%22%24gt%22%3A0%7D", "limit=x&limit=5",
	} {
		bad = append(bad, BadPage{q, []errs.Detail{limit}})
	}
	for _, q := range []string{
		"limit=3&cursor=", "cursor=", "cursor=" + id[:23], "cursor=" + id + "0",
		"cursor=zzzzzzzzzzzzzzzzzzzzzzzz", "cursor=%7B%22%24gt%22%3A%22%22%7D",
		"limit=2&cursor=" + url.QueryEscape(id+"\x00"),
	} {
		bad = append(bad, BadPage{q, []errs.Detail{cursor}})
	}
	return append(bad, BadPage{"limit=0&cursor=nope", []errs.Detail{limit, cursor}})
}
