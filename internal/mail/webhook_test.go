package mail

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"
	svix "github.com/svix/svix-webhooks/go"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shop"
)

type recorded struct {
	mu          sync.Mutex
	suppressed  []string
	engagements []Engagement
	fail        error
}

func (r *recorded) Suppress(_ context.Context, shopID int64, email, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.suppressed = append(r.suppressed, fmt.Sprintf("%d %s %s", shopID, email, reason))
	return nil
}

func (r *recorded) RecordEngagement(_ context.Context, e Engagement) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.engagements = append(r.engagements, e)
	return nil
}

type hookBundle struct {
	db     *gorm.DB
	hooks  *Webhooks
	signer *svix.Webhook
	rec    *recorded
	e      *echo.Echo
	shopID int64
}

const testSecretRaw = "a-32-byte-long-test-signing-key!"

func setupHooks(t *testing.T) *hookBundle {
	t.Helper()
	b := &hookBundle{db: testenv.DB(t), rec: &recorded{}, e: echo.New()}
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte(testSecretRaw))
	var err error
	b.hooks, err = NewWebhooks(WebhookOptions{DB: b.db, Secret: secret, Suppressor: b.rec, Engagement: b.rec})
	require.NoError(t, err)
	b.signer, err = svix.NewWebhook(secret)
	require.NoError(t, err)
	b.shopID = newShop(t, b.db, "hooks.myshopify.com")
	// A message Resend accepted as re_1.
	require.NoError(t, b.db.Exec(`INSERT INTO mail_messages (id, shop_id, contact_id, to_email, provider, status, provider_id, sent_at)
VALUES (1, ?, 42, 'shopper@gmail.com', 'resend', 'sent', 're_1', now())`, b.shopID).Error)
	return b
}

func (b *hookBundle) post(t *testing.T, svixID string, at time.Time, body string) int {
	t.Helper()
	return b.send(t, svixID, at, body, false)
}

func (b *hookBundle) send(t *testing.T, svixID string, at time.Time, body string, tamper bool) int {
	t.Helper()
	sig, err := b.signer.Sign(svixID, at, []byte(body))
	require.NoError(t, err)
	if tamper {
		body += " "
	}
	req := httptest.NewRequest(http.MethodPost, "/webhooks/resend", strings.NewReader(body))
	req.Header.Set("svix-id", svixID)
	req.Header.Set("svix-timestamp", fmt.Sprint(at.Unix()))
	req.Header.Set("svix-signature", sig)
	rec := httptest.NewRecorder()
	require.NoError(t, b.hooks.Handle(b.e.NewContext(req, rec)))
	return rec.Code
}

func event(typ, emailID, extra string) string {
	return `{"type":"` + typ + `","created_at":"2026-09-14T10:00:00Z","data":{"email_id":"` + emailID + `","to":["shopper@gmail.com"]` + extra + `}}`
}

func TestWebhookVerifiesSignature(t *testing.T) {
	b := setupHooks(t)
	now := time.Now()
	require.Equal(t, http.StatusUnauthorized, b.send(t, "msg_forged", now, event("email.delivered", "re_1", ""), true))
	require.Equal(t, http.StatusUnauthorized, b.post(t, "msg_old", now.Add(-6*time.Minute), event("email.delivered", "re_1", "")))
	require.Equal(t, http.StatusUnauthorized, b.post(t, "msg_future", now.Add(6*time.Minute), event("email.delivered", "re_1", "")))

	req := httptest.NewRequest(http.MethodPost, "/webhooks/resend", strings.NewReader(event("email.delivered", "re_1", "")))
	rec := httptest.NewRecorder()
	require.NoError(t, b.hooks.Handle(b.e.NewContext(req, rec)))
	require.Equal(t, http.StatusUnauthorized, rec.Code, "no signature headers")

	st, err := Status(context.Background(), b.db, b.shopID, 1)
	require.NoError(t, err)
	require.Equal(t, StatusSent, st.Status, "nothing refused was applied")

	require.Equal(t, http.StatusOK, b.post(t, "msg_ok", now.Add(-4*time.Minute), event("email.delivered", "re_1", "")))
	st, err = Status(context.Background(), b.db, b.shopID, 1)
	require.NoError(t, err)
	require.Equal(t, StatusDelivered, st.Status)
	require.Equal(t, http.StatusBadRequest, b.post(t, "msg_bad", now, `{"nope":`))
}

func TestWebhookAppliesEachDeliveryOnce(t *testing.T) {
	b := setupHooks(t)
	now := time.Now()
	for range 3 {
		require.Equal(t, http.StatusOK, b.post(t, "msg_open", now, event("email.opened", "re_1", "")))
	}
	require.Equal(t, http.StatusOK, b.post(t, "msg_open2", now, event("email.opened", "re_1", "")))
	require.Equal(t, http.StatusOK, b.post(t, "msg_click", now, event("email.clicked", "re_1", `,"click":{"link":"https://x"}`)))
	st, err := Status(context.Background(), b.db, b.shopID, 1)
	require.NoError(t, err)
	require.Equal(t, 2, st.OpenCount)
	require.Equal(t, 1, st.ClickCount)
	require.Equal(t, time.Date(2026, 9, 14, 10, 0, 0, 0, time.UTC), st.OpenedAt.UTC())
	require.Len(t, b.rec.engagements, 3)
	require.Equal(t, Engagement{ShopID: b.shopID, ContactID: 42, Email: "shopper@gmail.com", MessageID: 1, Kind: "click",
		At: time.Date(2026, 9, 14, 10, 0, 0, 0, time.UTC)}, b.rec.engagements[2])
}

