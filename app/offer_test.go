package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/mail"
)

// The checkout ladder's third reminder is the offer: the courier has the
// stand-in create one discount code, restricted to the checkout's customer,
// and the email carries it.
func TestCheckoutOfferCarriesDiscountCode(t *testing.T) {
	t.Parallel()
	// Reminders at 1 h, +23 h and +48 h: 72 h → 2.6 s, the largest scale;
	// the journey pump (every second) adds the rest.
	a := MustRunMainEnv(t, map[string]string{"TIME_SCALE": "100000"})
	const domain = "hotel.myshopify.com"
	const customer = "gid://shopify/Customer/4343"
	shopID := a.enableFlow(t, domain, flow.Checkout)
	a.store.AddCustomer(domain, customer) // the stand-in now refuses any other customer

	at := time.Now().UTC().Truncate(time.Second)
	require.Equal(t, http.StatusOK, a.postWebhook(t, domain, "checkouts/create", "w-co-offer", at,
		checkoutPayload("tok-offer", "lou@example.org", 4343, at)))

	eventually(t, "the third reminder in the outbox", func() bool { return a.outboxCount(t, shopID) == 3 })
	var offer *mail.OutboxEmail
	boxes, err := a.c.outbox.List(context.Background(), shopID, 10)
	require.NoError(t, err)
	for _, b := range boxes {
		if b.Tags["step"] == "reminder-3" {
			offer, err = a.c.outbox.Get(context.Background(), shopID, b.ID)
			require.NoError(t, err)
		} else {
			require.Contains(t, []string{"reminder-1", "reminder-2"}, b.Tags["step"])
		}
	}
	require.NotNil(t, offer, "the offer email")

	// Exactly one code for this enrollment and step, at Shopify and in the
	// database, restricted to the customer, and it is the one in the email.
	enrollment := a.scalar(t, `SELECT id::text FROM enrollments WHERE shop_id = ? AND flow_key = ?`, shopID, flow.Checkout)
	require.NotEmpty(t, enrollment)
	codes := a.store.DiscountCodes(domain)
	require.Len(t, codes, 1)
	c := codes[0]
	require.Equal(t, fmt.Sprintf("Relance reminder-3 #%s", enrollment), c.Title)
	require.Equal(t, map[string]any{"customers": map[string]any{"add": []any{customer}}}, c.Input["context"])
	require.Equal(t, float64(1), c.Input["usageLimit"])
	require.Equal(t, c.Code, a.scalar(t, `SELECT string_agg(code, ',') FROM discount_codes WHERE shop_id = ? AND enrollment_id = ? AND step = 'reminder-3'`,
		shopID, enrollment))
	require.Equal(t, c.ID, a.scalar(t, `SELECT shopify_id FROM discount_codes WHERE shop_id = ?`, shopID))
	require.Contains(t, offer.HTML, c.Code)
	require.Contains(t, offer.Text, c.Code)

	// The first two reminders carry no code.
	for _, b := range boxes {
		if b.ID == offer.ID {
			continue
		}
		e, err := a.c.outbox.Get(context.Background(), shopID, b.ID)
		require.NoError(t, err)
		require.NotContains(t, e.HTML, c.Code)
	}
}
