package webhook_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/contact"
)

func cartAt(t *testing.T, token, at string, items bool) []byte {
	c := map[string]any{"id": token, "token": token, "updated_at": at, "created_at": "2026-03-02T09:00:00Z"}
	if !items {
		c["line_items"] = []any{}
	}
	return fixture(t, "webhook_carts_update.json", c)
}

func TestAnonymousCartStartsAbandonmentOnceIdentified(t *testing.T) {
	b := newCommerce(t)
	b.mustDeliver("carts/update", cartAt(t, "cart-9", "2026-03-02T10:00:00Z", true), ts("2026-03-02T10:00:00Z"))
	var n int64
	require.NoError(t, b.db.Raw(`SELECT count(*) FROM enrollments`).Scan(&n).Error)
	require.Zero(t, n, "nobody to remind yet")

	// A logged-in pixel event ties the cart to a subscriber 5 minutes later.
	c, err := b.contacts.Upsert(b.ctx, b.shopID, contact.Profile{Email: "ann@example.com"})
	require.NoError(t, err)
	require.NoError(t, b.eng.Identify(b.ctx, b.shopID, c.ID, contact.Cart, "cart-9"))
	ens, err := b.eng.Enrollments(b.ctx, b.shopID, c.ID)
	require.NoError(t, err)
	require.Len(t, ens, 1)
	require.Equal(t, ts("2026-03-02T10:00:00Z"), ens[0].TriggerAt.UTC(), "attributed from when the cart was updated")

	// Later updates of the known cart follow it; emptying it ends the flow.
	b.mustDeliver("carts/update", cartAt(t, "cart-9", "2026-03-02T10:20:00Z", true), ts("2026-03-02T10:20:00Z"))
	b.mustDeliver("carts/update", cartAt(t, "cart-9", "2026-03-02T10:10:00Z", false), ts("2026-03-02T10:10:00Z")) // stale: ignored
	require.Equal(t, []string{"cart_abandonment:active:"}, b.flows(c.ID))
	b.mustDeliver("carts/update", cartAt(t, "cart-9", "2026-03-02T10:30:00Z", false), ts("2026-03-02T10:30:00Z"))
	require.Equal(t, []string{"cart_abandonment:exited:emptied"}, b.flows(c.ID))
}

func TestCartThenCheckoutOneSequence(t *testing.T) {
	b := newCommerce(t)
	c, err := b.contacts.Upsert(b.ctx, b.shopID, contact.Profile{Email: "example@email.com"})
	require.NoError(t, err)
	_, err = b.contacts.SetConsent(b.ctx, b.shopID, c.ID, contact.Subscribed, ts("2026-03-01T00:00:00Z"), "test")
	require.NoError(t, err)
	_, err = b.contacts.Link(b.ctx, b.shopID, c.ID, contact.Cart, "eeafa272cebfd4b22385bc4b645e762c")
	require.NoError(t, err)
	b.mustDeliver("carts/update", cartAt(t, "eeafa272cebfd4b22385bc4b645e762c", "2026-03-02T10:00:00Z", true), ts("2026-03-02T10:00:00Z"))
	b.mustDeliver("checkouts/create", checkoutAt(t, "2026-03-02T10:30:00Z", nil), ts("2026-03-02T10:30:00Z"))
	require.Equal(t, []string{"cart_abandonment:exited:moved_up", "checkout_abandonment:active:"}, b.flows(c.ID))
	b.runUntil(ts("2026-03-06T12:00:00Z"))
	require.Equal(t, []string{"checkout/1", "checkout/2", "checkout/3"}, b.templates())
}
