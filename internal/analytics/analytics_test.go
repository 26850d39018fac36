package analytics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/analytics"
	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/discount"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/mail"
	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/webhook"
)

type noSend struct{}

func (noSend) Send(context.Context, journey.Message) error { return nil }

type fakeRedemptions struct{ out []discount.Redemption }

func (f *fakeRedemptions) RecordRedemption(context.Context, int64, int64, []string, time.Time) ([]discount.Redemption, error) {
	return f.out, nil
}

type world struct {
	t        *testing.T
	ctx      context.Context
	db       *gorm.DB
	links    *mail.LinkSigner
	svc      *analytics.Service
	reds     *fakeRedemptions
	contacts *contact.Store
	registry *webhook.Registry
	server   *httptest.Server
	shopID   int64
	domain   string
	contact  *contact.Contact
}

var seq atomic.Int64

func newWorld(t *testing.T) *world {
	t.Helper()
	t.Parallel()
	ctx := context.Background()
	db := testenv.DB(t)
	links, err := mail.NewLinkSigner("analytics-secret")
	require.NoError(t, err)
	w := &world{t: t, ctx: ctx, db: db, links: links, reds: &fakeRedemptions{}, contacts: contact.NewStore(db)}
	w.svc = analytics.New(db, w.reds)
	w.domain = fmt.Sprintf("an-%d.myshopify.com", seq.Add(1))
	require.NoError(t, db.Raw(`INSERT INTO shops (domain, name) VALUES (?, 'Shop') RETURNING id`, w.domain).Scan(&w.shopID).Error)
	w.contact, err = w.contacts.Upsert(ctx, w.shopID, contact.Profile{Email: "lea@example.org", CustomerID: 77})
	require.NoError(t, err)

	clicks, err := analytics.NewClicks(db, links, w.contacts)
	require.NoError(t, err)
	e := echo.New()
	clicks.Routes(e)
	w.server = httptest.NewServer(e)
	t.Cleanup(w.server.Close)

	shops, err := shop.NewStore(db, bytes.Repeat([]byte{2}, 32))
	require.NoError(t, err)
	engine := journey.New(journey.Options{DB: db, Sender: noSend{}})
	w.registry = webhook.NewRegistry()
	webhook.RegisterOrders(w.registry, shops, w.contacts, engine)
	webhook.RegisterAttribution(w.registry, shops, w.svc)
	return w
}

