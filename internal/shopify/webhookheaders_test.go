package shopify

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseWebhookHeaders(t *testing.T) {
	full := func() http.Header {
		h := http.Header{}
		h.Set("X-Shopify-Topic", "orders/create")
		h.Set("X-Shopify-Shop-Domain", "Some-Shop.myshopify.com")
		h.Set("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
		h.Set("X-Shopify-Event-Id", "98880550-7158-44d4-b7cd-2c97c8a091b5")
		h.Set("X-Shopify-API-Version", "2026-10")
		h.Set("X-Shopify-Hmac-Sha256", "XWmrwMey6OsLMeiZKwP4FppHH3cmAiiJJAweH5Jo4bM=")
		h.Set("X-Shopify-Triggered-At", "2023-03-29T18:00:27.877041743Z")
		return h
	}
	want := WebhookHeaders{
		Topic: "orders/create", ShopDomain: "some-shop.myshopify.com",
		WebhookID: "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", EventID: "98880550-7158-44d4-b7cd-2c97c8a091b5",
		APIVersion: "2026-10", HMAC: "XWmrwMey6OsLMeiZKwP4FppHH3cmAiiJJAweH5Jo4bM=",
		TriggeredAt: time.Date(2023, 3, 29, 18, 0, 27, 877041743, time.UTC),
	}
	events := http.Header{
		"shopify-topic":        {"orders/create"},
		"shopify-shop-domain":  {"some-shop.myshopify.com"},
		"shopify-webhook-id":   {want.WebhookID},
		"shopify-event-id":     {want.EventID},
		"shopify-api-version":  {"2026-10"},
		"shopify-hmac-sha256":  {want.HMAC},
		"shopify-triggered-at": {"2023-03-29T18:00:27.877041743Z"},
	}
	del := func(k string) http.Header { h := full(); h.Del(k); return h }
	set := func(k, v string) http.Header { h := full(); h.Set(k, v); return h }

	tests := []struct {
		name string
		h    http.Header
		want *WebhookHeaders
	}{
		{"X-Shopify form", full(), &want},
		{"un-prefixed lowercase form", events, &want},
		{"no triggered-at", del("X-Shopify-Triggered-At"), func() *WebhookHeaders { w := want; w.TriggeredAt = time.Time{}; return &w }()},
		{"unparsable triggered-at is dropped", set("X-Shopify-Triggered-At", "yesterday"), func() *WebhookHeaders { w := want; w.TriggeredAt = time.Time{}; return &w }()},
		{"no event id", del("X-Shopify-Event-Id"), func() *WebhookHeaders { w := want; w.EventID = ""; return &w }()},
		{"missing topic", del("X-Shopify-Topic"), nil},
		{"missing shop", del("X-Shopify-Shop-Domain"), nil},
		{"invalid shop", set("X-Shopify-Shop-Domain", "evil.com"), nil},
		{"missing webhook id", del("X-Shopify-Webhook-Id"), nil},
		{"missing hmac", del("X-Shopify-Hmac-Sha256"), nil},
		{"blank topic", set("X-Shopify-Topic", "  "), nil},
		{"empty", http.Header{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWebhookHeaders(tt.h)
			if tt.want == nil {
				require.ErrorIs(t, err, ErrMalformed)
				return
			}
			require.NoError(t, err)
			require.True(t, tt.want.TriggeredAt.Equal(got.TriggeredAt))
			exp := *tt.want
			got.TriggeredAt, exp.TriggeredAt = time.Time{}, time.Time{}
			require.Equal(t, exp, got)
		})
	}
}
