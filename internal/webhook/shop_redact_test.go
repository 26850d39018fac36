package webhook_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestShopRedactErasesTheShop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const gone, kept = "erase-me.myshopify.com", "keep-shop.myshopify.com"
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{gone, kept} {
		e.installShop(s, t0.Add(-24*time.Hour))
		require.NoError(t, e.db.Exec(`INSERT INTO oauth_states (nonce, shop, expires_at) VALUES (?, ?, ?)`,
			"nonce-"+s, s, t0.Add(time.Hour)).Error)
		e.deliver(s, "customers/create", t0, customerCreatePayload(redactID, redactEmail, redactPhone, redactName))
		e.deliver(s, "orders/create", t0, orderPayload(redactOrderID, redactID, redactEmail, redactName))
		require.NoError(t, e.dispatchOne(s, "customers/data_request", t0,
			dataRequestPayload(s, redactID, redactEmail, redactPhone, redactOrderID, 4242)))
	}
	require.NoError(t, e.dispatchOne(gone, "app/uninstalled", t0.Add(time.Hour), `{"id": 548380009, "name": "Super Toys"}`))
	needles := []string{gone, "owner@erase-me.test", "nonce-" + gone, redactID, redactEmail, redactPhone, redactName, redactOrderID}
	requireSomewhere(t, e.db, needles)
	keptBefore := snapshot(t, e.db, kept)

	redact := shopRedactPayload(gone)
	require.NoError(t, e.dispatchOne(gone, "shop/redact", t0.Add(49*time.Hour), redact))

	requireNowhere(t, e.db, needles, kept)
	require.Equal(t, keptBefore, snapshot(t, e.db, kept), "another shop must be untouched")

	// Shopify retrying it (our 200 lost) is harmless.
	require.NoError(t, e.dispatchOne(gone, "shop/redact", t0.Add(50*time.Hour), redact))
	requireNowhere(t, e.db, needles, kept)
}

func TestShopRedactRefusesAnInstalledShop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const s = "came-back.myshopify.com"
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e.installShop(s, t0) // reinstalled after the uninstall that scheduled the redact
	keep := e.deliver(s, "customers/create", t0, customerCreatePayload(redactID, redactEmail, redactPhone, redactName))

	id := e.deliver(s, "shop/redact", t0.Add(time.Hour), shopRedactPayload(s))
	st, ok := e.inbox(id)
	require.True(t, ok)
	require.Equal(t, "failed", st.Status)
	require.Contains(t, *st.LastError, "installed")
	_, ok = e.inbox(keep)
	require.True(t, ok)
	got, err := e.store.Get(t.Context(), s)
	require.NoError(t, err)
	require.True(t, got.Installed())
}