// message is a sent email of an enrollment of flow, step.
func (w *world) message(flowKey, step string, sentAt time.Time) int64 {
	w.t.Helper()
	var enID, msgID int64
	require.NoError(w.t, w.db.Raw(`INSERT INTO enrollments (shop_id, contact_id, flow_key, flow_version, branch, goal_purchase, trigger_at, started_at)
		VALUES (?, ?, ?, 1, 'default', true, ?, ?) RETURNING id`, w.shopID, w.contact.ID, flowKey, sentAt, sentAt).Scan(&enID).Error)
	require.NoError(w.t, w.db.Raw(`INSERT INTO journey_messages (shop_id, contact_id, enrollment_id, step, step_key, flow_key, flow_version, template,
		class, to_email, status, created_at, sent_at) VALUES (?, ?, ?, 0, ?, ?, 1, 't', 'promotional', 'lea@example.org', 'sent', ?, ?) RETURNING id`,
		w.shopID, w.contact.ID, enID, step, flowKey, sentAt, sentAt).Scan(&msgID).Error)
	require.NoError(w.t, w.db.Exec(`INSERT INTO mail_messages (id, shop_id, contact_id, to_email, flow, step, provider, status)
		VALUES (?, ?, ?, 'lea@example.org', ?, ?, 'outbox', 'sent')`, msgID, w.shopID, w.contact.ID, flowKey, step).Error)
	return msgID
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (w *world) get(path string) *http.Response {
	w.t.Helper()
	resp, err := noFollow.Get(w.server.URL + path)
	require.NoError(w.t, err)
	resp.Body.Close()
	return resp
}

// order processes an orders/create delivery through the registry, as the
// dispatcher does.
func (w *world) order(id int64, total string, at time.Time, codes ...string) {
	w.t.Helper()
	dc := []map[string]string{}
	for _, c := range codes {
		dc = append(dc, map[string]string{"code": c})
	}
	payload, err := json.Marshal(map[string]any{"id": id, "email": "lea@example.org", "total_price": total, "currency": "EUR",
		"created_at": at.Format(time.RFC3339), "processed_at": at.Format(time.RFC3339), "updated_at": at.Format(time.RFC3339),
		"customer": map[string]any{"id": 77}, "discount_codes": dc, "line_items": []any{}})
	require.NoError(w.t, err)
	d := webhook.Delivery{ShopDomain: w.domain, Topic: "orders/create", WebhookID: fmt.Sprint("o-", id), TriggeredAt: at, Payload: payload}
	for _, h := range w.registry.Handlers("orders/create") {
		require.NoError(w.t, h(w.ctx, d))
	}
}

func (w *world) attribution(orderID int64) *analytics.Attribution {
	w.t.Helper()
	var rows []analytics.Attribution
	require.NoError(w.t, w.db.Where("shop_id = ? AND order_id = ?", w.shopID, orderID).Find(&rows).Error)
	if len(rows) == 0 {
		return nil
	}
	return &rows[0]
}

func TestClickRedirectsToTheStoreAndRecords(t *testing.T) {
	w := newWorld(t)
	msg := w.message("cart_abandonment", "reminder-1", time.Now().Add(-time.Hour))
	tok := w.links.SignClick(mail.ClickClaims{ShopID: w.shopID, ContactID: w.contact.ID, MessageID: msg, Target: "/products/chemise?variant=3"})
	resp := w.get("/r/" + tok)
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "https", loc.Scheme)
	require.Equal(t, w.domain, loc.Host)
	require.Equal(t, "/products/chemise", loc.Path)
	q := loc.Query()
	require.Equal(t, "3", q.Get("variant"))
	require.Equal(t, "relance", q.Get("utm_source"))
	require.Equal(t, "email", q.Get("utm_medium"))
	require.Equal(t, "cart_abandonment", q.Get("utm_campaign"))
	require.Equal(t, "reminder-1", q.Get("utm_content"))
	cl, err := w.links.Verify(q.Get("rl"), mail.PurposeIdentify)
	require.NoError(t, err, "the pixel's identity token")
	require.Equal(t, w.contact.ID, cl.ContactID)
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))

	var clicked struct {
		ClickedAt  *time.Time
		ClickCount int
	}
	require.NoError(t, w.db.Raw(`SELECT clicked_at, click_count FROM mail_messages WHERE id = ?`, msg).Scan(&clicked).Error)
	require.NotNil(t, clicked.ClickedAt)
	require.Equal(t, 1, clicked.ClickCount)
	c, err := w.contacts.Get(w.ctx, w.shopID, w.contact.ID)
	require.NoError(t, err)
	require.NotNil(t, c.LastClickAt)
	var n int64
	require.NoError(t, w.db.Raw(`SELECT count(*) FROM analytics_clicks WHERE shop_id = ? AND message_id = ?`, w.shopID, msg).Scan(&n).Error)
	require.Equal(t, int64(1), n)
}

