package web

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/relance/relance/internal/discount"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/shop"
)

// TierJSON is one row of a step's discount tiers: carts worth from (inclusive)
// up to to (exclusive; null: no upper bound) get the offer. Amounts are
// decimal strings in the shop's currency ("49.90"); amount and minimum are
// "" when none.
type TierJSON struct {
	From    string  `json:"from"`
	To      *string `json:"to"`
	Kind    string  `json:"kind"`
	Percent int     `json:"percent"`
	Amount  string  `json:"amount"`
	Minimum string  `json:"minimum"`
}

// DiscountTableJSON is the body of PUT /api/flows/:key/steps/:step/discount
// and the table of its answers. expiry_hours 0 means the default (48);
// prefix "" means OFFER; carts_above null means any cart.
type DiscountTableJSON struct {
	Tiers            []TierJSON `json:"tiers"`
	ExpiryHours      int        `json:"expiry_hours"`
	NewCustomersOnly bool       `json:"new_customers_only"`
	CartsAbove       *string    `json:"carts_above"`
	Prefix           string     `json:"prefix"`
}

// DiscountJSON answers GET and PUT /api/flows/:key/steps/:step/discount.
// Custom is false while the step uses the default offer (10 % off, 48
// hours); currency is the shop's, which every amount is in.
type DiscountJSON struct {
	Flow     flow.Key          `json:"flow"`
	Step     string            `json:"step"`
	Custom   bool              `json:"custom"`
	Currency string            `json:"currency"`
	Table    DiscountTableJSON `json:"table"`
}

func discountTableJSON(t discount.Table) DiscountTableJSON {
	opt := func(a discount.Amount) string {
		if a.IsZero() {
			return ""
		}
		return a.String()
	}
	out := DiscountTableJSON{Tiers: make([]TierJSON, len(t.Tiers)), ExpiryHours: t.ExpiryHours,
		NewCustomersOnly: t.NewCustomersOnly, Prefix: t.Prefix}
	for i, tr := range t.Tiers {
		tj := TierJSON{From: tr.From.String(), Kind: string(tr.Kind), Percent: tr.Percent, Amount: opt(tr.Amount), Minimum: opt(tr.Minimum)}
		if tr.To != nil {
			to := tr.To.String()
			tj.To = &to
		}
		out.Tiers[i] = tj
	}
	if t.CartsAbove != nil {
		v := t.CartsAbove.String()
		out.CartsAbove = &v
	}
	return out
}

const badAmount = "must be an amount such as 49.90"

// table converts the JSON form, naming every amount that does not parse.
func (in DiscountTableJSON) table(currency string, bad fieldErrors) discount.Table {
	amount := func(field, v string) discount.Amount {
		a, err := discount.ParseAmount(v)
		if err != nil {
			bad[field] = badAmount
		}
		return a
	}
	t := discount.Table{Tiers: make([]discount.Tier, len(in.Tiers)), ExpiryHours: in.ExpiryHours,
		NewCustomersOnly: in.NewCustomersOnly, Currency: currency, Prefix: strings.ToUpper(strings.TrimSpace(in.Prefix))}
	for i, tj := range in.Tiers {
		p := "tiers." + strconv.Itoa(i) + "."
		tr := discount.Tier{From: amount(p+"from", tj.From), Kind: discount.Kind(tj.Kind), Percent: tj.Percent,
			Amount: amount(p+"amount", tj.Amount), Minimum: amount(p+"minimum", tj.Minimum)}
		if tj.To != nil && strings.TrimSpace(*tj.To) != "" {
			to := amount(p+"to", *tj.To)
			tr.To = &to
		}
		t.Tiers[i] = tr
	}
	if in.CartsAbove != nil && strings.TrimSpace(*in.CartsAbove) != "" {
		v := amount("carts_above", *in.CartsAbove)
		t.CartsAbove = &v
	}
	return t
}

// discountTarget is the step a discount request is about.
type discountTarget struct {
	shop  *shop.Shop
	key   flow.Key
	step  string
	offer bool // whether the step carries an offer
}

// discountStep resolves the session shop, :key and :step against the flow
// the editor shows (the draft, else the published version): the step must
// exist.
func (a *admin) discountStep(c echo.Context) (*discountTarget, error) {
	s, err := sessionShop(c)
	if err != nil {
		return nil, err
	}
	if a.Discounts == nil {
		return nil, echo.NewHTTPError(http.StatusServiceUnavailable, "discounts are not available")
	}
	key, err := flowKey(c)
	if err != nil {
		return nil, err
	}
	st, err := a.editorState(c, s.ID, key)
	if err != nil {
		return nil, err
	}
	d := &discountTarget{shop: s, key: key, step: c.Param("step")}
	found := false
	for _, b := range st.def.Branches {
		for _, x := range b.Steps {
			if x.Key == d.step {
				found, d.offer = true, d.offer || x.Offer
			}
		}
	}
	if !found {
		return nil, notFound("step")
	}
	return d, nil
}

// discountAnswer writes the step's table as it is stored now.
func (a *admin) discountAnswer(c echo.Context, d *discountTarget) error {
	t, custom, err := a.Discounts.GetTable(c.Request().Context(), d.shop.ID, string(d.key), d.step)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, DiscountJSON{Flow: d.key, Step: d.step, Custom: custom, Currency: d.shop.Currency, Table: discountTableJSON(t)})
}

// getDiscount answers GET /api/flows/:key/steps/:step/discount: the step's
// tier table, the default offer while the merchant set none.
func (a *admin) getDiscount(c echo.Context) error {
	d, err := a.discountStep(c)
	if err != nil {
		return err
	}
	return a.discountAnswer(c, d)
}

var tierPathRE = regexp.MustCompile(`\[(\d+)\]`)

// putDiscount answers PUT /api/flows/:key/steps/:step/discount: the table is
// validated (ranges that overlap, a fixed amount not below the cart it
// applies to, …) and stored in the shop's currency; problems are 422 with
// field paths such as "tiers.1.percent".
func (a *admin) putDiscount(c echo.Context) error {
	d, err := a.discountStep(c)
	if err != nil {
		return err
	}
	var in DiscountTableJSON
	if err := bind(c, &in); err != nil {
		return err
	}
	if !d.offer {
		return invalid(c, fieldErrors{"step": "carries no offer: discount tiers apply to a step with an offer"})
	}
	bad := fieldErrors{}
	t := in.table(d.shop.Currency, bad)
	var ve discount.ValidationError
	if err := t.Validate(); errors.As(err, &ve) {
		for _, fe := range ve {
			field := tierPathRE.ReplaceAllString(fe.Field, ".$1")
			if _, dup := bad[field]; !dup {
				bad[field] = fe.Message
			}
		}
	}
	if len(bad) > 0 {
		return invalid(c, bad)
	}
	if err := a.Discounts.SaveTable(c.Request().Context(), d.shop.ID, string(d.key), d.step, t); err != nil {
		return err
	}
	return a.discountAnswer(c, d)
}

// deleteDiscount answers DELETE /api/flows/:key/steps/:step/discount: the
// step goes back to the default offer, which the answer shows.
func (a *admin) deleteDiscount(c echo.Context) error {
	d, err := a.discountStep(c)
	if err != nil {
		return err
	}
	if err := a.Discounts.DeleteTable(c.Request().Context(), d.shop.ID, string(d.key), d.step); err != nil {
		return err
	}
	return a.discountAnswer(c, d)
}
