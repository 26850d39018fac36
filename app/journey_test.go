package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/mail"
	"github.com/relance/relance/internal/mail/resendtest"
)

// consentCalls records the customerEmailMarketingConsentUpdate calls that
// reach the Shopify stand-in.
type consentCalls struct {
	mu    sync.Mutex
	calls []map[string]any
	shops []string
}

func (c *consentCalls) handle(a *testApp) {
	a.store.HandleGraphQL("customerEmailMarketingConsentUpdate", 10, func(shop string, vars map[string]any) (any, error) {
		c.mu.Lock()
		c.calls = append(c.calls, vars)
		c.shops = append(c.shops, shop)
		c.mu.Unlock()
		input, _ := vars["input"].(map[string]any)
		return map[string]any{"customer": map[string]any{"id": input["customerId"]}, "userErrors": []any{}}, nil
	})
}

func (c *consentCalls) snapshot() ([]map[string]any, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.calls...), append([]string(nil), c.shops...)
}

// enableCheckoutFlow installs a shop and switches checkout abandonment on.
func (a *testApp) enableFlow(t *testing.T, domain string, key flow.Key) int64 {
	t.Helper()
	a.install(t, domain)
	sh, err := a.c.shops.Get(context.Background(), domain)
	require.NoError(t, err)
	require.NoError(t, a.c.engine.Flows().EnsureDefaults(context.Background(), sh.ID))
	require.NoError(t, a.c.engine.Flows().SetEnabled(context.Background(), sh.ID, key, true))
	return sh.ID
}

func checkoutPayload(token, email string, customerID int64, at time.Time) []byte {
	return []byte(fmt.Sprintf(`{
  "id": 901, "token": %q, "cart_token": "cart-%s", "email": %q, "buyer_accepts_marketing": true,
  "created_at": %q, "updated_at": %q, "completed_at": null, "customer_locale": "en-US", "presentment_currency": "EUR",
  "abandoned_checkout_url": "https://checkout.example/recover?key=k1&token=%s",
  "total_price": "64.00",
  "line_items": [
    {"product_id": 11, "variant_id": 111, "quantity": 2, "title": "Linen shirt <deluxe>", "variant_title": "M / Blue", "price": "25.00"},
    {"product_id": 12, "variant_id": 121, "quantity": 1, "title": "Canvas tote", "variant_title": "Default Title", "price": "14.00"}
  ],
  "customer": {"id": %d, "email": %q, "first_name": "Camille"}
}`, token, token, email, at.Format(time.RFC3339), at.Format(time.RFC3339), token, customerID, email))
}

func (a *testApp) outboxCount(t *testing.T, shopID int64) int {
	t.Helper()
	var n int
	require.NoError(t, a.DB.Raw(`SELECT count(*) FROM mail_outbox WHERE shop_id = ?`, shopID).Scan(&n).Error)
	return n
}

var unsubscribeLink = regexp.MustCompile(`href="(http://[^"]+/u/[A-Za-z0-9_-]+)"`)

