package webhook_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCustomerRedactErasesTheShopperEverywhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const shopA, shopB = "redact-a.myshopify.com", "other-shop.myshopify.com"
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e.installShop(shopA, t0.Add(-24*time.Hour))
	e.installShop(shopB, t0.Add(-24*time.Hour))

	// Shop A: the shopper's history, processed, plus one still pending.
	var processed []int64
	for _, d := range []struct{ topic, payload string }{
		{"customers/create", customerCreatePayload(redactID, redactEmail, redactPhone, redactName)},
		{"customers_email_marketing_consent/update", consentPayload(redactID, redactEmail)},
		{"checkouts/update", checkoutPayload(redactID, redactEmail, redactPhoneSp, redactName)},
		{"orders/create", orderPayload(redactOrderID, redactID, redactEmail, redactName)},
	} {
		processed = append(processed, e.deliver(shopA, d.topic, t0, d.payload))
	}
	pendingID, _ := e.record(shopA, "checkouts/update", t0, checkoutPayload(redactID, redactEmail, redactPhone, redactName))
	// Shop A: another shopper and an anonymous cart, to keep.
	keepCheckout := e.deliver(shopA, "checkouts/update", t0, checkoutPayload(keepID, keepEmail, "+33698765432", keepName))
	cart := e.deliver(shopA, "carts/update", t0, cartPayload)
	// Shop B: the same person shops there too (her own customer id there).
	e.deliver(shopB, "checkouts/update", t0, checkoutPayload("7001", redactEmail, redactPhone, redactName))
	// A data request earlier: its export is a copy to erase as well.
	dr := e.deliver(shopA, "customers/data_request", t0.Add(time.Hour),
		dataRequestPayload(shopA, redactID, redactEmail, redactPhone, redactOrderID, 9999))
	st, _ := e.inbox(dr)
	require.Equal(t, "done", st.Status)
	var exports int64
	require.NoError(t, e.db.Raw(`SELECT count(*) FROM data_exports`).Scan(&exports).Error)
	require.EqualValues(t, 1, exports)

	requireSomewhere(t, e.db, redactNeedles)
	keepBefore := snapshot(t, e.db, keepEmail)
	shopBBefore := snapshot(t, e.db, shopB)
	require.NotEmpty(t, keepBefore)
	require.NotEmpty(t, shopBBefore)

	redactID1, batch := e.record(shopA, "customers/redact", t0.Add(10*24*time.Hour),
		customerRedactPayload(shopA, redactID, redactEmail, redactPhone, redactOrderID))
	require.NoError(t, e.dispatch(batch))

	requireNowhere(t, e.db, redactNeedles, shopB)
	// The redact delivery itself keeps only its stub, and is done.
	st, ok := e.inbox(redactID1)
	require.True(t, ok)
	require.Equal(t, "done", st.Status)
	require.JSONEq(t, `{"redacted": true, "topic": "customers/redact"}`, st.Payload)
	for _, id := range processed {
		st, _ := e.inbox(id)
		require.Contains(t, st.Payload, `"redacted"`)
	}
	// Nothing is left to process in the pending one.
	st, _ = e.inbox(pendingID)
	require.Equal(t, "skipped", st.Status)
	// Everyone else is untouched, byte for byte.
	require.Equal(t, keepBefore, snapshot(t, e.db, keepEmail))
	require.Equal(t, shopBBefore, snapshot(t, e.db, shopB))
	st, _ = e.inbox(keepCheckout)
	require.Contains(t, st.Payload, keepName)
	st, _ = e.inbox(cart)
	require.Contains(t, st.Payload, "eeafa272cebfd4b22385bc4b645e762c")

	// Shopify re-sending the request (our 200 lost) finds nothing left.
	_, batch = e.record(shopA, "customers/redact", t0.Add(10*24*time.Hour),
		customerRedactPayload(shopA, redactID, redactEmail, redactPhone, redactOrderID))
	require.NoError(t, e.dispatch(batch))
	requireNowhere(t, e.db, redactNeedles, shopB)
}

func TestCustomerRedactByEmailOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const shopA = "email-only.myshopify.com"
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e.installShop(shopA, t0.Add(-time.Hour))
	// A checkout typed by a guest: no customer object, the email in caps.
	id := e.deliver(shopA, "checkouts/update", t0,
		`{"id": 1, "email": "REDACT-ME@EXAMPLE.COM", "billing_address": {"first_name": "`+redactName+`", "phone": "`+redactPhoneSp+`"}}`)
	require.NoError(t, e.dispatchOne(shopA, "customers/redact", t0.Add(time.Hour),
		`{"shop_id": 1, "shop_domain": "`+shopA+`", "customer": {"id": null, "email": "`+redactEmail+`", "phone": null}, "orders_to_redact": []}`))
	requireNowhere(t, e.db, []string{redactEmail, redactName, redactPhoneSp}, "")
	st, _ := e.inbox(id)
	require.JSONEq(t, `{"redacted": true, "topic": "checkouts/update"}`, st.Payload)
}

func TestCustomerRedactRejectsUnusablePayloads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const shopA = "bad-redact.myshopify.com"
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e.installShop(shopA, t0.Add(-time.Hour))
	keep := e.deliver(shopA, "customers/create", t0, customerCreatePayload(redactID, redactEmail, redactPhone, redactName))
	for name, payload := range map[string]string{
		"no customer":   `{"shop_id": 1, "shop_domain": "` + shopA + `", "customer": {"id": null, "email": null, "phone": null}, "orders_to_redact": []}`,
		"other shop":    customerRedactPayload("someone-else.myshopify.com", redactID, redactEmail, redactPhone, ""),
		"float id":      `{"shop_domain": "` + shopA + `", "customer": {"id": 1.5e3}}`,
		"not an object": `[1, 2]`,
	} {
		id := e.deliver(shopA, "customers/redact", t0, payload)
		st, _ := e.inbox(id)
		require.Equal(t, "failed", st.Status, name)
		require.NotNil(t, st.LastError, name)
		// Errors are stored and logged: they must not quote the payload.
		require.NotContains(t, *st.LastError, redactEmail, name)
	}
	st, _ := e.inbox(keep)
	require.True(t, strings.Contains(st.Payload, redactEmail), "a rejected redact must not touch data")
}

// dispatchOne records and processes one delivery and returns the
// dispatcher's error.
func (e *env) dispatchOne(shopDomain, topic string, at time.Time, payload string) error {
	e.t.Helper()
	_, batch := e.record(shopDomain, topic, at, payload)
	return e.dispatch(batch)
}