func TestNoOpenRedirect(t *testing.T) {
	w := newWorld(t)
	other := fmt.Sprintf("other-%d.myshopify.com", seq.Add(1))
	require.NoError(t, w.db.Exec(`INSERT INTO shops (domain) VALUES (?)`, other).Error)
	msg := w.message("browse_abandonment", "reminder-1", time.Now())
	good := w.links.SignClick(mail.ClickClaims{ShopID: w.shopID, ContactID: w.contact.ID, MessageID: msg, Target: "/"})
	home := "https://" + w.domain + "/"

	// Hostile input next to or instead of a token: whatever happens, the
	// only place we ever send anyone is a shop of ours.
	attempts := []string{
		"/r/" + good + "?url=https://evil.com", "/r/" + good + "?redirect=//evil.com", "/r/" + good + "/..%2F..%2Fevil.com",
		"/r///evil.com", "/r/https:%2F%2Fevil.com", "/r/%5C%5Cevil.com", "/r/%2F%2Fevil.com", "/r/" + strings.Repeat("A", 9000),
		"/r/" + url.PathEscape("\\\\evil.com"), "/r/" + url.PathEscape("https://"+other+"/"),
	}
	for _, a := range attempts {
		resp := w.get(a)
		loc := resp.Header.Get("Location")
		if resp.StatusCode == http.StatusFound {
			u, err := url.Parse(loc)
			require.NoError(t, err, a)
			require.Equal(t, "https", u.Scheme, a)
			require.Equal(t, w.domain, u.Host, a)
			require.False(t, strings.HasPrefix(u.Path, "//"), a)
		} else {
			require.Contains(t, []int{http.StatusNotFound, http.StatusBadRequest}, resp.StatusCode, a)
			require.Empty(t, loc, a)
		}
	}

	// A tampered token of our shop: its home page, not the tampered target.
	raw := []byte(good)
	raw[len(raw)-3] ^= 2
	resp := w.get("/r/" + string(raw))
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Equal(t, home, resp.Header.Get("Location"))

	// A forged token (wrong key) that names our shop with an evil target
	// cannot be built with a target that leaves the shop, and its signature
	// fails: home page.
	forger, _ := mail.NewLinkSigner("not-our-secret")
	forged := forger.SignClick(mail.ClickClaims{ShopID: w.shopID, ContactID: w.contact.ID, MessageID: msg, Target: "/evil"})
	resp = w.get("/r/" + forged)
	require.Equal(t, home, resp.Header.Get("Location"))
	// A token naming no shop of ours: neutral 404.
	resp = w.get("/r/" + forger.SignClick(mail.ClickClaims{ShopID: 999999, ContactID: 1, MessageID: 1, Target: "/"}))
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Empty(t, resp.Header.Get("Location"))
	// A valid token of one shop never leads to another, whatever its path.
	for _, target := range []string{"/%2F%2Fevil.com", "/..//evil.com", "/@evil.com", "/https://" + other} {
		tok := w.links.SignClick(mail.ClickClaims{ShopID: w.shopID, ContactID: w.contact.ID, MessageID: msg, Target: target})
		resp := w.get("/r/" + tok)
		u, err := url.Parse(resp.Header.Get("Location"))
		require.NoError(t, err)
		require.Equal(t, w.domain, u.Host, target)
		require.False(t, strings.HasPrefix(u.Path, "//"), target)
	}
	var n int64
	require.NoError(t, w.db.Raw(`SELECT count(*) FROM analytics_clicks WHERE shop_id = ?`, w.shopID).Scan(&n).Error)
	require.Equal(t, int64(6), n, "one click per genuine token request, none for invalid ones")
}

