package httpapi

import (
	"bytes"
	"encoding/json"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"ticketing.dev/common/events"
	"ticketing.dev/common/web/webtest"
	"ticketing.dev/tickets/internal/ticket"
)

var ticketFields = []webtest.Field{
	{Name: "title", Valid: `"concert"`},
	{Name: "price", Valid: `10.99`},
}

// FuzzDecodeTicket checks the body of creating and of editing a ticket: it
// is either refused with a client error naming only title and price, or
// yields the body's own title, trimmed, within the title rules, and a price
// in whole cents that is exactly the body's amount and within the price
// rules.
func FuzzDecodeTicket(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"title":"concert","price":10.99}`, `{"title":"  concert ","price":"20.05"}`,
		`{"title":"concert","price":1000000}`, `{"title":"concert","price":1000000.01}`,
		`{"title":"concert","price":10.999}`, `{"title":"concert","price":1.099e1}`, `{"title":"concert","price":0}`,
		`{"title":"concert","price":-1}`, `{"title":"concert","price":"1e++5"}`, `{"title":"concert","price":" 10 "}`,
		`{"title":"` + strings.Repeat("é", ticket.MaxTitleLen) + `","price":1}`,
		`{"title":"` + strings.Repeat("<", ticket.MaxTitleLen+1) + `","price":1}`,
		`{"Title":"concert","PRICE":5}`,
	} {
		f.Add([]byte(s))
	}
	// Large seeds would make the fuzzer spend its time minimizing.
	for _, b := range webtest.HostileBodies(ticketFields) {
		if len(b.Body) <= 2<<10 {
			f.Add([]byte(b.Body))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w, r := webtest.Post(body)
		title, price, err := decodeTicket(w, r)
		if err != nil {
			webtest.CheckRefusal(t, body, err, "title", "price")
			return
		}
		webtest.CheckAcceptedShape(t, body)
		var raw ticketRequest
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
		}
		if title != ticket.NormalizeTitle(raw.Title) || ticket.CheckTitle(title) != "" {
			t.Fatalf("accepted %q with title %q", body, title)
		}
		cents, ok := priceCents(raw.Price)
		if !ok || cents.Cmp(big.NewInt(price.Cents())) != 0 {
			t.Fatalf("read price %s as %d cents, want %v", raw.Price, price, cents)
		}
		if ticket.CheckPrice(price) != "" {
			t.Fatalf("accepted price %s", raw.Price)
		}
	})
}

// FuzzParsePrice checks parsePrice against big.Rat: an accepted price is
// exactly the amount sent, in whole cents, above zero and at most a million
// dollars; a refused one is refused with a price message, and a number that
// is a whole number of cents in that range is never refused.
func FuzzParsePrice(f *testing.F) {
	for _, s := range []string{
		`10.99`, `"10.99"`, `" 10.5 "`, `10`, `0.01`, `1.099e1`, `1000000`, ``, `null`, `0`, `-10`, `-10.999`, `"-5"`,
		`""`, `"ten"`, `"NaN"`, `"Infinity"`, `"0x10"`, `true`, `{"$gt":0}`, `[10]`, `1e-400`, `10.999`, `"10.999"`,
		`0.001`, `1000000.01`, `99999999999999999999`, `1e400`, `"1e++5"`, `1e+2`, `100e-2`, `"\u0031"`,
		`0.000000000000000000001e21`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		price, msg := parsePrice(raw)
		switch msg {
		case "":
		case ticket.MsgPricePositive, ticket.MsgPriceTooHigh, ticket.MsgPriceCents:
			if price != 0 {
				t.Fatalf("refused %q (%s) but returned %d", raw, msg, price)
			}
			assertPriceRightlyRefused(t, raw, msg)
			return
		default:
			t.Fatalf("refused %q with %q", raw, msg)
		}
		cents, ok := priceCents(raw)
		if !ok || cents.Cmp(big.NewInt(price.Cents())) != 0 {
			t.Fatalf("read price %q as %d cents, want %v", raw, price, cents)
		}
		if price <= 0 || price > events.MaxPrice {
			t.Fatalf("accepted price %q as %d cents", raw, price)
		}
	})
}

// jsonNumber is a JSON number, with the exponent as its last group.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?([0-9]+))?$`)

// priceText returns the number a raw price holds, as JSON or in a JSON
// string, trimmed as the original client's form input is.
func priceText(raw []byte) (string, bool) {
	raw = bytes.TrimSpace(raw)
	var s string
	if len(raw) > 0 && raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		s = strings.TrimSpace(s)
	} else {
		s = string(raw)
	}
	return s, jsonNumber.MatchString(s)
}

// priceCents returns the exact amount of a raw price in cents, when it is a
// number and a whole number of cents.
func priceCents(raw []byte) (*big.Int, bool) {
	s, ok := priceText(raw)
	if !ok {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, false
	}
	r.Mul(r, big.NewRat(100, 1))
	if !r.IsInt() {
		return nil, false
	}
	return r.Num(), true
}

// assertPriceRightlyRefused fails unless a refused price is not a number,
// is not above zero, is more than a million dollars, is not a whole number
// of cents, or has an exponent beyond ParseMoney's ±20; and unless a price
// that is not above zero got that message.
func assertPriceRightlyRefused(t *testing.T, raw []byte, msg string) {
	t.Helper()
	s, ok := priceText(raw)
	if !ok {
		if msg != ticket.MsgPricePositive {
			t.Fatalf("refused %q, not a number, with %q", raw, msg)
		}
		return
	}
	sub := jsonNumber.FindStringSubmatch(s)
	if strings.HasPrefix(s, "-") || strings.Trim(sub[1]+sub[2], "0.") == "" {
		if msg != ticket.MsgPricePositive {
			t.Fatalf("refused %q, not above zero, with %q", raw, msg)
		}
		return
	}
	// Checked before big.Rat reads s, which 1e99999999 would take ages to.
	if exp := strings.TrimLeft(sub[4], "0"); len(exp) > 2 || len(exp) == 2 && exp > "20" {
		return
	}
	r, _ := new(big.Rat).SetString(s)
	cents := new(big.Rat).Mul(r, big.NewRat(100, 1))
	if !cents.IsInt() || cents.Num().Cmp(big.NewInt(events.MaxPrice.Cents())) > 0 {
		return
	}
	t.Fatalf("refused %q, exactly %s cents, with %q", raw, cents.Num(), msg)
}