// A checkout with an email becomes the first reminder in the outbox, with
// its recovery link, lines and RFC 8058 headers; the one-click unsubscribe
// stops everything and is written back to Shopify.
func TestCheckoutReminderThenOneClickUnsubscribe(t *testing.T) {
	t.Parallel()
	a := MustRunMainEnv(t, map[string]string{"TIME_SCALE": "3600"}) // 1 h → 1 s
	calls := &consentCalls{}
	calls.handle(a)
	const domain = "echo.myshopify.com"
	shopID := a.enableFlow(t, domain, flow.Checkout)

	at := time.Now().UTC().Truncate(time.Second)
	require.Equal(t, http.StatusOK, a.postWebhook(t, domain, "checkouts/create", "w-co-1", at,
		checkoutPayload("tok-1", "camille@example.org", 4242, at)))

	eventually(t, "the first reminder in the outbox", func() bool { return a.outboxCount(t, shopID) == 1 })
	boxes, err := a.c.outbox.List(context.Background(), shopID, 10)
	require.NoError(t, err)
	email, err := a.c.outbox.Get(context.Background(), shopID, boxes[0].ID)
	require.NoError(t, err)

	require.Equal(t, "camille@example.org", email.To)
	require.Equal(t, `"Shop echo.myshopify.com" <hello@127.0.0.1>`, email.From, "the shop's name at the app's sending address")
	require.Equal(t, "owner@"+domain, email.ReplyTo)
	require.Contains(t, email.Subject, "Shop echo.myshopify.com")
	// The recovery link is tracked (/r/:token) and leads to the same path on the shop's domain.
	require.NotContains(t, email.HTML, html.EscapeString("https://checkout.example/recover?key=k1&token=tok-1"))
	require.Contains(t, email.HTML, a.URL()+"/r/", "recovery link, tracked")
	require.Contains(t, email.HTML, "Linen shirt &lt;deluxe&gt;", "lines, escaped")
	require.Contains(t, email.HTML, "M / Blue")
	require.Contains(t, email.HTML, "Camille")
	require.Equal(t, "List-Unsubscribe=One-Click", email.Headers["List-Unsubscribe-Post"])
	oneClick := strings.TrimSuffix(strings.TrimPrefix(email.Headers["List-Unsubscribe"], "<"), ">")
	require.True(t, strings.HasPrefix(oneClick, a.URL()+"/u/"), oneClick)
	m := unsubscribeLink.FindStringSubmatch(email.HTML)
	require.NotNil(t, m, "a visible unsubscribe link")
	require.Equal(t, oneClick, m[1])
	require.Contains(t, email.Text, oneClick)
	require.Equal(t, "checkout_abandonment", email.Tags["flow"])

	// The visible link opens a confirm page (no change on GET).
	res, err := http.Get(oneClick)
	require.NoError(t, err)
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, string(page), "Unsubscribe me")
	require.Equal(t, "subscribed", a.scalar(t, `SELECT consent FROM contacts WHERE shop_id = ?`, shopID))

	// RFC 8058 one-click: 200, no redirect, empty body.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = client.PostForm(oneClick, url.Values{"List-Unsubscribe": {"One-Click"}})
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Empty(t, body)

	require.Equal(t, "unsubscribed", a.scalar(t, `SELECT consent FROM contacts WHERE shop_id = ?`, shopID))
	require.Equal(t, "exited/unsubscribed", a.scalar(t, `SELECT status || '/' || exit_reason FROM enrollments WHERE shop_id = ?`, shopID))
	require.Empty(t, a.scalar(t, `SELECT next_run_at::text FROM enrollments WHERE shop_id = ?`, shopID), "nothing scheduled")

	eventually(t, "the consent written back to Shopify", func() bool { c, _ := calls.snapshot(); return len(c) == 1 })
	got, shops := calls.snapshot()
	require.Equal(t, domain, shops[0])
	input := got[0]["input"].(map[string]any)
	require.Equal(t, "gid://shopify/Customer/4242", input["customerId"])
	consent := input["emailMarketingConsent"].(map[string]any)
	require.Equal(t, "UNSUBSCRIBED", consent["marketingState"])
	require.Equal(t, "SINGLE_OPT_IN", consent["marketingOptInLevel"])
	_, err = time.Parse(time.RFC3339, consent["consentUpdatedAt"].(string))
	require.NoError(t, err)

	// A later checkout update does not bring the shopper back, and nothing
	// more is sent (the second reminder would be due 23 s after the first).
	later := at.Add(2 * time.Second)
	require.Equal(t, http.StatusOK, a.postWebhook(t, domain, "checkouts/update", "w-co-2", later,
		checkoutPayload("tok-1", "camille@example.org", 4242, later)))
	eventually(t, "the update processed", func() bool {
		return a.scalar(t, `SELECT count(*)::text FROM webhook_inbox WHERE webhook_id = 'w-co-2' AND status = 'done'`) == "1"
	})
	time.Sleep(3 * time.Second)
	require.Equal(t, 1, a.outboxCount(t, shopID))
	require.Equal(t, "0", a.scalar(t, `SELECT count(*)::text FROM enrollments WHERE shop_id = ? AND status = 'active'`, shopID))
}

