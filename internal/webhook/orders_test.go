package webhook_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOrderFulfilledAndCancelled(t *testing.T) {
	b := newCommerce(t)
	b.mustDeliver("orders/create", orderAt(t, "2026-03-02T10:00:00Z", nil), ts("2026-03-02T10:00:00Z"))
	c := b.contact("example@email.com")
	require.Equal(t, []string{"post_purchase:active:", "replenishment:active:"}, b.flows(c.ID))
	require.Equal(t, 1, c.OrdersCount)

	b.runUntil(ts("2026-03-10T00:00:00Z"))
	ens, err := b.eng.Enrollments(b.ctx, b.shopID, c.ID)
	require.NoError(t, err)
	require.Equal(t, "fulfilment", ens[0].WaitingFor, "the review request waits for fulfilment")

	b.mustDeliver("orders/fulfilled", orderAt(t, "2026-03-02T10:00:00Z", map[string]any{"updated_at": "2026-03-10T09:00:00Z", "fulfillment_status": "fulfilled"}),
		ts("2026-03-10T09:00:00Z"))
	ens, err = b.eng.Enrollments(b.ctx, b.shopID, c.ID)
	require.NoError(t, err)
	require.Equal(t, ts("2026-03-15T10:00:00Z"), ens[0].NextRunAt.UTC(), "5 days after fulfilment at 10:00")

	b.mustDeliver("orders/cancelled", orderAt(t, "2026-03-02T10:00:00Z", map[string]any{"updated_at": "2026-03-11T09:00:00Z", "cancelled_at": "2026-03-11T09:00:00Z"}),
		ts("2026-03-11T09:00:00Z"))
	require.Equal(t, []string{"post_purchase:exited:order_cancelled", "replenishment:exited:order_cancelled"}, b.flows(c.ID))
	require.Equal(t, 0, b.contact("example@email.com").OrdersCount)
}

func TestAnonymousOrderIsAttributedLater(t *testing.T) {
	b := newCommerce(t)
	b.mustDeliver("orders/create", orderAt(t, "2026-03-02T10:00:00Z", map[string]any{"email": nil, "contact_email": nil, "customer": nil}), ts("2026-03-02T10:00:00Z"))
	var n int64
	require.NoError(t, b.db.Raw(`SELECT count(*) FROM contact_orders WHERE contact_id IS NULL`).Scan(&n).Error)
	require.Equal(t, int64(1), n)
	// The checkout that carried the same tokens names the shopper.
	b.mustDeliver("checkouts/update", checkoutAt(t, "2026-03-02T09:50:00Z", nil), ts("2026-03-02T09:50:00Z"))
	c := b.contact("example@email.com")
	require.Equal(t, 1, c.OrdersCount)
	require.Empty(t, b.flows(c.ID), "the checkout was already bought: no abandonment")
}
