package webhook_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/webhook"
)

// checkoutAt is the sample checkout, updated at the given time.
func checkoutAt(t *testing.T, at string, changes map[string]any) []byte {
	c := map[string]any{"updated_at": at, "created_at": "2026-03-02T09:00:00Z", "buyer_accepts_marketing": true}
	for k, v := range changes {
		c[k] = v
	}
	return fixture(t, "webhook_checkouts_create.json", c)
}

func orderAt(t *testing.T, at string, changes map[string]any) []byte {
	c := map[string]any{"created_at": at, "processed_at": at, "updated_at": at, "cancelled_at": nil,
		"email": "example@email.com", "checkout_token": "123123123", "cart_token": "eeafa272cebfd4b22385bc4b645e762c"}
	for k, v := range changes {
		c[k] = v
	}
	return fixture(t, "webhook_orders_create.json", c)
}

func TestCheckoutThenOrderSendsNoReminder(t *testing.T) {
	b := newCommerce(t)
	b.mustDeliver("checkouts/create", checkoutAt(t, "2026-03-02T10:00:00Z", nil), ts("2026-03-02T10:00:01Z"))
	c := b.contact("example@email.com") // the checkout's own email, not the customer record's
	require.Equal(t, int64(603851970716743400), *c.CustomerID)
	require.Equal(t, contact.Subscribed, c.Consent, "buyer_accepts_marketing")
	require.Equal(t, []string{"checkout_abandonment:active:"}, b.flows(c.ID))

	b.mustDeliver("orders/create", orderAt(t, "2026-03-02T10:40:00Z", nil), ts("2026-03-02T10:40:01Z"))
	b.mustDeliver("orders/paid", orderAt(t, "2026-03-02T10:40:00Z", map[string]any{"updated_at": "2026-03-02T10:41:00Z"}), ts("2026-03-02T10:41:01Z"))
	require.Equal(t, []string{"checkout_abandonment:exited:purchased", "post_purchase:active:", "replenishment:active:"}, b.flows(c.ID),
		"orders/paid after orders/create starts nothing twice")
	b.runUntil(ts("2026-03-06T10:00:00Z"))
	require.NotContains(t, b.templates(), "checkout/1")
	require.Contains(t, b.templates(), "post_purchase/first/thanks")
	require.Equal(t, 1, b.contact("example@email.com").OrdersCount)
}

func TestOrderArrivingBeforeItsCheckoutStartsNoAbandonment(t *testing.T) {
	b := newCommerce(t)
	b.mustDeliver("orders/create", orderAt(t, "2026-03-02T10:40:00Z", nil), ts("2026-03-02T10:40:01Z"))
	// The checkout update from 10:30 is delivered late.
	b.mustDeliver("checkouts/update", checkoutAt(t, "2026-03-02T10:30:00Z", nil), ts("2026-03-02T10:30:00Z"))
	c := b.contact("example@email.com")
	require.Equal(t, []string{"post_purchase:active:", "replenishment:active:"}, b.flows(c.ID))
}

func TestOlderCheckoutUpdateIsIgnored(t *testing.T) {
	b := newCommerce(t)
	b.mustDeliver("checkouts/update", checkoutAt(t, "2026-03-02T10:20:00Z", nil), ts("2026-03-02T10:20:00Z"))
	b.mustDeliver("checkouts/update", checkoutAt(t, "2026-03-02T10:10:00Z", map[string]any{"email": "someone@else.com"}), ts("2026-03-02T10:10:00Z"))
	c := b.contact("example@email.com")
	ens, err := b.eng.Enrollments(b.ctx, b.shopID, c.ID)
	require.NoError(t, err)
	require.Len(t, ens, 1)
	require.Equal(t, ts("2026-03-02T11:20:00Z"), ens[0].NextRunAt.UTC(), "timed from the newest update")
	_, err = b.contacts.ByEmail(b.ctx, b.shopID, "someone@else.com")
	require.ErrorIs(t, err, contact.ErrNotFound, "the stale payload changed nothing")
}

