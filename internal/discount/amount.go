package discount

import (
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// amountScale is how many fractional digits an Amount keeps: four covers
// every ISO 4217 currency (most have two, a few three, CLF four).
const (
	amountScale  = 4
	amountFactor = 10000
)

// maxAmountUnits bounds the integer part so the fixed-point value and the
// numeric(20,4) columns never overflow.
const maxAmountUnits = 1_000_000_000_000

// ErrBadAmount is a malformed decimal amount.
var ErrBadAmount = errors.New("discount: malformed amount")

// Amount is an exact decimal amount of money in ten-thousandths of the
// currency's unit. It never goes through a float: it is parsed from and
// written as a decimal string ("49.90"), in JSON and in SQL.
type Amount struct{ e4 int64 }

// ParseAmount reads a decimal such as "49.9", "1000" or "-3.25" (at most
// four fractional digits; no exponent, no thousands separators). Negative
// values parse so validation can name them; "" is zero.
func ParseAmount(s string) (Amount, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Amount{}, nil
	}
	neg := false
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && (!hasDot || frac == "") {
		return Amount{}, fmt.Errorf("%w: %q", ErrBadAmount, s)
	}
	if len(frac) > amountScale {
		return Amount{}, fmt.Errorf("%w: more than %d decimal places", ErrBadAmount, amountScale)
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return Amount{}, fmt.Errorf("%w: %q", ErrBadAmount, s)
			}
		}
	}
	var w int64
	if whole != "" {
		trimmed := strings.TrimLeft(whole, "0")
		if len(trimmed) > 13 {
			return Amount{}, fmt.Errorf("%w: too large", ErrBadAmount)
		}
		if trimmed != "" {
			n, err := strconv.ParseInt(trimmed, 10, 64)
			if err != nil {
				return Amount{}, fmt.Errorf("%w: %q", ErrBadAmount, s)
			}
			w = n
		}
	}
	if w >= maxAmountUnits {
		return Amount{}, fmt.Errorf("%w: too large", ErrBadAmount)
	}
	var f int64
	if frac != "" {
		n, err := strconv.ParseInt(frac+strings.Repeat("0", amountScale-len(frac)), 10, 64)
		if err != nil {
			return Amount{}, fmt.Errorf("%w: %q", ErrBadAmount, s)
		}
		f = n
	}
	v := w*amountFactor + f
	if neg {
		v = -v
	}
	return Amount{e4: v}, nil
}

// MustAmount is ParseAmount for constants; it panics on a malformed value.
func MustAmount(s string) Amount {
	a, err := ParseAmount(s)
	if err != nil {
		panic(err)
	}
	return a
}

// Units returns the amount as whole units plus ten-thousandths, for
// callers that need integers (e.g. cents: Units()*100 + frac/100).
func (a Amount) Units() (whole, tenThousandths int64) {
	return a.e4 / amountFactor, a.e4 % amountFactor
}

// IsZero reports whether the amount is zero.
func (a Amount) IsZero() bool { return a.e4 == 0 }

// Negative reports whether the amount is below zero.
func (a Amount) Negative() bool { return a.e4 < 0 }

// Cmp compares a and b: -1, 0 or +1.
func (a Amount) Cmp(b Amount) int {
	switch {
	case a.e4 < b.e4:
		return -1
	case a.e4 > b.e4:
		return 1
	}
	return 0
}

// String writes the amount with at least two decimals ("10.00", "10.125").
func (a Amount) String() string {
	v := a.e4
	sign := ""
	if v < 0 {
		sign = "-"
		if v == math.MinInt64 {
			return "-overflow"
		}
		v = -v
	}
	frac := fmt.Sprintf("%04d", v%amountFactor)
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return sign + strconv.FormatInt(v/amountFactor, 10) + "." + frac
}

// MarshalJSON writes the amount as a JSON string.
func (a Amount) MarshalJSON() ([]byte, error) {
	return json.Marshal(a.String())
}

// UnmarshalJSON accepts a decimal string or a JSON number, read as text
// (never through a float).
func (a *Amount) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*a = Amount{}
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	} else if strings.ContainsAny(s, "eE") {
		return fmt.Errorf("%w: exponent notation", ErrBadAmount)
	}
	v, err := ParseAmount(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Value stores the amount in a numeric column.
func (a Amount) Value() (driver.Value, error) { return a.String(), nil }

// Scan reads a numeric column (text from the driver).
func (a *Amount) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*a = Amount{}
		return nil
	case string:
		x, err := ParseAmount(v)
		*a = x
		return err
	case []byte:
		x, err := ParseAmount(string(v))
		*a = x
		return err
	case int64:
		if v >= maxAmountUnits || v <= -maxAmountUnits {
			return fmt.Errorf("%w: too large", ErrBadAmount)
		}
		*a = Amount{e4: v * amountFactor}
		return nil
	}
	return fmt.Errorf("discount: cannot scan %T into an amount", src)
}