func TestWebhookBouncesAndComplaintsSuppress(t *testing.T) {
	b := setupHooks(t)
	ctx := context.Background()
	now := time.Now()
	require.NoError(t, b.db.Exec(`INSERT INTO mail_messages (id, shop_id, to_email, provider, status, provider_id)
VALUES (2, ?, 'soft@gmail.com', 'resend', 'sent', 're_2'), (3, ?, 'angry@gmail.com', 'resend', 'sent', 're_3')`, b.shopID, b.shopID).Error)

	require.Equal(t, http.StatusOK, b.post(t, "b1", now, event("email.bounced", "re_1", `,"bounce":{"type":"Permanent","subType":"General","message":"no such user"}`)))
	require.Equal(t, http.StatusOK, b.post(t, "b2", now, event("email.bounced", "re_2", `,"bounce":{"type":"Transient","subType":"MailboxFull"}`)))
	require.Equal(t, http.StatusOK, b.post(t, "c3", now, event("email.complained", "re_3", "")))
	require.Equal(t, []string{
		fmt.Sprintf("%d shopper@gmail.com hard_bounce", b.shopID),
		fmt.Sprintf("%d angry@gmail.com complaint", b.shopID),
	}, b.rec.suppressed, "a soft bounce does not suppress")

	// Out of order: a late "delivered" never hides the bounce.
	require.Equal(t, http.StatusOK, b.post(t, "d1", now, event("email.delivered", "re_1", "")))
	st, err := Status(ctx, b.db, b.shopID, 1)
	require.NoError(t, err)
	require.Equal(t, StatusBounced, st.Status)
	require.NotNil(t, st.Delivered)
	st, err = Status(ctx, b.db, b.shopID, 3)
	require.NoError(t, err)
	require.Equal(t, StatusComplained, st.Status)

	// Unknown email ids are acknowledged and ignored.
	require.Equal(t, http.StatusOK, b.post(t, "u1", now, event("email.bounced", "re_unknown", "")))
	require.Len(t, b.rec.suppressed, 2)
}

func TestWebhookRetriesWhenAnEffectFails(t *testing.T) {
	b := setupHooks(t)
	now := time.Now()
	b.rec.fail = errors.New("contacts down")
	require.Equal(t, http.StatusInternalServerError, b.post(t, "c1", now, event("email.complained", "re_1", "")))
	st, err := Status(context.Background(), b.db, b.shopID, 1)
	require.NoError(t, err)
	require.Equal(t, StatusSent, st.Status, "rolled back with the failed effect")

	b.rec.fail = nil
	require.Equal(t, http.StatusOK, b.post(t, "c1", now, event("email.complained", "re_1", "")))
	require.Len(t, b.rec.suppressed, 1, "Resend's retry applies it")
}

func TestPrivacyHolder(t *testing.T) {
	b := setupHooks(t)
	ctx := context.Background()
	other := newShop(t, b.db, "other.myshopify.com")
	require.NoError(t, b.db.Exec(`INSERT INTO mail_messages (id, shop_id, to_email, provider, status, provider_id, flow, step)
VALUES (2, ?, 'shopper@gmail.com', 'outbox', 'sent', 'outbox-2', 'welcome', 'welcome'),
       (3, ?, 'someone@gmail.com', 'resend', 'sent', 're_3', 'welcome', 'welcome')`, other, b.shopID).Error)
	require.NoError(t, b.db.Exec(`INSERT INTO mail_outbox (id, shop_id, from_addr, to_email, subject, html, text)
VALUES (2, ?, 'a@b.c', 'shopper@gmail.com', 's', 'h', 't')`, other).Error)
	var h PrivacyHolder
	ref := shop.CustomerRef{Email: " Shopper@Gmail.com "}

	v, err := h.ExportCustomer(ctx, b.db, "hooks.myshopify.com", ref)
	require.NoError(t, err)
	msgs := v.([]exportedMessage)
	require.Len(t, msgs, 1)
	require.Equal(t, int64(1), msgs[0].ID, "only this shop's emails of this customer")
	v, err = h.ExportCustomer(ctx, b.db, "hooks.myshopify.com", shop.CustomerRef{ShopifyID: 5})
	require.NoError(t, err)
	require.Nil(t, v)

	require.NoError(t, h.RedactCustomer(ctx, b.db, "hooks.myshopify.com", ref))
	var left []int64
	require.NoError(t, b.db.Raw(`SELECT id FROM mail_messages ORDER BY id`).Scan(&left).Error)
	require.Equal(t, []int64{2, 3}, left, "the other shop's copy and the other customer stay")

	require.NoError(t, h.EraseShop(ctx, b.db, "other.myshopify.com"))
	require.NoError(t, b.db.Raw(`SELECT id FROM mail_messages ORDER BY id`).Scan(&left).Error)
	require.Equal(t, []int64{3}, left)
	var outbox int64
	require.NoError(t, b.db.Raw(`SELECT count(*) FROM mail_outbox`).Scan(&outbox).Error)
	require.Zero(t, outbox)
}
