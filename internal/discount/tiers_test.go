package discount

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func amt(s string) Amount   { return MustAmount(s) }
func amtp(s string) *Amount { a := MustAmount(s); return &a }

func TestParseAmount(t *testing.T) {
	for _, c := range []struct {
		in, out string
		err     bool
	}{
		{"0", "0.00", false}, {"", "0.00", false}, {"49.9", "49.90", false}, {"1000", "1000.00", false},
		{"0.125", "0.125", false}, {"-3.25", "-3.25", false}, {".5", "0.50", false}, {"5.", "5.00", false},
		{"12.34567", "", true}, {"1e3", "", true}, {"1,5", "", true}, {"abc", "", true}, {".", "", true},
		{"-", "", true}, {"99999999999999", "", true}, {"999999999999.9999", "999999999999.9999", false},
	} {
		a, err := ParseAmount(c.in)
		if c.err {
			require.Error(t, err, c.in)
			require.ErrorIs(t, err, ErrBadAmount, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		require.Equal(t, c.out, a.String(), c.in)
	}
	// JSON: strings and numbers are read as text, written as strings.
	var x struct {
		A Amount `json:"a"`
		B Amount `json:"b"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"a":"19.99","b":0.1}`), &x))
	require.Equal(t, "19.99", x.A.String())
	require.Equal(t, "0.10", x.B.String())
	require.Error(t, json.Unmarshal([]byte(`{"a":1e2}`), &x))
	out, err := json.Marshal(x)
	require.NoError(t, err)
	require.JSONEq(t, `{"a":"19.99","b":"0.10"}`, string(out))
}

func TestValidate(t *testing.T) {
	ok := Table{Tiers: []Tier{
		{From: amt("0"), To: amtp("50"), Kind: KindFreeShipping},
		{From: amt("50"), To: amtp("100"), Kind: KindPercentage, Percent: 10},
		{From: amt("100"), Kind: KindFixedAmount, Amount: amt("15"), Minimum: amt("100")},
	}, ExpiryHours: 48}
	require.NoError(t, ok.Validate())
	require.NoError(t, DefaultTable().Validate())

	for _, c := range []struct {
		name   string
		change func(t *Table)
		fields []string
	}{
		{"no tiers", func(t *Table) { t.Tiers = nil }, []string{"tiers"}},
		{"overlap", func(t *Table) { t.Tiers[1].From = amt("40") }, []string{"tiers[1].from"}},
		{"open range overlaps", func(t *Table) { t.Tiers[1].To = nil }, []string{"tiers[2].from"}},
		{"to below from", func(t *Table) { t.Tiers[0].To = amtp("0") }, []string{"tiers[0].to"}},
		{"percent 0", func(t *Table) { t.Tiers[1].Percent = 0 }, []string{"tiers[1].percent"}},
		{"percent 101", func(t *Table) { t.Tiers[1].Percent = 101 }, []string{"tiers[1].percent"}},
		{"negative amount", func(t *Table) { t.Tiers[2].Amount = amt("-5") }, []string{"tiers[2].amount"}},
		{"zero amount", func(t *Table) { t.Tiers[2].Amount = amt("0") }, []string{"tiers[2].amount"}},
		{"amount eats the cart", func(t *Table) { t.Tiers[2].Amount = amt("100"); t.Tiers[2].Minimum = Amount{} }, []string{"tiers[2].amount"}},
		{"negative minimum", func(t *Table) { t.Tiers[0].Minimum = amt("-1") }, []string{"tiers[0].minimum"}},
		{"negative from", func(t *Table) { t.Tiers[0].From = amt("-1") }, []string{"tiers[0].from"}},
		{"expiry too long", func(t *Table) { t.ExpiryHours = MaxExpiryHours + 1 }, []string{"expiry_hours"}},
		{"expiry negative", func(t *Table) { t.ExpiryHours = -2 }, []string{"expiry_hours"}},
		{"unknown kind", func(t *Table) { t.Tiers[0].Kind = "bogo" }, []string{"tiers[0].kind"}},
		{"percent on free shipping", func(t *Table) { t.Tiers[0].Percent = 5 }, []string{"tiers[0].percent"}},
		{"amount on percentage", func(t *Table) { t.Tiers[1].Amount = amt("3") }, []string{"tiers[1].amount"}},
		{"carts above negative", func(t *Table) { t.CartsAbove = amtp("-1") }, []string{"carts_above"}},
		{"bad prefix", func(t *Table) { t.Prefix = "no-way" }, []string{"prefix"}},
		{"bad currency", func(t *Table) { t.Currency = "euro" }, []string{"currency"}},
		{"several at once", func(t *Table) { t.Tiers[1].Percent = 0; t.ExpiryHours = 10000 },
			[]string{"expiry_hours", "tiers[1].percent"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tb := ok
			tb.Tiers = append([]Tier(nil), ok.Tiers...)
			c.change(&tb)
			err := tb.Validate()
			require.Error(t, err)
			require.ErrorIs(t, err, ErrInvalid)
			var ve ValidationError
			require.True(t, errors.As(err, &ve))
			var fields []string
			for _, fe := range ve {
				fields = append(fields, fe.Field)
				require.NotEmpty(t, fe.Message)
			}
			require.ElementsMatch(t, c.fields, fields)
		})
	}
}

