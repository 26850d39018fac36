package devstore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCustomerConsentField(t *testing.T) {
	s := New(Options{})
	const shop = "c-shop.myshopify.com"
	s.AddShop(shop, "C", "c@c.test", "UTC", "EUR")
	field := func(id any) (any, error) {
		t.Helper()
		return s.customerField(s.customers, shop, map[string]any{"id": id})
	}

	got, err := field("gid://shopify/Customer/9")
	require.NoError(t, err)
	require.Nil(t, got, "unknown customer: null")
	_, err = field("9")
	require.Error(t, err, "not a customer gid")

	s.SetCustomerConsent("C-Shop.myshopify.com", 9, "subscribed", time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	got, err = field("gid://shopify/Customer/9")
	require.NoError(t, err)
	require.Equal(t, map[string]any{"id": "gid://shopify/Customer/9", "emailMarketingConsent": map[string]any{
		"marketingState": "SUBSCRIBED", "marketingOptInLevel": "SINGLE_OPT_IN", "consentUpdatedAt": "2026-03-02T09:00:00Z"}}, got)

	s.SetCustomerConsent(shop, 9, "NOT_SUBSCRIBED", time.Time{})
	got, err = field("gid://shopify/Customer/9")
	require.NoError(t, err)
	require.Equal(t, map[string]any{"marketingState": "NOT_SUBSCRIBED", "marketingOptInLevel": nil, "consentUpdatedAt": nil},
		got.(map[string]any)["emailMarketingConsent"])

	// A customer declared for discounts exists, without consent.
	s.AddCustomer(shop, "gid://shopify/Customer/11")
	got, err = field("gid://shopify/Customer/11")
	require.NoError(t, err)
	require.Equal(t, map[string]any{"id": "gid://shopify/Customer/11", "emailMarketingConsent": nil}, got)
}
