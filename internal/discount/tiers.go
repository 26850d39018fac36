package discount

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Kind is what a tier gives.
type Kind string

// Tier kinds; the strings match the mail renderer's Discount.Kind.
const (
	KindPercentage   Kind = "percentage"
	KindFixedAmount  Kind = "fixed_amount"
	KindFreeShipping Kind = "free_shipping"
)

// Expiry bounds: a code lives at least an hour (time to read the email and
// check out) and at most 30 days (an abandoned-cart offer is not a coupon
// book).
const (
	DefaultExpiryHours = 48
	MinExpiryHours     = 1
	MaxExpiryHours     = 30 * 24
	// MaxTiers bounds one table.
	MaxTiers = 20
	// DefaultPrefix starts codes whose table sets no prefix.
	DefaultPrefix = "OFFER"
)

var prefixRe = regexp.MustCompile(`^[A-Z0-9]{2,12}$`)

// Tier maps a range of cart values [From, To) to an offer.
type Tier struct {
	// From is the inclusive lower bound of the cart value (zero: any cart).
	From Amount `json:"from"`
	// To is the exclusive upper bound; nil means no upper bound.
	To *Amount `json:"to,omitempty"`
	// Kind is percentage, fixed_amount or free_shipping.
	Kind Kind `json:"kind"`
	// Percent off, 1..100, for KindPercentage.
	Percent int `json:"percent,omitempty"`
	// Amount off the order, for KindFixedAmount, in the shop's currency.
	Amount Amount `json:"amount,omitzero"`
	// Minimum order subtotal for the code to apply (zero: none).
	Minimum Amount `json:"minimum,omitzero"`
}

// Table is a step's tier table with its conditions, as the merchant edits
// it. Amounts are in the shop's currency.
type Table struct {
	Tiers []Tier `json:"tiers"`
	// ExpiryHours is how long a code stays valid after it is created
	// (0: DefaultExpiryHours).
	ExpiryHours int `json:"expiry_hours,omitempty"`
	// NewCustomersOnly offers the discount only to shoppers who never
	// ordered.
	NewCustomersOnly bool `json:"new_customers_only,omitempty"`
	// CartsAbove, when set, offers the discount only for carts strictly
	// above this value.
	CartsAbove *Amount `json:"carts_above,omitempty"`
	// Currency (ISO 4217) the amounts are in; when set, a request in another
	// currency is refused rather than compared across currencies.
	Currency string `json:"currency,omitempty"`
	// Prefix starts every code (2–12 of A–Z, 0–9; "" = DefaultPrefix).
	Prefix string `json:"prefix,omitempty"`
}

// DefaultTable is the offer a step with Offer set makes until the merchant
// edits it: 10 % off any cart, valid 48 hours.
func DefaultTable() Table {
	return Table{Tiers: []Tier{{Kind: KindPercentage, Percent: 10}}, ExpiryHours: DefaultExpiryHours}
}

// Expiry is how long the table's codes stay valid.
func (t Table) Expiry() time.Duration {
	h := t.ExpiryHours
	if h == 0 {
		h = DefaultExpiryHours
	}
	return time.Duration(h) * time.Hour
}

func (t Table) prefix() string {
	if t.Prefix == "" {
		return DefaultPrefix
	}
	return t.Prefix
}

// FieldError is one problem with one field of a table, named by its JSON
// path ("tiers[1].percent").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ErrInvalid matches every ValidationError (errors.Is).
var ErrInvalid = errors.New("discount: invalid tier table")

// ValidationError lists every problem found in a table.
type ValidationError []FieldError