// The story: an email is clicked, the shopper orders: the revenue is the
// email's; the summary reads it.
func TestClickThenOrderIsAttributed(t *testing.T) {
	w := newWorld(t)
	sentAt := time.Now().Add(-2 * time.Hour).UTC()
	msg := w.message("checkout_abandonment", "reminder-2", sentAt)
	w.message("welcome", "hello", sentAt) // sent, never clicked
	tok := w.links.SignClick(mail.ClickClaims{ShopID: w.shopID, ContactID: w.contact.ID, MessageID: msg, Target: "/checkout"})
	require.Equal(t, http.StatusFound, w.get("/r/"+tok).StatusCode)

	orderedAt := time.Now().Add(time.Minute).UTC().Truncate(time.Second)
	w.order(5001, "120.50", orderedAt)
	w.order(5001, "120.50", orderedAt) // redelivered: nothing new
	a := w.attribution(5001)
	require.NotNil(t, a)
	require.Equal(t, msg, a.MessageID)
	require.Equal(t, analytics.ModelClick, a.Model)
	require.Equal(t, "checkout_abandonment", a.FlowKey)
	require.Equal(t, "reminder-2", a.StepKey)
	require.True(t, a.Recovered)
	require.Equal(t, "120.5", strings.TrimRight(strings.TrimRight(a.Revenue, "0"), "."))
	require.Equal(t, w.contact.ID, *a.ContactID)

	// An order beyond the shop's window is not the email's.
	require.NoError(t, w.svc.SetWindowDays(w.ctx, w.shopID, 1))
	w.order(5002, "80.00", orderedAt.Add(50*time.Hour))
	require.Nil(t, w.attribution(5002))

	from, to := sentAt.Add(-time.Hour), orderedAt.Add(72*time.Hour)
	s, err := w.svc.Summary(w.ctx, w.shopID, from, to)
	require.NoError(t, err)
	require.Equal(t, int64(2), s.Sent)
	require.Equal(t, int64(1), s.Orders)
	require.Equal(t, int64(1), s.RecoveredOrders)
	require.Equal(t, int64(1), s.AbandonmentsReached)
	require.Equal(t, 1.0, s.RecoveryRate)
	require.Equal(t, 120.5, s.Revenue)
	require.Equal(t, 60.25, s.RevenuePerEmail)
	require.Equal(t, 0.5, s.ConversionPerEmail)
	require.Equal(t, 120.5, s.AOVRecovered)
	require.Equal(t, 100.25, s.AOVOverall, "both orders of the shop")

	steps, err := w.svc.Steps(w.ctx, w.shopID, from, to)
	require.NoError(t, err)
	require.Equal(t, []analytics.StepStats{
		{FlowKey: "checkout_abandonment", StepKey: "reminder-2", Sent: 1, Orders: 1, Revenue: 120.5, Conversion: 1},
		{FlowKey: "welcome", StepKey: "hello", Sent: 1},
	}, steps)

	// A cancelled order leaves the figures.
	cancel := webhook.Delivery{ShopDomain: w.domain, Topic: "orders/cancelled", WebhookID: "c-5001", TriggeredAt: time.Now(),
		Payload: json.RawMessage(fmt.Sprintf(`{"id":5001,"cancelled_at":%q}`, time.Now().Format(time.RFC3339)))}
	for _, h := range w.registry.Handlers("orders/cancelled") {
		_ = h(w.ctx, cancel) // orders.go's handler needs the full payload; ours only the id
	}
	s, err = w.svc.Summary(w.ctx, w.shopID, from, to)
	require.NoError(t, err)
	require.Zero(t, s.Orders)
	require.Zero(t, s.Revenue)
}

// A discount code of ours wins over a click: the order is the email's that
// carried the code.
func TestDiscountCodeAttribution(t *testing.T) {
	w := newWorld(t)
	at := time.Now().Add(-time.Hour)
	clicked := w.message("browse_abandonment", "reminder-1", at)
	offer := w.message("cart_abandonment", "reminder-3", at)
	var enID int64
	require.NoError(t, w.db.Raw(`SELECT enrollment_id FROM journey_messages WHERE id = ?`, offer).Scan(&enID).Error)
	w.reds.out = []discount.Redemption{{Code: "RL-ABC", EnrollmentID: enID, Step: "reminder-3"}}
	tok := w.links.SignClick(mail.ClickClaims{ShopID: w.shopID, ContactID: w.contact.ID, MessageID: clicked, Target: "/"})
	require.Equal(t, http.StatusFound, w.get("/r/"+tok).StatusCode)

	w.order(6001, "40.00", time.Now().Add(time.Minute).UTC(), "rl-abc")
	a := w.attribution(6001)
	require.NotNil(t, a)
	require.Equal(t, offer, a.MessageID)
	require.Equal(t, analytics.ModelDiscount, a.Model)

	// No code, no click in the window, nobody: no attribution.
	w.reds.out = nil
	require.NoError(t, w.db.Exec(`DELETE FROM analytics_clicks WHERE shop_id = ?`, w.shopID).Error)
	w.order(6002, "10.00", time.Now().UTC())
	require.Nil(t, w.attribution(6002))
}
