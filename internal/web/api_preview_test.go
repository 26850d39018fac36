package web

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// A test email comes from where the shop's real emails come from: the app's
// MAIL_FROM until Resend verifies the shop's own domain, then that domain,
// with the name the merchant set in the language of the test.
func TestTestEmailUsesTheShopsSenderIdentity(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	code, _ := env.call(t, shopA, http.MethodPut, "/api/settings", validSettings())
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, env.db.Exec(`INSERT INTO mail_sending_domains (shop_id, domain, resend_id, status)
VALUES (?, 'mail.alpha.test', 'rd-alpha', 'pending')`, env.shopA.ID).Error)
	// Shop B's verified domain is no business of shop A's emails.
	require.NoError(t, env.db.Exec(`INSERT INTO mail_sending_domains (shop_id, domain, resend_id, status)
VALUES (?, 'mail.beta.test', 'rd-beta', 'verified')`, env.shopB.ID).Error)

	send := func(locale string) string {
		t.Helper()
		req := map[string]any{"flow": "checkout_abandonment", "step": "reminder-1", "subject": "Hello", "body": "<p>Hi</p>",
			"locale": locale, "to": "bonjour@alpha.test"}
		code, got := env.call(t, shopA, http.MethodPost, "/api/test-email", req)
		require.Equal(t, http.StatusAccepted, code, "%v", got)
		// The admin API does not show the From; the outbox keeps it.
		e, err := env.deps.Outbox.Get(context.Background(), env.shopA.ID, int64(got["id"].(float64)))
		require.NoError(t, err)
		return e.From
	}
	require.Equal(t, "Claire from Maison Alpha <hello@relance.example>", send("en"), "domain pending: the app's address")

	require.NoError(t, env.db.Exec(`UPDATE mail_sending_domains SET status = 'verified' WHERE shop_id = ?`, env.shopA.ID).Error)
	require.Equal(t, "Claire from Maison Alpha <hello@mail.alpha.test>", send("en"))
	require.Equal(t, "Claire de Maison Alpha <hello@mail.alpha.test>", send("fr"))
}

// The preview of an offer step shows the tier the merchant's table gives the
// sample cart (96.00), not a fixed sample offer; a step without an offer, or
// a cart no tier covers, shows none, as a real send would.
func TestPreviewShowsTheStepsDiscountTier(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	env.withDiscounts(t)
	preview := func(step string) string {
		t.Helper()
		req := map[string]any{"flow": "cart_abandonment", "step": step, "locale": "en",
			"subject": "Offer", "body": "<p>[{{ discount.code }}|{{ discount.value }}]</p>"}
		code, got := env.call(t, shopA, http.MethodPost, "/api/preview", req)
		require.Equal(t, http.StatusOK, code, "%v", got)
		return got["text"].(string)
	}
	require.Contains(t, preview("reminder-3"), "[OFFER-PREVIEW|10%", "the default offer until tiers are set")
	require.Contains(t, preview("reminder-1"), "[|]", "the first reminder carries no offer")

	code, got := env.call(t, shopA, http.MethodPut, cartOffer, tiersBody(
		map[string]any{"from": "0", "to": "50", "kind": "percentage", "percent": 5, "amount": "", "minimum": ""},
		map[string]any{"from": "50", "to": nil, "kind": "fixed_amount", "percent": 0, "amount": "15", "minimum": ""},
	))
	require.Equal(t, http.StatusOK, code, "%v", got)
	text := preview("reminder-3")
	require.Contains(t, text, "[MERCI-PREVIEW|", "the table's prefix")
	require.Contains(t, text, "15", "the 50+ tier for a 96.00 cart")
	require.NotContains(t, text, "5%")

	code, got = env.call(t, shopA, http.MethodPut, cartOffer, tiersBody(
		map[string]any{"from": "200", "to": nil, "kind": "free_shipping", "percent": 0, "amount": "", "minimum": ""},
	))
	require.Equal(t, http.StatusOK, code, "%v", got)
	require.Contains(t, preview("reminder-3"), "[|]", "no tier covers a 96.00 cart")
}
