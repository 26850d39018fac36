package mail

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Locales the default templates are written in. Anything else falls back to
// DefaultLocale.
const (
	LocaleEN      = "en"
	LocaleFR      = "fr"
	DefaultLocale = LocaleEN
)

var supportedLocales = []string{LocaleEN, LocaleFR}

// PickLocale chooses the language of an email: the customer's locale when we
// write in it, else the shop's, else English. Locales are compared on their
// language ("fr-CA" is "fr").
func PickLocale(customer, shop string) string {
	for _, l := range []string{customer, shop} {
		if lang := language(l); lang != "" {
			return lang
		}
	}
	return DefaultLocale
}

func language(l string) string {
	l = strings.ToLower(strings.TrimSpace(l))
	if i := strings.IndexAny(l, "-_"); i >= 0 {
		l = l[:i]
	}
	for _, s := range supportedLocales {
		if l == s {
			return s
		}
	}
	return ""
}

// Money is an amount in one currency as Shopify sends it: a decimal string
// ("1234.5") and an ISO 4217 code. Amounts stay decimal text so nothing is
// lost to floating point between the webhook and the email.
type Money struct {
	Amount   string
	Currency string
}

// IsZero reports whether the money carries no amount.
func (m Money) IsZero() bool {
	a := strings.TrimSpace(m.Amount)
	if c, ok := parseCents(a); ok {
		return c == 0
	}
	r, ok := new(big.Rat).SetString(a)
	return !ok || r.Sign() == 0
}

// currencySymbols are the prefixes shoppers recognise; other currencies show
// their ISO code.
var currencySymbols = map[string]string{
	"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$",
	"NZD": "NZ$", "CHF": "CHF", "SEK": "kr", "DKK": "kr", "NOK": "kr", "INR": "₹",
}

// zeroDecimalCurrencies have no minor unit.
var zeroDecimalCurrencies = map[string]bool{"JPY": true, "KRW": true, "CLP": true, "ISK": true, "VND": true}

// Format writes the amount the way a shopper of locale reads it: "€1,234.50"
// in English, "1 234,50 €" in French. An unparsable amount is shown as is.
func (m Money) Format(locale string) string {
	cur := strings.ToUpper(strings.TrimSpace(m.Currency))
	digits := 2
	if zeroDecimalCurrencies[cur] {
		digits = 0
	}
	var s string
	if c, ok := parseCents(strings.TrimSpace(m.Amount)); ok && digits == 2 {
		// The common case ("59.00"), exactly as big.Rat would write it.
		s = formatCents(c)
	} else {
		r, ok := new(big.Rat).SetString(strings.TrimSpace(m.Amount))
		if !ok {
			return strings.TrimSpace(strings.TrimSpace(m.Amount) + " " + cur)
		}
		s = r.FloatString(digits)
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	// Whole amounts read better without ",00" (a "€20 voucher").
	if strings.Trim(frac, "0") == "" {
		frac = ""
	}
	sym, known := currencySymbols[cur]
	if !known {
		sym = cur
	}
	var out string
	if language(locale) == LocaleFR {
		out = group(intPart, "\u202f")
		if frac != "" {
			out += "," + frac
		}
		if sym != "" {
			out += "\u00a0" + sym
		}
	} else {
		out = group(intPart, ",")
		if frac != "" {
			out += "." + frac
		}
		switch {
		case sym == "":
		case known && len([]rune(sym)) <= 3 && sym != "CHF" && sym != "kr":
			out = sym + out
		default:
			out = sym + "\u00a0" + out
		}
	}
	if neg {
		out = "-" + out
	}
	return out
}

// parseCents reads a plain non-negative decimal with at most two decimals
// and 15 integer digits ("59", "59.5", "059.00") as hundredths; anything
// else (signs, exponents, more decimals) is left to math/big.
func parseCents(s string) (int64, bool) {
	intPart, frac, dot := strings.Cut(s, ".")
	if len(intPart) == 0 || len(intPart) > 15 || len(frac) > 2 || (dot && len(frac) == 0) {
		return 0, false
	}
	var c int64
	for i := 0; i < len(intPart); i++ {
		d := intPart[i]
		if d < '0' || d > '9' {
			return 0, false
		}
		c = c*10 + int64(d-'0')
	}
	for i := 0; i < 2; i++ {
		c *= 10
		if i < len(frac) {
			d := frac[i]
			if d < '0' || d > '9' {
				return 0, false
			}
			c += int64(d - '0')
		}
	}
	return c, true
}

// formatCents writes hundredths as big.Rat's FloatString(2) does.
func formatCents(c int64) string {
	f := c % 100
	return strconv.FormatInt(c/100, 10) + "." + string(rune('0'+f/10)) + string(rune('0'+f%10))
}

func group(digits, sep string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	pre := len(digits) % 3
	if pre > 0 {
		b.WriteString(digits[:pre])
	}
	for i := pre; i < len(digits); i += 3 {
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}

var (
	enMonths = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	frMonths = []string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}
	enDays   = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	frDays   = []string{"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"}
)

// formatDateTime writes a deadline the way people say it, in the shop's time
// zone: "Friday, September 12 at 6:00 PM", "vendredi 12 septembre à 18h00".
func formatDateTime(t time.Time, loc *time.Location, locale string) string {
	if t.IsZero() {
		return ""
	}
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	if language(locale) == LocaleFR {
		return fmt.Sprintf("%s %d %s à %dh%02d", frDays[t.Weekday()], t.Day(), frMonths[t.Month()-1], t.Hour(), t.Minute())
	}
	return fmt.Sprintf("%s, %s %d at %s", enDays[t.Weekday()], enMonths[t.Month()-1], t.Day(), t.Format("3:04 PM"))
}