func (v ValidationError) Error() string {
	msgs := make([]string, len(v))
	for i, e := range v {
		msgs[i] = e.Field + ": " + e.Message
	}
	return "discount: invalid tier table: " + strings.Join(msgs, "; ")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (v ValidationError) Is(target error) bool { return target == ErrInvalid }

// Validate checks the table and returns a ValidationError naming every bad
// field, or nil.
func (t Table) Validate() error {
	var errs ValidationError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if len(t.Tiers) == 0 {
		bad("tiers", "at least one tier is required")
	}
	if len(t.Tiers) > MaxTiers {
		bad("tiers", "at most %d tiers", MaxTiers)
	}
	if t.ExpiryHours != 0 && (t.ExpiryHours < MinExpiryHours || t.ExpiryHours > MaxExpiryHours) {
		bad("expiry_hours", "must be between %d and %d hours", MinExpiryHours, MaxExpiryHours)
	}
	if t.CartsAbove != nil && t.CartsAbove.Negative() {
		bad("carts_above", "must not be negative")
	}
	if t.Currency != "" && !currencyRe.MatchString(t.Currency) {
		bad("currency", "must be an ISO 4217 code such as EUR")
	}
	if t.Prefix != "" && !prefixRe.MatchString(t.Prefix) {
		bad("prefix", "must be 2 to 12 capital letters or digits")
	}
	for i, tr := range t.Tiers {
		f := fmt.Sprintf("tiers[%d].", i)
		if tr.From.Negative() {
			bad(f+"from", "must not be negative")
		}
		if tr.To != nil {
			if tr.To.Negative() {
				bad(f+"to", "must not be negative")
			} else if tr.To.Cmp(tr.From) <= 0 {
				bad(f+"to", "must be greater than from (%s)", tr.From)
			}
		}
		if tr.Minimum.Negative() {
			bad(f+"minimum", "must not be negative")
		}
		switch tr.Kind {
		case KindPercentage:
			if tr.Percent < 1 || tr.Percent > 100 {
				bad(f+"percent", "must be between 1 and 100")
			}
			if !tr.Amount.IsZero() {
				bad(f+"amount", "only a fixed_amount tier has an amount")
			}
		case KindFixedAmount:
			switch {
			case tr.Amount.Negative():
				bad(f+"amount", "must not be negative")
			case tr.Amount.IsZero():
				bad(f+"amount", "must be greater than zero")
			default:
				// Margin: a fixed amount must stay below what the shopper
				// spends, guaranteed by the tier's lower bound or its minimum.
				floor := tr.From
				if tr.Minimum.Cmp(floor) > 0 {
					floor = tr.Minimum
				}
				if tr.Amount.Cmp(floor) >= 0 {
					bad(f+"amount", "must be less than the tier's minimum order or lower cart bound (%s)", floor)
				}
			}
			if tr.Percent != 0 {
				bad(f+"percent", "only a percentage tier has a percent")
			}
		case KindFreeShipping:
			if tr.Percent != 0 {
				bad(f+"percent", "only a percentage tier has a percent")
			}
			if !tr.Amount.IsZero() {
				bad(f+"amount", "only a fixed_amount tier has an amount")
			}
		default:
			bad(f+"kind", "must be percentage, fixed_amount or free_shipping")
		}
	}
	// Overlaps: sort by lower bound, each range must end before the next
	// starts.
	idx := make([]int, 0, len(t.Tiers))
	for i, tr := range t.Tiers {
		if !tr.From.Negative() && (tr.To == nil || tr.To.Cmp(tr.From) > 0) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return t.Tiers[idx[a]].From.Cmp(t.Tiers[idx[b]].From) < 0 })
	for k := 1; k < len(idx); k++ {
		prev, cur := t.Tiers[idx[k-1]], t.Tiers[idx[k]]
		if prev.To == nil || prev.To.Cmp(cur.From) > 0 {
			bad(fmt.Sprintf("tiers[%d].from", idx[k]), "overlaps tiers[%d]", idx[k-1])
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

var currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)

// Facts are what Choose knows about the shopper.
type Facts struct {
	// NewCustomer: the shopper never placed an order in this shop.
	NewCustomer bool
}

// Choose returns the tier of a valid table that applies to a cart worth
// cart for a shopper with facts, or nil when none does (no discount). It is
// a pure function.
func (t Table) Choose(cart Amount, f Facts) *Tier {
	if t.NewCustomersOnly && !f.NewCustomer {
		return nil
	}
	if t.CartsAbove != nil && cart.Cmp(*t.CartsAbove) <= 0 {
		return nil
	}
	for i := range t.Tiers {
		tr := &t.Tiers[i]
		if cart.Cmp(tr.From) >= 0 && (tr.To == nil || cart.Cmp(*tr.To) < 0) {
			out := *tr
			return &out
		}
	}
	return nil
}
