package webhook_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/contact"
)

func consentAt(t *testing.T, state, at string) []byte {
	return fixture(t, "webhook_customers_email_marketing_consent_update.json", map[string]any{
		"email_marketing_consent": map[string]any{"state": state, "opt_in_level": "single_opt_in", "consent_updated_at": at}})
}

func TestConsentWebhooksInTimestampOrder(t *testing.T) {
	b := newCommerce(t)
	b.mustDeliver("customers/create", fixture(t, "webhook_customers_create.json", map[string]any{"updated_at": "2026-03-02T09:00:00Z"}), ts("2026-03-02T09:00:00Z"))
	c := b.contact("bob@biller.com")
	require.Equal(t, int64(706405506930370000), *c.CustomerID)
	require.Equal(t, contact.NotSubscribed, c.Consent)

	b.mustDeliver("customers_email_marketing_consent/update", consentAt(t, "subscribed", "2026-03-02T10:00:00Z"), ts("2026-03-02T10:00:00Z"))
	require.Equal(t, []string{"welcome:active:"}, b.flows(c.ID))
	b.runUntil(ts("2026-03-02T10:00:00Z"))
	// An unsubscribe older than the subscription arrives late: ignored.
	b.mustDeliver("customers_email_marketing_consent/update", consentAt(t, "unsubscribed", "2026-03-02T09:30:00Z"), ts("2026-03-02T09:30:00Z"))
	require.Equal(t, contact.Subscribed, b.contact("bob@biller.com").Consent)
	require.Equal(t, []string{"welcome:active:"}, b.flows(c.ID))
	// A newer one ends every flow at once.
	b.mustDeliver("customers_email_marketing_consent/update", consentAt(t, "UNSUBSCRIBED", "2026-03-02T11:00:00Z"), ts("2026-03-02T11:00:00Z"))
	require.Equal(t, []string{"welcome:exited:unsubscribed"}, b.flows(c.ID))
	b.runUntil(ts("2026-03-10T00:00:00Z"))
	require.Equal(t, []string{"welcome/new/1"}, b.templates(), "only the email sent while subscribed")
}

func TestConsentWithoutTimestampUsesTriggeredAt(t *testing.T) {
	b := newCommerce(t)
	// The sample has consent_updated_at null.
	b.mustDeliver("customers_email_marketing_consent/update", fixture(t, "webhook_customers_email_marketing_consent_update.json", nil), ts("2026-03-02T10:00:00Z"))
	c := b.contact("bob@biller.com")
	require.Equal(t, contact.NotSubscribed, c.Consent)
	require.Equal(t, ts("2026-03-02T10:00:00Z"), c.ConsentUpdatedAt.UTC())
}

func TestCustomerUpdatesOutOfOrderAndDelete(t *testing.T) {
	b := newCommerce(t)
	b.mustDeliver("customers/update", fixture(t, "webhook_customers_update.json", map[string]any{"updated_at": "2026-03-02T10:00:00Z", "first_name": "Robert"}), ts("2026-03-02T10:00:00Z"))
	b.mustDeliver("customers/update", fixture(t, "webhook_customers_update.json", map[string]any{"updated_at": "2026-03-02T09:00:00Z", "first_name": "Bobby"}), ts("2026-03-02T09:00:00Z"))
	c := b.contact("bob@biller.com")
	require.Equal(t, "Robert", c.FirstName)

	// The 2024-10 payload still carries consent: applied, and welcome starts.
	b.mustDeliver("customers/update", fixture(t, "webhook_customers_create_2024-10.json", map[string]any{"email": "bob@biller.com",
		"updated_at": "2026-03-02T11:00:00Z", "email_marketing_consent": map[string]any{"state": "subscribed", "consent_updated_at": "2026-03-02T11:00:00Z"}}),
		ts("2026-03-02T11:00:00Z"))
	require.Equal(t, []string{"welcome:active:"}, b.flows(c.ID))

	b.mustDeliver("customers/delete", fixture(t, "webhook_customers_delete.json", nil), ts("2026-03-02T12:00:00Z"))
	got := b.contact("bob@biller.com")
	require.Nil(t, got.CustomerID)
	require.Equal(t, []string{"welcome:exited:customer_deleted"}, b.flows(c.ID))
}
