package devstore

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDiscountCodes(t *testing.T) {
	s := New(Options{})
	const shop = "d-shop.myshopify.com"
	s.AddShop(shop, "D", "d@d.test", "UTC", "EUR")
	d := s.discounts
	create := func(code string, context map[string]any) []any {
		t.Helper()
		out, err := d.create(shop, "basicCodeDiscount", "discountCodeBasicCreate", map[string]any{"basicCodeDiscount": map[string]any{
			"title": "T " + code, "code": code, "startsAt": "2026-10-05T09:00:00Z", "endsAt": "2026-10-07T09:00:00Z",
			"context": context, "customerGets": map[string]any{"value": map[string]any{"percentage": 0.1}, "items": map[string]any{"all": true}},
		}})
		require.NoError(t, err)
		return out.(map[string]any)["userErrors"].([]any)
	}
	customers := func(gid string) map[string]any {
		return map[string]any{"customers": map[string]any{"add": []any{gid}}}
	}
	errCode := func(errs []any) string {
		require.Len(t, errs, 1)
		return errs[0].(map[string]any)["code"].(string)
	}

	require.Empty(t, create("ABC-1", map[string]any{"all": "ALL"}))
	require.Equal(t, "TAKEN", errCode(create("abc-1", map[string]any{"all": "ALL"})), "codes are unique case-insensitively")
	// No customers declared: any well-formed customer gid goes (dev shop).
	require.Empty(t, create("ABC-2", customers("gid://shopify/Customer/5")))
	require.Equal(t, "INVALID", errCode(create("ABC-3", customers("5"))))
	// Declared customers: any other is refused.
	s.AddCustomer(shop, "gid://shopify/Customer/7")
	require.Equal(t, "INVALID", errCode(create("ABC-3", customers("gid://shopify/Customer/5"))))
	require.Empty(t, create("ABC-3", customers("gid://shopify/Customer/7")))

	codes := s.DiscountCodes(shop)
	require.Equal(t, []string{"ABC-1", "ABC-2", "ABC-3"}, []string{codes[0].Code, codes[1].Code, codes[2].Code})
	require.Equal(t, customers("gid://shopify/Customer/7"), codes[2].Input["context"])
	got, err := d.lookup(shop, map[string]any{"code": "abc-3"})
	require.NoError(t, err)
	require.Equal(t, codes[2].ID, got.(map[string]any)["id"])

	merchant := s.AddDiscountCode(shop, "SUMMER", "Summer sale")
	out, err := d.delete(shop, map[string]any{"id": merchant.ID})
	require.NoError(t, err)
	require.Empty(t, out.(map[string]any)["userErrors"])
	out, err = d.delete(shop, map[string]any{"id": merchant.ID})
	require.NoError(t, err)
	require.Equal(t, "INVALID", errCode(out.(map[string]any)["userErrors"].([]any)))
	require.True(t, s.DeleteDiscountCode(shop, "abc-1"))
	_, ok := s.DiscountCode(shop, "ABC-1")
	require.False(t, ok)
	require.Len(t, s.DiscountCodes(shop), 2)
}