// An order for the checkout before the first reminder is due: no email.
func TestOrderBeforeFirstReminderSendsNothing(t *testing.T) {
	t.Parallel()
	a := MustRunMainEnv(t, map[string]string{"TIME_SCALE": "900"}) // 1 h → 4 s
	const domain = "foxtrot.myshopify.com"
	shopID := a.enableFlow(t, domain, flow.Checkout)

	at := time.Now().UTC().Truncate(time.Second)
	require.Equal(t, http.StatusOK, a.postWebhook(t, domain, "checkouts/create", "w-co", at, checkoutPayload("tok-9", "noor@example.org", 99, at)))
	eventually(t, "enrolled", func() bool {
		return a.scalar(t, `SELECT count(*)::text FROM enrollments WHERE shop_id = ? AND status = 'active'`, shopID) == "1"
	})
	ordered := at.Add(time.Second)
	order := []byte(fmt.Sprintf(`{"id": 5001, "email": "noor@example.org", "checkout_token": "tok-9", "cart_token": "cart-tok-9",
  "total_price": "64.00", "currency": "EUR", "created_at": %q, "processed_at": %q, "updated_at": %q,
  "line_items": [{"product_id": 11, "variant_id": 111, "quantity": 2, "title": "Linen shirt", "price": "25.00"}],
  "customer": {"id": 99, "email": "noor@example.org"}}`, ordered.Format(time.RFC3339), ordered.Format(time.RFC3339), ordered.Format(time.RFC3339)))
	require.Equal(t, http.StatusOK, a.postWebhook(t, domain, "orders/create", "w-order", ordered, order))
	eventually(t, "checkout abandonment exited on purchase", func() bool {
		return a.scalar(t, `SELECT status || '/' || exit_reason FROM enrollments WHERE shop_id = ? AND flow_key = ?`, shopID, flow.Checkout) ==
			"exited/purchased"
	})
	// Past the first reminder's due time: still nothing.
	time.Sleep(time.Until(at.Add(6 * time.Second)))
	require.Equal(t, 0, a.outboxCount(t, shopID))
	require.Equal(t, "0", a.scalar(t, `SELECT count(*)::text FROM journey_messages WHERE shop_id = ?`, shopID))
}