func TestChoose(t *testing.T) {
	table := Table{Tiers: []Tier{
		{From: amt("20"), To: amtp("50"), Kind: KindFreeShipping},
		{From: amt("50"), To: amtp("100"), Kind: KindPercentage, Percent: 10},
		{From: amt("100"), Kind: KindFixedAmount, Amount: amt("15"), Minimum: amt("100")},
	}}
	newOnly := table
	newOnly.NewCustomersOnly = true
	above := table
	above.CartsAbove = amtp("60")

	for _, c := range []struct {
		name  string
		table Table
		cart  string
		facts Facts
		want  Kind // "" = no discount
	}{
		{"below every tier", table, "19.99", Facts{}, ""},
		{"lower bound inclusive", table, "20", Facts{}, KindFreeShipping},
		{"upper bound exclusive", table, "49.99", Facts{}, KindFreeShipping},
		{"next tier at its bound", table, "50.00", Facts{}, KindPercentage},
		{"open top tier", table, "10000", Facts{}, KindFixedAmount},
		{"zero cart", table, "0", Facts{}, ""},
		{"new customers only, returning", newOnly, "80", Facts{NewCustomer: false}, ""},
		{"new customers only, new", newOnly, "80", Facts{NewCustomer: true}, KindPercentage},
		{"carts above 60: 60 is not above", above, "60", Facts{}, ""},
		{"carts above 60: 60.01 is", above, "60.01", Facts{}, KindPercentage},
		{"carts above 60: small cart", above, "30", Facts{}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := c.table.Choose(amt(c.cart), c.facts)
			if c.want == "" {
				require.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			require.Equal(t, c.want, got.Kind)
		})
	}
	// Choose hands out a copy: the table stays untouched.
	got := table.Choose(amt("75"), Facts{})
	got.Percent = 99
	require.Equal(t, 10, table.Tiers[1].Percent)
}

func TestTableJSONAndExpiry(t *testing.T) {
	raw := `{"tiers":[{"from":"0","to":"50","kind":"free_shipping"},{"from":"50","kind":"percentage","percent":15,"minimum":"40"}],
		"expiry_hours":72,"new_customers_only":true,"carts_above":"10","currency":"EUR","prefix":"COMEBACK"}`
	var tb Table
	require.NoError(t, json.Unmarshal([]byte(raw), &tb))
	require.NoError(t, tb.Validate())
	require.Equal(t, 72*time.Hour, tb.Expiry())
	require.Equal(t, "40.00", tb.Tiers[1].Minimum.String())
	out, err := json.Marshal(tb)
	require.NoError(t, err)
	require.NotContains(t, string(out), `"amount"`, "zero amounts are omitted")
	require.Equal(t, 48*time.Hour, Table{}.Expiry())
}

func TestNewCode(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		c, err := newCode("COMEBACK", nil)
		require.NoError(t, err)
		require.Regexp(t, `^COMEBACK(-[2-9A-HJ-NP-Z]{4}){3}$`, c)
		require.False(t, seen[c])
		seen[c] = true
	}
	// Deterministic source: every byte maps into the alphabet without bias.
	src := bytes.Repeat([]byte{0, 31, 32, 255}, 3)
	c, err := newCode("AB", bytes.NewReader(src))
	require.NoError(t, err)
	require.Equal(t, "AB-2Z2Z-2Z2Z-2Z2Z", c)
	require.False(t, strings.ContainsAny(c[3:], "01IO"))
	_, err = newCode("AB", bytes.NewReader(nil))
	require.Error(t, err)
}