func TestCheckoutWithoutEmailIsTrackedNotEnrolled(t *testing.T) {
	b := newCommerce(t)
	b.mustDeliver("checkouts/create", checkoutAt(t, "2026-03-02T10:00:00Z", map[string]any{"email": nil, "customer": nil}), ts("2026-03-02T10:00:00Z"))
	var n int64
	require.NoError(t, b.db.Raw(`SELECT count(*) FROM contacts`).Scan(&n).Error)
	require.Zero(t, n)
	// The same checkout gets an email: now it is a checkout abandonment.
	b.mustDeliver("checkouts/update", checkoutAt(t, "2026-03-02T10:05:00Z", map[string]any{"customer": nil}), ts("2026-03-02T10:05:00Z"))
	require.Equal(t, []string{"checkout_abandonment:active:"}, b.flows(b.contact("example@email.com").ID))
}

func TestCheckoutDeleteStopsReminders(t *testing.T) {
	b := newCommerce(t)
	b.mustDeliver("checkouts/create", checkoutAt(t, "2026-03-02T10:00:00Z", map[string]any{"id": 981820079255243500}), ts("2026-03-02T10:00:00Z"))
	b.mustDeliver("checkouts/delete", fixture(t, "webhook_checkouts_delete.json", nil), ts("2026-03-02T10:10:00Z"))
	require.Equal(t, []string{"checkout_abandonment:exited:emptied"}, b.flows(b.contact("example@email.com").ID))
}

func TestBadCommerceDeliveries(t *testing.T) {
	b := newCommerce(t)
	tests := []struct {
		desc, topic   string
		payload       []byte
		noTrigger     bool
		wantPermanent bool
	}{
		{desc: "malformed json", topic: "orders/create", payload: []byte(`{"id": `), wantPermanent: true},
		{desc: "float id", topic: "orders/create", payload: []byte(`{"id": 1.5}`), wantPermanent: true},
		{desc: "order without id", topic: "orders/create", payload: []byte(`{"email": "a@b.co"}`), wantPermanent: true},
		{desc: "no time at all", topic: "checkouts/update", payload: []byte(`{"token": "t", "email": "a@b.co"}`), noTrigger: true, wantPermanent: true},
		{desc: "unknown consent state", topic: "customers_email_marketing_consent/update",
			payload: []byte(`{"customer_id": 1, "email_address": "a@b.co", "email_marketing_consent": {"state": "maybe"}}`), wantPermanent: true},
		{desc: "checkout without token", topic: "checkouts/update", payload: []byte(`{"email": "a@b.co", "updated_at": "2026-03-02T10:00:00Z"}`)},
		{desc: "order with nobody", topic: "orders/create", payload: []byte(`{"id": 5, "created_at": "2026-03-02T10:00:00Z"}`)},
		{desc: "consent naming nobody", topic: "customers_email_marketing_consent/update",
			payload: []byte(`{"email_marketing_consent": {"state": "subscribed", "consent_updated_at": "2026-03-02T10:00:00Z"}}`)},
		{desc: "empty object", topic: "carts/update", payload: []byte(`{}`)},
	}
	for _, tt := range tests {
		at := ts("2026-03-02T10:00:00Z")
		if tt.noTrigger {
			at = time.Time{}
		}
		err := b.deliver(tt.topic, tt.payload, at)
		if tt.wantPermanent {
			require.ErrorIs(t, err, webhook.ErrPermanent, tt.desc)
		} else {
			require.NoError(t, err, tt.desc)
		}
	}
	var n int64
	require.NoError(t, b.db.Raw(`SELECT count(*) FROM enrollments`).Scan(&n).Error)
	require.Zero(t, n)
	require.Empty(t, b.templates())
}

func TestUnknownAndUninstalledShopsAreIgnored(t *testing.T) {
	b := newCommerce(t)
	b.domain = "nobody.myshopify.com"
	require.NoError(t, b.deliver("checkouts/create", checkoutAt(t, "2026-03-02T10:00:00Z", nil), ts("2026-03-02T10:00:00Z")))
	var gone string
	require.NoError(t, b.db.Raw(`INSERT INTO shops (domain, uninstalled_at) VALUES ('gone.myshopify.com', now()) RETURNING domain`).Scan(&gone).Error)
	b.domain = gone
	require.NoError(t, b.deliver("orders/create", orderAt(t, "2026-03-02T10:00:00Z", nil), ts("2026-03-02T10:00:00Z")))
	var n int64
	require.NoError(t, b.db.Raw(`SELECT count(*) FROM contacts`).Scan(&n).Error)
	require.Zero(t, n)
}
