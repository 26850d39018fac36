package web

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/discount"
)

// withDiscounts serves the admin API again with the discount service (the
// tier tables; no Admin API: codes are never created here).
func (env *adminEnv) withDiscounts(t *testing.T) {
	t.Helper()
	deps := env.deps
	deps.Discounts = discount.New(env.db, nil)
	env.serve(t, deps)
}

const cartOffer = "/api/flows/cart_abandonment/steps/reminder-3/discount"

func tiersBody(tiers ...map[string]any) map[string]any {
	list := make([]any, len(tiers))
	for i, t := range tiers {
		list[i] = t
	}
	return map[string]any{"tiers": list, "expiry_hours": 72, "new_customers_only": false, "carts_above": nil, "prefix": "merci"}
}

func TestDiscountTiersAPI(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	env.withDiscounts(t)

	// The default offer until the merchant sets tiers, in the shop's currency.
	code, got := env.call(t, shopA, http.MethodGet, cartOffer, nil)
	require.Equal(t, http.StatusOK, code, "%v", got)
	require.Equal(t, false, got["custom"])
	require.Equal(t, "EUR", got["currency"])
	table := got["table"].(map[string]any)
	require.Equal(t, []any{map[string]any{"from": "0.00", "to": nil, "kind": "percentage", "percent": 10.0, "amount": "", "minimum": ""}}, table["tiers"])
	require.EqualValues(t, 48, table["expiry_hours"])

	// Every bad field is named, amounts that do not parse included.
	code, got = env.call(t, shopA, http.MethodPut, cartOffer, tiersBody(
		map[string]any{"from": "0", "to": "50", "kind": "percentage", "percent": 0, "amount": "", "minimum": ""},
		map[string]any{"from": "40", "to": nil, "kind": "fixed_amount", "percent": 0, "amount": "45", "minimum": ""},
		map[string]any{"from": "abc", "to": nil, "kind": "bogus", "percent": 0, "amount": "", "minimum": "-1"},
	))
	require.Equal(t, http.StatusUnprocessableEntity, code)
	f := fields(t, got)
	require.Contains(t, f, "tiers.0.percent")
	require.Contains(t, f["tiers.1.amount"], "must be less than")
	require.Equal(t, badAmount, f["tiers.2.from"])
	require.Contains(t, f, "tiers.2.kind")
	require.Contains(t, f, "tiers.2.minimum")
	code, got = env.call(t, shopA, http.MethodPut, cartOffer, tiersBody(
		map[string]any{"from": "0", "to": "60", "kind": "percentage", "percent": 10, "amount": "", "minimum": ""},
		map[string]any{"from": "50", "to": nil, "kind": "free_shipping", "percent": 0, "amount": "", "minimum": ""},
	))
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Contains(t, fields(t, got)["tiers.1.from"], "overlaps")
	bad := tiersBody(map[string]any{"from": "0", "to": nil, "kind": "percentage", "percent": 10, "amount": "", "minimum": ""})
	bad["expiry_hours"], bad["prefix"], bad["carts_above"] = 10000, "no spaces!", "-5"
	code, got = env.call(t, shopA, http.MethodPut, cartOffer, bad)
	require.Equal(t, http.StatusUnprocessableEntity, code)
	f = fields(t, got)
	for _, k := range []string{"expiry_hours", "prefix", "carts_above"} {
		require.Contains(t, f, k)
	}
	code, got = env.call(t, shopA, http.MethodPut, cartOffer, map[string]any{"tiers": []any{}})
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Contains(t, fields(t, got), "tiers")
	code, _ = env.call(t, shopA, http.MethodPut, cartOffer, map[string]any{"tiers": []any{}, "bogus": 1})
	require.Equal(t, http.StatusBadRequest, code, "unknown fields are refused")

	// A step without an offer, a step or flow that does not exist.
	code, got = env.call(t, shopA, http.MethodPut, "/api/flows/cart_abandonment/steps/reminder-1/discount",
		tiersBody(map[string]any{"from": "0", "kind": "percentage", "percent": 10}))
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Contains(t, fields(t, got), "step")
	code, _ = env.call(t, shopA, http.MethodGet, "/api/flows/cart_abandonment/steps/nope/discount", nil)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = env.call(t, shopA, http.MethodGet, "/api/flows/nope/steps/reminder-3/discount", nil)
	require.Equal(t, http.StatusNotFound, code)

	// Valid tiers are stored in the shop's currency and read back.
	code, got = env.call(t, shopA, http.MethodPut, cartOffer, tiersBody(
		map[string]any{"from": "0", "to": "50", "kind": "free_shipping"},
		map[string]any{"from": "50", "to": "150.5", "kind": "fixed_amount", "amount": "10", "minimum": ""},
		map[string]any{"from": "150.50", "to": nil, "kind": "percentage", "percent": 15, "minimum": "100"},
	))
	require.Equal(t, http.StatusOK, code, "%v", got)
	require.Equal(t, true, got["custom"])
	table = got["table"].(map[string]any)
	require.Equal(t, "MERCI", table["prefix"])
	tiers := table["tiers"].([]any)
	require.Len(t, tiers, 3)
	require.Equal(t, map[string]any{"from": "50.00", "to": "150.50", "kind": "fixed_amount", "percent": 0.0, "amount": "10.00", "minimum": ""}, tiers[1])
	stored, custom, err := env.deps.Discounts.GetTable(context.Background(), env.shopA.ID, "cart_abandonment", "reminder-3")
	require.NoError(t, err)
	require.True(t, custom)
	require.Equal(t, "EUR", stored.Currency)
	require.Equal(t, 72, stored.ExpiryHours)
	require.Equal(t, discount.KindPercentage, stored.Choose(discount.MustAmount("200"), discount.Facts{}).Kind)
	require.Equal(t, discount.KindFreeShipping, stored.Choose(discount.MustAmount("20"), discount.Facts{}).Kind)

	// Shop B neither sees nor changes A's tiers.
	code, got = env.call(t, shopB, http.MethodGet, cartOffer, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, false, got["custom"])
	require.Equal(t, "USD", got["currency"])
	code, _ = env.call(t, shopB, http.MethodPut, cartOffer, tiersBody(map[string]any{"from": "0", "kind": "percentage", "percent": 50}))
	require.Equal(t, http.StatusOK, code)
	code, _ = env.call(t, shopB, http.MethodDelete, cartOffer, nil)
	require.Equal(t, http.StatusOK, code)
	_, got = env.call(t, shopA, http.MethodGet, cartOffer, nil)
	require.Equal(t, true, got["custom"])
	require.Len(t, got["table"].(map[string]any)["tiers"], 3)

	// DELETE puts the step back on the default offer.
	code, got = env.call(t, shopA, http.MethodDelete, cartOffer, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, false, got["custom"])
	_, custom, err = env.deps.Discounts.GetTable(context.Background(), env.shopA.ID, "cart_abandonment", "reminder-3")
	require.NoError(t, err)
	require.False(t, custom)

	// No session, no tiers.
	code, _ = env.call(t, "", http.MethodGet, cartOffer, nil)
	require.Equal(t, http.StatusUnauthorized, code)
}
