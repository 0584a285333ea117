package pages

import (
	"html/template"
	"strconv"
	"strings"

	"ticketing.dev/common/events"
)

// funcs are the templates' helpers.
func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"price": price,
		"asset": s.asset,
	}
}

// price formats an amount of cents in dollars with two decimals and
// thousands separators, $1,234.50, in integers only.
func price(m events.Money) string {
	c := m.Cents()
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return sign + "$" + group(c/100) + "." + strconv.FormatInt(100+c%100, 10)[1:]
}

// priceInput formats an amount as a price field holds it: 1234.50.
func priceInput(m events.Money) string {
	c := m.Cents()
	return strconv.FormatInt(c/100, 10) + "." + strconv.FormatInt(100+c%100, 10)[1:]
}

// group writes n with a comma between each group of three digits.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, d := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String()
}
