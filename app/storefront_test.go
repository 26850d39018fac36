package main

// The storefront stories through the whole process: pixel events, tracked
// clicks and attribution.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
)

func (a *testApp) pixel(t *testing.T, body map[string]any) int {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	res, err := http.Post(a.URL()+"/pixel/events", "text/plain;charset=UTF-8", bytes.NewReader(b))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, "*", res.Header.Get("Access-Control-Allow-Origin"))
	return res.StatusCode
}

func pixelView(id, product string, at time.Time) map[string]any {
	return map[string]any{"id": id, "name": "product_viewed", "timestamp": at.UTC().Format(time.RFC3339Nano),
		"data": map[string]any{"product_id": product, "product_title": "Linen shirt", "url": "/products/linen-shirt"}}
}

var trackedLink = regexp.MustCompile(`href="(http://[^"]+/r/[A-Za-z0-9_-]+)"`)

// Anonymous product views, then a login: the browse abandonment email;
// its tracked link clicked, then an order: the revenue is the email's.
func TestBrowseClickOrderAttribution(t *testing.T) {
	t.Parallel()
	a := MustRunMainEnv(t, map[string]string{"TIME_SCALE": "3600"})
	const domain = "storefront.myshopify.com"
	shopID := a.enableFlow(t, domain, flow.Browse)
	ctx := context.Background()
	c, err := a.c.engine.Contacts().Upsert(ctx, shopID, contact.Profile{Email: "lea@example.org", CustomerID: 9001, FirstName: "Léa"})
	require.NoError(t, err)
	_, err = a.c.engine.Contacts().SetConsent(ctx, shopID, c.ID, contact.Subscribed, time.Now().Add(-time.Hour), "test")
	require.NoError(t, err)

	require.Equal(t, http.StatusNotFound, a.pixel(t, map[string]any{"shop": "nobody.myshopify.com", "client_id": "x",
		"events": []any{pixelView("e0", "1", time.Now())}}))

	t0 := time.Now().Add(-time.Minute)
	require.Equal(t, http.StatusNoContent, a.pixel(t, map[string]any{"shop": domain, "client_id": "cl-1",
		"events": []any{pixelView("e1", "101", t0), pixelView("e2", "102", t0.Add(time.Second))}}))
	require.Equal(t, http.StatusNoContent, a.pixel(t, map[string]any{"shop": domain, "client_id": "cl-1", "customer_id": 9001,
		"events": []any{map[string]any{"id": "e3", "name": "collection_viewed", "timestamp": time.Now().UTC().Format(time.RFC3339Nano)}}}))

	eventually(t, "the browse abandonment email in the outbox", func() bool { return a.outboxCount(t, shopID) == 1 })
	boxes, err := a.c.outbox.List(ctx, shopID, 10)
	require.NoError(t, err)
	email, err := a.c.outbox.Get(ctx, shopID, boxes[0].ID)
	require.NoError(t, err)
	require.Equal(t, "browse_abandonment", email.Tags["flow"])
	m := trackedLink.FindStringSubmatch(email.HTML)
	require.NotNil(t, m, "a tracked link to the store")

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(m[1])
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusFound, res.StatusCode)
	loc, err := url.Parse(res.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, domain, loc.Host)
	require.Equal(t, "browse_abandonment", loc.Query().Get("utm_campaign"))
	require.NotEmpty(t, loc.Query().Get("rl"))

	at := time.Now().Add(time.Second).UTC()
	order := fmt.Sprintf(`{"id": 7001, "email": "lea@example.org", "total_price": "89.90", "currency": "EUR",
		"created_at": %q, "processed_at": %q, "updated_at": %q, "customer": {"id": 9001}, "line_items": [], "discount_codes": []}`,
		at.Format(time.RFC3339), at.Format(time.RFC3339), at.Format(time.RFC3339))
	require.Equal(t, http.StatusOK, a.postWebhook(t, domain, "orders/create", "w-order-7001", at, []byte(order)))
	eventually(t, "the order attributed to the email", func() bool {
		return a.scalar(t, `SELECT flow_key || '/' || model || '/' || revenue::text FROM analytics_attributions WHERE shop_id = ? AND order_id = 7001`,
			shopID) == "browse_abandonment/click/89.9000"
	})
}
