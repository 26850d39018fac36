package webhook_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDataRequestExportsOnlyThatShopper(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const shopA, shopB = "export-a.myshopify.com", "export-b.myshopify.com"
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e.installShop(shopA, t0.Add(-24*time.Hour))
	e.installShop(shopB, t0.Add(-24*time.Hour))

	mine := map[string]string{} // webhook id -> topic
	for _, d := range []struct{ topic, payload string }{
		{"customers/create", customerCreatePayload(redactID, redactEmail, redactPhone, redactName)},
		{"customers_email_marketing_consent/update", consentPayload(redactID, redactEmail)},
		{"checkouts/update", checkoutPayload(redactID, redactEmail, redactPhoneSp, redactName)},
		{"orders/create", orderPayload(redactOrderID, redactID, redactEmail, redactName)},
		// A guest checkout: only her phone, formatted with the national prefix.
		{"checkouts/create", `{"id": 2, "email": null, "phone": "06 12 34 56 78"}`},
	} {
		id, batch := e.record(shopA, d.topic, t0, d.payload)
		_ = e.dispatch(batch)
		var wid string
		require.NoError(t, e.db.Raw(`SELECT webhook_id FROM webhook_inbox WHERE id = ?`, id).Scan(&wid).Error)
		mine[wid] = d.topic
	}
	// Not hers: another shopper of shop A (whose id contains hers as a
	// prefix, whose email contains hers), an anonymous cart, and her
	// namesake in shop B.
	others := []string{
		e.webhookID(e.deliver(shopA, "checkouts/update", t0, checkoutPayload(keepID, keepEmail, "+33698765432", keepName))),
		e.webhookID(e.deliver(shopA, "customers/create", t0, customerCreatePayload(redactID+"1", "x"+redactEmail, "+33698765432", keepName))),
		e.webhookID(e.deliver(shopA, "carts/update", t0, cartPayload)),
		e.webhookID(e.deliver(shopB, "checkouts/update", t0, checkoutPayload(redactID, redactEmail, redactPhone, redactName))),
	}

	payload := dataRequestPayload(shopA, redactID, redactEmail, redactPhone, redactOrderID, 9999)
	drID, batch := e.record(shopA, "customers/data_request", t0.Add(time.Hour), payload)
	require.NoError(t, e.dispatch(batch))
	mine[e.webhookID(drID)] = "customers/data_request"

	var rows []struct {
		ID            int64
		ShopDomain    string
		DataRequestID int64
		Content       string
		ExpiresAt     time.Time
		CreatedAt     time.Time
	}
	require.NoError(t, e.db.Raw(`SELECT id, shop_domain, data_request_id, content::text AS content, expires_at, created_at FROM data_exports`).Scan(&rows).Error)
	require.Len(t, rows, 1)
	x := rows[0]
	require.Equal(t, shopA, x.ShopDomain)
	require.EqualValues(t, 9999, x.DataRequestID)
	require.WithinDuration(t, x.CreatedAt.Add(30*24*time.Hour), x.ExpiresAt, time.Second)

	var doc struct {
		ShopDomain    string      `json:"shop_domain"`
		DataRequestID json.Number `json:"data_request_id"`
		Customer      struct {
			ID       json.Number   `json:"id"`
			Email    string        `json:"email"`
			OrderIDs []json.Number `json:"order_ids"`
		} `json:"customer"`
		Sources []string `json:"sources"`
		Data    struct {
			Inbox []struct {
				Topic     string                     `json:"topic"`
				WebhookID string                     `json:"webhook_id"`
				Payload   map[string]json.RawMessage `json:"payload"`
			} `json:"webhook_inbox"`
		} `json:"data"`
	}
	dec := json.NewDecoder(strings.NewReader(x.Content))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&doc))
	require.Equal(t, shopA, doc.ShopDomain)
	require.Equal(t, "9999", doc.DataRequestID.String())
	require.Equal(t, redactID, doc.Customer.ID.String(), "ids must survive as exact integers")
	require.Equal(t, []json.Number{redactOrderID}, doc.Customer.OrderIDs)
	require.Contains(t, doc.Sources, "webhook_inbox")

	got := map[string]string{}
	for _, d := range doc.Data.Inbox {
		got[d.WebhookID] = d.Topic
	}
	require.Equal(t, mine, got)
	for _, d := range doc.Data.Inbox {
		if d.Topic == "orders/create" {
			var c struct {
				ID json.Number `json:"id"`
			}
			dec := json.NewDecoder(bytes.NewReader(d.Payload["customer"]))
			dec.UseNumber()
			require.NoError(t, dec.Decode(&c))
			require.Equal(t, redactID, c.ID.String())
			require.Equal(t, redactOrderID, string(d.Payload["id"]))
		}
	}
	for _, wid := range others {
		require.NotContains(t, x.Content, `"`+wid+`"`)
	}
	for _, s := range []string{keepEmail, keepName, keepID, shopB, "x" + redactEmail} {
		require.NotContains(t, x.Content, s)
	}

	// The same request again (a redelivery, or Shopify re-sending it) makes
	// no second export, even after more data arrived.
	e.deliver(shopA, "checkouts/update", t0.Add(2*time.Hour), checkoutPayload(redactID, redactEmail, redactPhone, redactName))
	require.NoError(t, e.dispatchOne(shopA, "customers/data_request", t0.Add(3*time.Hour), payload))
	var n int64
	var content string
	require.NoError(t, e.db.Raw(`SELECT count(*) FROM data_exports`).Scan(&n).Error)
	require.EqualValues(t, 1, n)
	require.NoError(t, e.db.Raw(`SELECT content::text FROM data_exports`).Scan(&content).Error)
	require.Equal(t, x.Content, content)
}

func TestDataRequestWithoutRequestIDFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const shopA = "export-bad.myshopify.com"
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e.installShop(shopA, t0.Add(-time.Hour))
	id := e.deliver(shopA, "customers/data_request", t0,
		`{"shop_domain": "`+shopA+`", "customer": {"id": `+redactID+`, "email": "`+redactEmail+`"}, "orders_requested": []}`)
	st, _ := e.inbox(id)
	require.Equal(t, "failed", st.Status)
	var n int64
	require.NoError(t, e.db.Raw(`SELECT count(*) FROM data_exports`).Scan(&n).Error)
	require.Zero(t, n)
}

func (e *env) webhookID(inboxID int64) string {
	e.t.Helper()
	var wid string
	require.NoError(e.t, e.db.Raw(`SELECT webhook_id FROM webhook_inbox WHERE id = ?`, inboxID).Scan(&wid).Error)
	require.NotEmpty(e.t, wid)
	return wid
}