// Shopper links are refused unless signed by us, and a not-interested link
// for a checkout (a flow that cannot be left from an email) changes nothing.
func TestShopperLinkRoutes(t *testing.T) {
	t.Parallel()
	a := MustRunMain(t)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		req, _ := http.NewRequest(method, a.URL()+"/u/not-a-token", strings.NewReader("List-Unsubscribe=One-Click"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, http.StatusNotFound, res.StatusCode)
		require.Contains(t, string(b), "This link is not valid")
	}
	// A link minted with another secret is refused too.
	other, _ := mail.NewLinkSigner("not-our-secret")
	code, _ := a.get(t, "/u/"+other.Sign(mail.LinkClaims{Purpose: mail.PurposeUnsubscribe, ShopID: 1, ContactID: 1}), "")
	require.Equal(t, http.StatusNotFound, code)
	// No Resend webhook route without RESEND_WEBHOOK_SECRET: it is not the
	// Svix handler (the Shopify inbox refuses it for lack of a signature).
	res, err := http.Post(a.URL()+"/webhooks/resend", "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
}

// With RESEND_API_KEY the reminder goes through Resend (here its stand-in)
// with the message id as idempotency key and the RFC 8058 headers; Resend's
// signed delivery webhooks record opens and suppress on a hard bounce.
func TestCheckoutReminderThroughResend(t *testing.T) {
	t.Parallel()
	rs := resendtest.New(t, resendtest.Options{})
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a-32-byte-long-test-signing-key!"))
	a := MustRunMainEnv(t, map[string]string{"TIME_SCALE": "3600", "RESEND_API_KEY": rs.APIKey(), "RESEND_BASE_URL": rs.URL,
		"RESEND_WEBHOOK_SECRET": secret, "MAIL_FROM": "reminders@mail.relance.example"})
	require.Nil(t, a.c.outbox, "no outbox when Resend is configured")
	const domain = "golf.myshopify.com"
	shopID := a.enableFlow(t, domain, flow.Checkout)

	at := time.Now().UTC().Truncate(time.Second)
	require.Equal(t, http.StatusOK, a.postWebhook(t, domain, "checkouts/create", "w-co", at, checkoutPayload("tok-r", "ines@example.org", 7, at)))
	eventually(t, "the reminder sent through Resend", func() bool { return len(rs.Emails()) == 1 })
	sent := rs.Emails()[0]
	require.Equal(t, []string{"ines@example.org"}, sent.To)
	require.Equal(t, `"Shop golf.myshopify.com" <reminders@mail.relance.example>`, sent.From)
	require.Equal(t, "owner@"+domain, sent.ReplyTo)
	require.NotEmpty(t, sent.IdempotencyKey)
	require.Equal(t, "List-Unsubscribe=One-Click", sent.Headers["List-Unsubscribe-Post"])
	require.True(t, strings.HasPrefix(sent.Headers["List-Unsubscribe"], "<"+a.URL()+"/u/"))
	require.Equal(t, "checkout_abandonment", sent.Tags["flow"])
	eventually(t, "the message marked sent", func() bool {
		return a.scalar(t, `SELECT status FROM journey_messages WHERE shop_id = ?`, shopID) == "sent"
	})

	signer, err := svix.NewWebhook(secret)
	require.NoError(t, err)
	post := func(id, body string) int {
		now := time.Now()
		sig, err := signer.Sign(id, now, []byte(body))
		require.NoError(t, err)
		req, _ := http.NewRequest(http.MethodPost, a.URL()+"/webhooks/resend", strings.NewReader(body))
		req.Header.Set("svix-id", id)
		req.Header.Set("svix-timestamp", fmt.Sprint(now.Unix()))
		req.Header.Set("svix-signature", sig)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	event := func(typ, extra string) string {
		return `{"type":"` + typ + `","created_at":"` + time.Now().UTC().Format(time.RFC3339) + `","data":{"email_id":"` + sent.ID +
			`","to":["ines@example.org"]` + extra + `}}`
	}
	require.Equal(t, http.StatusOK, post("msg_open", event("email.opened", "")))
	require.NotEmpty(t, a.scalar(t, `SELECT last_open_at::text FROM contacts WHERE shop_id = ?`, shopID), "engagement recorded")
	require.Equal(t, http.StatusOK, post("msg_bounce", event("email.bounced", `,"bounce":{"type":"Permanent","subType":"General"}`)))
	require.Equal(t, "hard_bounce", a.scalar(t, `SELECT suppression_reason FROM contacts WHERE shop_id = ?`, shopID))
	require.Equal(t, "exited/suppressed", a.scalar(t, `SELECT status || '/' || exit_reason FROM enrollments WHERE shop_id = ?`, shopID))
	// A forged delivery is refused.
	req, _ := http.NewRequest(http.MethodPost, a.URL()+"/webhooks/resend", strings.NewReader(event("email.complained", "")))
	req.Header.Set("svix-id", "forged")
	req.Header.Set("svix-timestamp", fmt.Sprint(time.Now().Unix()))
	req.Header.Set("svix-signature", "v1,Zm9yZ2Vk")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
}
