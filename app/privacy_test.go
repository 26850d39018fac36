package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/flow"
)

// tablesMentioning lists every table of the public schema with a row whose
// text contains one of needles: erasure is proven by looking, so the check
// keeps guarding as later work adds tables.
func (a *testApp) tablesMentioning(t *testing.T, needles ...string) []string {
	t.Helper()
	var tables []string
	require.NoError(t, a.DB.Raw(`SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`).Scan(&tables).Error)
	var found []string
	for _, table := range tables {
		for _, n := range needles {
			var hits int
			q := fmt.Sprintf(`SELECT count(*) FROM %q t WHERE position(lower(?) in lower(t::text)) > 0`, table)
			require.NoError(t, a.DB.Raw(q, n).Scan(&hits).Error)
			if hits > 0 {
				found = append(found, fmt.Sprintf("%s (%q ×%d)", table, n, hits))
			}
		}
	}
	return found
}

// Invariant 7 through the whole process: a shopper's data reaches contacts,
// consent, enrollments, decisions, messages, the outbox and the inbox through
// real traffic; customers/redact erases it everywhere; another shopper of the
// same shop keeps theirs.
func TestCustomerRedactErasesEveryCopy(t *testing.T) {
	t.Parallel()
	a := MustRunMainEnv(t, map[string]string{"TIME_SCALE": "3600"})
	const domain = "golf.myshopify.com"
	shopID := a.enableFlow(t, domain, flow.Checkout)

	const email, phone, customerID = "redact.me@example.org", "+33611223344", int64(777001)
	const otherEmail = "keep.me@example.org"
	at := time.Now().UTC().Truncate(time.Second)
	customer := func(id int64, mail string) []byte {
		return []byte(fmt.Sprintf(`{"id":%d,"email":%q,"phone":%q,"first_name":"Anne","last_name":"Onyme","created_at":%q,"updated_at":%q}`,
			id, mail, phone, at.Format(time.RFC3339), at.Format(time.RFC3339)))
	}
	require.Equal(t, http.StatusOK, a.postWebhook(t, domain, "customers/create", "w-c1", at, customer(customerID, email)))
	require.Equal(t, http.StatusOK, a.postWebhook(t, domain, "customers/create", "w-c2", at, customer(customerID+1, otherEmail)))
	require.Equal(t, http.StatusOK, a.postWebhook(t, domain, "checkouts/create", "w-co-r", at, checkoutPayload("tok-r", email, customerID, at)))
	require.Equal(t, http.StatusOK, a.postWebhook(t, domain, "checkouts/create", "w-co-k", at, checkoutPayload("tok-k", otherEmail, customerID+1, at)))
	eventually(t, "both first reminders sent", func() bool { return a.outboxCount(t, shopID) >= 2 })

	before := a.tablesMentioning(t, email)
	require.GreaterOrEqual(t, len(before), 4, "the shopper is copied into several tables first: %v", before)

	redact := []byte(fmt.Sprintf(`{"shop_id":1,"shop_domain":%q,"customer":{"id":%d,"email":%q,"phone":%q},"orders_to_redact":[]}`,
		domain, customerID, email, phone))
	require.Equal(t, http.StatusOK, a.postWebhook(t, domain, "customers/redact", "w-redact", time.Now(), redact))
	eventually(t, "the redaction processed", func() bool {
		return a.scalar(t, `SELECT status FROM webhook_inbox WHERE webhook_id = 'w-redact'`) == "done"
	})
	left := a.tablesMentioning(t, email, phone, fmt.Sprint(customerID), "tok-r")
	require.Empty(t, left, "personal data left after customers/redact")
	kept := strings.Join(a.tablesMentioning(t, otherEmail), ",")
	for _, table := range []string{"contacts", "webhook_inbox", "mail_outbox"} {
		require.Contains(t, kept, table, "the other shopper is untouched")
	}
}
