package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/analytics"
	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/courier"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/mail"
	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
)

// adminEnv is the admin API over real HTTP behind the real session
// middleware, on a fresh database with shops A and B installed.
type adminEnv struct {
	db       *gorm.DB
	url      string
	deps     AdminDeps
	shopA    *shop.Shop
	shopB    *shop.Shop
	contacts *contact.Store
	links    *mail.LinkSigner
	store    *shop.Store
}

func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	ctx := context.Background()
	db := testenv.DB(t)
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i + 7)
	}
	store, err := shop.NewStore(db, key)
	require.NoError(t, err)
	env := &adminEnv{db: db, contacts: contact.NewStore(db)}
	env.shopA, err = store.SaveInstall(ctx, shopA, &shopify.Token{AccessToken: "tok-a", Scopes: testScopes},
		shop.Info{Name: "Alpha", Email: "owner@alpha.test", Timezone: "Europe/Paris", Currency: "EUR"})
	require.NoError(t, err)
	env.shopB, err = store.SaveInstall(ctx, shopB, &shopify.Token{AccessToken: "tok-b", Scopes: testScopes},
		shop.Info{Name: "Beta", Email: "owner@beta.test", Timezone: "America/New_York", Currency: "USD"})
	require.NoError(t, err)

	env.links, err = mail.NewLinkSigner("link-secret")
	require.NoError(t, err)
	outbox := mail.NewOutbox(db)
	app, _ := url.Parse("https://app.relance.example")
	env.deps = AdminDeps{DB: db, Flows: flow.NewStore(db), Engine: journey.New(journey.Options{DB: db}), Contacts: env.contacts,
		Sender: outbox, Outbox: outbox, AppURL: app, FromEmail: "hello@relance.example", Analytics: analytics.New(db, nil)}
	env.store = store
	env.serve(t, env.deps)
	return env
}

// serve (re)starts the admin API with deps, behind the real session check.
func (env *adminEnv) serve(t *testing.T, deps AdminDeps) {
	t.Helper()
	auth := &Auth{APIKey: testAPIKey, Secrets: shopify.Secrets{Current: testAPISecret}, Scopes: testScopes, Store: env.store}
	e := echo.New()
	e.GET("/api/openapi.yaml", OpenAPI)
	AdminRoutes(e.Group("/api", auth.RequireSession), deps)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	env.deps, env.url = deps, srv.URL
}

func token(domain string) string {
	now := time.Now()
	return shopify.SignSessionToken(testAPISecret, shopify.SessionClaims{Shop: domain, Audience: testAPIKey, UserID: "1",
		ExpiresAt: now.Add(time.Minute), NotBefore: now.Add(-time.Second), IssuedAt: now})
}

// call makes a request as domain ("" for none) and decodes a JSON answer.
func (env *adminEnv) call(t *testing.T, domain, method, path string, in any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, env.url+path, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if domain != "" {
		req.Header.Set("Authorization", "Bearer "+token(domain))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(b, &out), string(b))
	}
	return resp.StatusCode, out
}

func fields(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	f, ok := body["fields"].(map[string]any)
	require.True(t, ok, "fields in %v", body)
	return f
}

func validSettings() map[string]any {
	return map[string]any{
		"sender_name": "Maison Alpha", "owner_first_name": "Claire", "reply_to": "bonjour@alpha.test",
		"postal_address": "12 rue des Lilas, 75011 Paris", "timezone": "Europe/Paris",
		"quiet_hours": map[string]any{"start": "22:00", "end": "07:30"}, "frequency_cap_hours": 24,
		"reminders_without_consent": true, "default_locale": "fr", "replenishment_days": 45,
		"disengaged_days": 60, "dormant_days": 120,
	}
}

func TestAdminSettings(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)

	code, got := env.call(t, shopA, http.MethodGet, "/api/settings", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "Alpha", got["sender_name"], "Shopify's name until the merchant sets one")
	require.Equal(t, "owner@alpha.test", got["reply_to"])
	require.Equal(t, "Europe/Paris", got["timezone"])
	require.Equal(t, map[string]any{"start": "21:00", "end": "08:00"}, got["quiet_hours"])
	require.Equal(t, "en", got["default_locale"])
	require.EqualValues(t, 90, got["disengaged_days"])

	bad := validSettings()
	bad["reply_to"], bad["dormant_days"], bad["timezone"] = "not an email", 30, "Mars/Olympus"
	bad["quiet_hours"] = map[string]any{"start": "25:00", "end": "07:00"}
	bad["default_locale"] = "de"
	code, got = env.call(t, shopA, http.MethodPut, "/api/settings", bad)
	require.Equal(t, http.StatusUnprocessableEntity, code)
	f := fields(t, got)
	for _, k := range []string{"reply_to", "dormant_days", "timezone", "quiet_hours.start", "default_locale"} {
		require.Contains(t, f, k)
	}

	code, _ = env.call(t, shopA, http.MethodPut, "/api/settings", map[string]any{"sender_name": "x", "bogus": 1})
	require.Equal(t, http.StatusBadRequest, code, "unknown fields are refused")

	code, got = env.call(t, shopA, http.MethodPut, "/api/settings", validSettings())
	require.Equal(t, http.StatusOK, code, "%v", got)
	require.Equal(t, validSettings()["quiet_hours"], got["quiet_hours"])
	code, got = env.call(t, shopA, http.MethodGet, "/api/settings", nil)
	require.Equal(t, http.StatusOK, code)
	want := validSettings()
	for k, v := range want {
		if n, ok := v.(int); ok {
			require.EqualValues(t, n, got[k], k)
		} else {
			require.Equal(t, v, got[k], k)
		}
	}
	ctx := context.Background()
	js, err := env.deps.Engine.Settings(ctx, env.shopA.ID)
	require.NoError(t, err)
	require.Equal(t, journey.Settings{FrequencyCapHours: 24, QuietStart: "22:00", QuietEnd: "07:30", RemindersWithoutConsent: true,
		UsableLifeDays: 45}, js)

	off := validSettings()
	off["quiet_hours"] = nil
	off["timezone"] = "Asia/Tokyo"
	code, got = env.call(t, shopA, http.MethodPut, "/api/settings", off)
	require.Equal(t, http.StatusOK, code)
	require.Nil(t, got["quiet_hours"])
	require.Equal(t, "Asia/Tokyo", got["timezone"])

	// Shop B is untouched.
	_, got = env.call(t, shopB, http.MethodGet, "/api/settings", nil)
	require.Equal(t, "Beta", got["sender_name"])
	require.Equal(t, "America/New_York", got["timezone"])
	require.NotNil(t, got["quiet_hours"])
}

// seedEnrollment puts a contact in a flow with an active enrollment on
// version, returning the contact and enrollment ids.
func (env *adminEnv) seedEnrollment(t *testing.T, shopID int64, email string, key flow.Key, version int) (int64, int64) {
	t.Helper()
	require.NoError(t, env.deps.Flows.EnsureDefaults(context.Background(), shopID))
	c, err := env.contacts.Upsert(context.Background(), shopID, contact.Profile{Email: email, FirstName: "Léa", Locale: "fr"})
	require.NoError(t, err)
	var enID int64
	require.NoError(t, env.db.Raw(`INSERT INTO enrollments (shop_id, contact_id, flow_key, flow_version, branch, goal_purchase, ladder,
		trigger_at, started_at, next_run_at) VALUES (?, ?, ?, ?, 'main', true, 3, now(), now(), now() + interval '1 hour') RETURNING id`,
		shopID, c.ID, key, version).Scan(&enID).Error)
	return c.ID, enID
}

func TestAdminFlowEditorPublish(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	ctx := context.Background()
	const path = "/api/flows/checkout_abandonment"

	code, got := env.call(t, shopA, http.MethodGet, "/api/flows", nil)
	require.Equal(t, http.StatusOK, code)
	items := got["items"].([]any)
	require.Len(t, items, 9)
	require.Equal(t, "welcome", items[0].(map[string]any)["key"])
	require.Nil(t, got["next_cursor"])

	code, got = env.call(t, shopA, http.MethodPost, path+"/enabled", map[string]any{"enabled": true})
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, true, got["enabled"])
	code, got = env.call(t, shopA, http.MethodPost, path+"/enabled", map[string]any{})
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Contains(t, fields(t, got), "enabled")
	code, _ = env.call(t, shopA, http.MethodGet, "/api/flows/nope", nil)
	require.Equal(t, http.StatusNotFound, code)

	code, got = env.call(t, shopA, http.MethodGet, path, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, false, got["has_draft"])
	require.EqualValues(t, 1, got["version"])
	require.Equal(t, "purchase", got["goal"])
	steps := got["steps"].([]any)
	require.Len(t, steps, 3)
	first := steps[0].(map[string]any)
	def, ok := mail.DefaultTemplate("checkout/1", "en")
	require.True(t, ok)
	require.Equal(t, def.Subject, first["subject"], "the default template's content")
	require.Equal(t, map[string]any{"hours": float64(1)}, first["delay"])
	require.Equal(t, "transactional", first["class"])

	// A waiting shopper on version 1.
	leaID, enID := env.seedEnrollment(t, env.shopA.ID, "lea@example.org", flow.Checkout, 1)
	code, got = env.call(t, shopA, http.MethodGet, "/api/flows", nil)
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 1, got["items"].([]any)[3].(map[string]any)["waiting"])

	// Liquid and definition errors, field by field.
	draft := map[string]any{"steps": steps}
	steps[1].(map[string]any)["body"] = "<p>Hi</p>\n<p>ok</p>\n{% if customer.first_name %}never closed"
	steps[2].(map[string]any)["delay"] = map[string]any{"days": 2, "at": "25:00"}
	steps[0].(map[string]any)["class"] = "spam"
	code, got = env.call(t, shopA, http.MethodPut, path+"/draft", draft)
	require.Equal(t, http.StatusUnprocessableEntity, code)
	f := fields(t, got)
	require.Contains(t, f["steps.1.body"], "line 3", "the Liquid line")
	require.Contains(t, f, "steps.2.delay")
	require.Contains(t, f, "steps.0.class")

	// A valid draft.
	steps[0].(map[string]any)["class"] = "transactional"
	steps[1].(map[string]any)["body"] = def.Body
	steps[2].(map[string]any)["delay"] = map[string]any{"days": 2, "at": "10:00", "weekdays": []string{"mon", "wed"}}
	steps[0].(map[string]any)["subject"] = "{{ customer.first_name }}, your checkout v2"
	code, got = env.call(t, shopA, http.MethodPut, path+"/draft", draft)
	require.Equal(t, http.StatusOK, code, "%v", got)
	require.Equal(t, true, got["has_draft"])
	require.Equal(t, map[string]any{"days": float64(2), "at": "10:00", "weekdays": []any{"mon", "wed"}},
		got["steps"].([]any)[2].(map[string]any)["delay"])
	_, got = env.call(t, shopA, http.MethodGet, path, nil)
	require.Equal(t, "{{ customer.first_name }}, your checkout v2", got["steps"].([]any)[0].(map[string]any)["subject"])
	require.EqualValues(t, 1, got["version"], "a draft is not published")

	code, got = env.call(t, shopA, http.MethodPost, path+"/publish", map[string]any{"move_waiting": true})
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 2, got["version"])
	require.EqualValues(t, 1, got["moved"])
	var version int
	require.NoError(t, env.db.Raw(`SELECT flow_version FROM enrollments WHERE id = ?`, enID).Scan(&version).Error)
	require.Equal(t, 2, version, "waiting shoppers moved to the new version")
	code, _ = env.call(t, shopA, http.MethodPost, path+"/publish", map[string]any{"move_waiting": false})
	require.Equal(t, http.StatusConflict, code, "nothing left to publish")

	code, got = env.call(t, shopA, http.MethodGet, path+"/versions?limit=1", nil)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, got["items"], 1)
	require.EqualValues(t, 2, got["items"].([]any)[0].(map[string]any)["version"])
	require.Equal(t, "2", got["next_cursor"])
	_, got = env.call(t, shopA, http.MethodGet, path+"/versions?limit=1&cursor=2", nil)
	require.EqualValues(t, 1, got["items"].([]any)[0].(map[string]any)["version"])
	require.Nil(t, got["next_cursor"])

	// The courier renders the published content for enrollments on v2 and
	// the default for those left on v1.
	sent := &recordingSender{}
	cour, err := courier.New(courier.Options{DB: env.db, Flows: flow.NewStore(env.db), Contacts: env.contacts, Sender: sent,
		Links: env.links, AppURL: env.deps.AppURL, FromEmail: "hello@relance.example"})
	require.NoError(t, err)
	msg := journey.Message{ID: 900001, ShopID: env.shopA.ID, ContactID: leaID, To: "lea@example.org", FirstName: "Léa", Locale: "en",
		Flow: flow.Checkout, FlowVersion: 2, Step: "reminder-1", Template: "checkout/1", Class: flow.Transactional}
	require.NoError(t, cour.Send(ctx, msg))
	require.Equal(t, "Léa, your checkout v2", sent.sent[0].Content.Subject)
	msg.ID, msg.FlowVersion = 900002, 1
	require.NoError(t, cour.Send(ctx, msg))
	require.NotEqual(t, "Léa, your checkout v2", sent.sent[1].Content.Subject)

	// Publishing without moving leaves waiting shoppers where they are.
	steps[0].(map[string]any)["subject"] = "v3"
	code, _ = env.call(t, shopA, http.MethodPut, path+"/draft", draft)
	require.Equal(t, http.StatusOK, code)
	code, got = env.call(t, shopA, http.MethodPost, path+"/publish", map[string]any{"move_waiting": false})
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 3, got["version"])
	require.EqualValues(t, 0, got["moved"])
	require.NoError(t, env.db.Raw(`SELECT flow_version FROM enrollments WHERE id = ?`, enID).Scan(&version).Error)
	require.Equal(t, 2, version)
}

func TestAdminDraftOfMultiBranchFlow(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	_, got := env.call(t, shopA, http.MethodGet, "/api/flows/welcome?locale=fr", nil)
	require.Equal(t, "fr", got["locale"])
	steps := got["steps"].([]any)
	require.Len(t, steps, 5)
	require.Equal(t, "customer", steps[0].(map[string]any)["branch"])
	require.Equal(t, "new", steps[2].(map[string]any)["branch"])

	// A step added to the "new" branch, with content of its own.
	added := map[string]any{"key": "last-word", "branch": "new", "delay": map[string]any{"hours": 48}, "class": "promotional",
		"offer": false, "subject": "Un dernier mot", "preheader": "", "body": "<p>Bonjour {{ customer.first_name }}</p>"}
	steps = append(steps, added)
	code, got := env.call(t, shopA, http.MethodPut, "/api/flows/welcome/draft", map[string]any{"locale": "fr", "steps": steps})
	require.Equal(t, http.StatusOK, code, "%v", got)
	require.Len(t, got["steps"], 6)
	require.Equal(t, "Un dernier mot", got["steps"].([]any)[5].(map[string]any)["subject"])

	delete(added, "branch")
	code, got = env.call(t, shopA, http.MethodPut, "/api/flows/welcome/draft", map[string]any{"locale": "fr", "steps": steps})
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Contains(t, fields(t, got), "steps.5.branch")
}

type recordingSender struct{ sent []*mail.Message }

func (r *recordingSender) Send(_ context.Context, m *mail.Message) (string, error) {
	r.sent = append(r.sent, m)
	return "id", nil
}

func TestAdminPreviewAndTestEmail(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	req := map[string]any{"flow": "checkout_abandonment", "step": "reminder-1", "subject": "Hello {{ customer.first_name }}",
		"preheader": "Your cart", "body": "<p>Hi {{ customer.first_name }}</p>\n{{ cart_table }}", "locale": "en"}
	code, got := env.call(t, shopA, http.MethodPost, "/api/preview", req)
	require.Equal(t, http.StatusOK, code, "%v", got)
	require.Equal(t, "Hello Emma", got["subject"], "sample shopper")
	require.Contains(t, got["html"], "Alpha", "the real shop name")
	require.Contains(t, got["text"], "Hi Emma")

	cid, _ := env.seedEnrollment(t, env.shopA.ID, "zoe@example.org", flow.Checkout, 1)
	_, err := env.contacts.Upsert(context.Background(), env.shopA.ID, contact.Profile{Email: "zoe@example.org", FirstName: "Zoé"})
	require.NoError(t, err)
	req["contact_id"] = cid
	code, got = env.call(t, shopA, http.MethodPost, "/api/preview", req)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "Hello Zoé", got["subject"], "the contact's own data")
	delete(req, "contact_id")

	bad := map[string]any{}
	for k, v := range req {
		bad[k] = v
	}
	bad["body"] = "<p>one</p>\n<p>two</p>\n{% for x in %}"
	code, got = env.call(t, shopA, http.MethodPost, "/api/preview", bad)
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.True(t, strings.HasPrefix(fields(t, got)["body"].(string), "line 3: "), "%v", got)

	// Test emails only to the shop's own inboxes.
	req["to"] = "someone@else.example"
	code, got = env.call(t, shopA, http.MethodPost, "/api/test-email", req)
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Contains(t, fields(t, got), "to")
	req["to"] = "owner@beta.test"
	code, _ = env.call(t, shopA, http.MethodPost, "/api/test-email", req)
	require.Equal(t, http.StatusUnprocessableEntity, code, "not another shop's address either")

	req["to"] = "OWNER@alpha.test"
	code, got = env.call(t, shopA, http.MethodPost, "/api/test-email", req)
	require.Equal(t, http.StatusAccepted, code, "%v", got)
	id := int64(got["id"].(float64))
	code, got = env.call(t, shopA, http.MethodGet, fmt.Sprintf("/api/outbox/%d", id), nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "owner@alpha.test", got["to"])
	require.Equal(t, "[Test] Hello Emma", got["subject"])
	require.Contains(t, got["html"], "Hi Emma")

	// The reply-to the merchant set is allowed too.
	code, _ = env.call(t, shopA, http.MethodPut, "/api/settings", validSettings())
	require.Equal(t, http.StatusOK, code)
	req["to"] = "bonjour@alpha.test"
	code, _ = env.call(t, shopA, http.MethodPost, "/api/test-email", req)
	require.Equal(t, http.StatusAccepted, code)
	code, got = env.call(t, shopA, http.MethodGet, "/api/outbox?limit=1", nil)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, got["items"], 1)
	require.Equal(t, "bonjour@alpha.test", got["items"].([]any)[0].(map[string]any)["to"])
	require.NotNil(t, got["next_cursor"])
	_, got = env.call(t, shopA, http.MethodGet, "/api/outbox?limit=1&cursor="+got["next_cursor"].(string), nil)
	require.Equal(t, "owner@alpha.test", got["items"].([]any)[0].(map[string]any)["to"])
	require.Nil(t, got["next_cursor"])
}

// seedDecision records a decision of an enrollment at step 0.
func (env *adminEnv) seedDecision(t *testing.T, shopID, contactID, enID int64, decision, reason string) {
	t.Helper()
	require.NoError(t, env.db.Exec(`INSERT INTO journey_decisions (shop_id, enrollment_id, contact_id, step, decision, reason, at)
		VALUES (?, ?, ?, 0, ?, ?, now())`, shopID, enID, contactID, decision, reason).Error)
}

func TestAdminActivityAndMetrics(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	a := env.shopA.ID
	lea, enLea := env.seedEnrollment(t, a, "lea@example.org", flow.Checkout, 1)
	tom, enTom := env.seedEnrollment(t, a, "tom@example.org", flow.Checkout, 1)
	env.seedDecision(t, a, lea, enLea, journey.DecisionSkipped, journey.ReasonNoConsent)
	env.seedDecision(t, a, tom, enTom, journey.DecisionSent, "")
	env.seedDecision(t, a, lea, enLea, journey.DecisionExited, journey.ReasonPurchased)

	code, got := env.call(t, shopA, http.MethodGet, "/api/activity?limit=2", nil)
	require.Equal(t, http.StatusOK, code)
	items := got["items"].([]any)
	require.Len(t, items, 2)
	newest := items[0].(map[string]any)
	require.Equal(t, "skipped", newest["decision"], "an exit shows as a skipped step")
	require.Equal(t, "purchased", newest["reason"])
	require.Equal(t, "lea@example.org", newest["email"])
	require.Equal(t, "checkout_abandonment", newest["flow"])
	require.Equal(t, "reminder-1", newest["step"])
	require.NotNil(t, got["next_cursor"])
	_, got = env.call(t, shopA, http.MethodGet, "/api/activity?limit=2&cursor="+got["next_cursor"].(string), nil)
	require.Len(t, got["items"], 1)
	require.Equal(t, "no_consent", got["items"].([]any)[0].(map[string]any)["reason"])
	require.Nil(t, got["next_cursor"])

	_, got = env.call(t, shopA, http.MethodGet, "/api/activity?q=TOM@", nil)
	require.Len(t, got["items"], 1)
	require.Equal(t, "sent", got["items"].([]any)[0].(map[string]any)["decision"])
	_, got = env.call(t, shopA, http.MethodGet, "/api/activity?q=%25", nil)
	require.Empty(t, got["items"], "LIKE wildcards are matched literally")
	code, _ = env.call(t, shopA, http.MethodGet, "/api/activity?limit=0", nil)
	require.Equal(t, http.StatusBadRequest, code)

	code, got = env.call(t, shopA, http.MethodGet, fmt.Sprintf("/api/contacts/%d/timeline", lea), nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "lea@example.org", got["contact"].(map[string]any)["email"])
	require.Equal(t, false, got["contact"].(map[string]any)["suppressed"])
	require.Len(t, got["items"], 2)

	// One email sent to Tom, then his order two hours later, attributed to
	// it; an order by a contact who got no email does not count.
	var msgTom int64
	require.NoError(t, env.db.Raw(`INSERT INTO journey_messages (shop_id, contact_id, enrollment_id, step, step_key, flow_key, flow_version,
		template, class, to_email, status, created_at, sent_at)
		VALUES (?, ?, ?, 0, 'reminder-1', 'checkout_abandonment', 1, 'checkout/1', 'transactional', 'tom@example.org', 'sent',
			now() - interval '3 hours', now() - interval '3 hours') RETURNING id`, a, tom, enTom).Scan(&msgTom).Error)
	require.NoError(t, env.db.Exec(`UPDATE enrollments SET status = 'exited', exit_reason = 'purchased' WHERE id = ?`, enTom).Error)
	require.NoError(t, env.db.Exec(`INSERT INTO contact_orders (shop_id, order_id, contact_id, total_price, currency, ordered_at, updated_at)
		VALUES (?, 1, ?, 80, 'EUR', now() - interval '1 hour', now()), (?, 2, ?, 40, 'EUR', now() - interval '1 hour', now())`,
		a, tom, a, lea).Error)
	require.NoError(t, env.db.Exec(`INSERT INTO analytics_attributions (shop_id, order_id, contact_id, message_id, enrollment_id, flow_key,
		step_key, model, revenue, recovered, ordered_at)
		VALUES (?, 1, ?, ?, ?, 'checkout_abandonment', 'reminder-1', 'click', 80, true, now() - interval '1 hour')`, a, tom, msgTom, enTom).Error)
	code, got = env.call(t, shopA, http.MethodGet, "/api/metrics?days=7", nil)
	require.Equal(t, http.StatusOK, code, "%v", got)
	require.EqualValues(t, 1, got["sent"])
	require.EqualValues(t, 1, got["recovered_orders"])
	require.EqualValues(t, 80, got["revenue"])
	require.EqualValues(t, 80, got["revenue_per_email"])
	require.EqualValues(t, 1, got["conversion_per_email"])
	require.EqualValues(t, 80, got["aov_recovered"])
	require.EqualValues(t, 60, got["aov_overall"])
	require.EqualValues(t, 1, got["recovery_rate"], "the one abandonment an email reached (Tom's) was recovered")
	series := got["series"].([]any)
	require.GreaterOrEqual(t, len(series), 7)
	var sum float64
	for _, d := range series {
		sum += d.(map[string]any)["revenue"].(float64)
	}
	require.EqualValues(t, 80, sum)
	code, _ = env.call(t, shopA, http.MethodGet, "/api/metrics?days=12", nil)
	require.Equal(t, http.StatusUnprocessableEntity, code)

	// Shop B sees none of it.
	_, got = env.call(t, shopB, http.MethodGet, "/api/metrics?days=30", nil)
	require.EqualValues(t, 0, got["sent"])
	require.EqualValues(t, 0, got["revenue"])
}

// TestAdminShopIsolation: a session token of shop A can neither read nor
// change shop B's flows, settings, activity, contacts, outbox, nor preview
// with B's contact.
func TestAdminShopIsolation(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	ctx := context.Background()
	b := env.shopB.ID
	bContact, bEn := env.seedEnrollment(t, b, "secret@beta-customer.example", flow.Checkout, 1)
	env.seedDecision(t, b, bContact, bEn, journey.DecisionSent, "")
	// B's outbox email.
	_, err := env.deps.Sender.Send(ctx, &mail.Message{ID: 777001, ShopID: b, ContactID: bContact, FromEmail: "hello@relance.example",
		To: "secret@beta-customer.example", UnsubscribeURL: "https://app.relance.example/u/x",
		Content: mail.Rendered{Subject: "B only", HTML: "<p>B</p>", Text: "B"}})
	require.NoError(t, err)
	// B's customised flow and settings.
	require.NoError(t, env.deps.Flows.SetEnabled(ctx, b, flow.Cart, true))
	code, _ := env.call(t, shopB, http.MethodPut, "/api/settings", validSettings())
	require.Equal(t, http.StatusOK, code)

	// Reads.
	code, _ = env.call(t, shopA, http.MethodGet, fmt.Sprintf("/api/contacts/%d/timeline", bContact), nil)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = env.call(t, shopA, http.MethodGet, "/api/outbox/777001", nil)
	require.Equal(t, http.StatusNotFound, code)
	_, got := env.call(t, shopA, http.MethodGet, "/api/outbox", nil)
	require.Empty(t, got["items"])
	_, got = env.call(t, shopA, http.MethodGet, "/api/activity", nil)
	require.Empty(t, got["items"])
	_, got = env.call(t, shopA, http.MethodGet, "/api/activity?q=secret", nil)
	require.Empty(t, got["items"])
	_, got = env.call(t, shopA, http.MethodGet, "/api/settings", nil)
	require.Equal(t, "Alpha", got["sender_name"])
	_, got = env.call(t, shopA, http.MethodGet, "/api/flows", nil)
	for _, it := range got["items"].([]any) {
		m := it.(map[string]any)
		require.Equal(t, false, m["enabled"], "%v", m["key"])
		require.EqualValues(t, 0, m["waiting"])
	}
	code, _ = env.call(t, shopA, http.MethodPost, "/api/preview", map[string]any{"flow": "checkout_abandonment", "step": "reminder-1",
		"subject": "Hi {{ customer.first_name }}", "preheader": "", "body": "<p>{{ customer.email }}</p>", "locale": "en",
		"contact_id": bContact})
	require.Equal(t, http.StatusNotFound, code, "B's contact is not A's")

	// Writes by A leave B as it was.
	code, _ = env.call(t, shopA, http.MethodPost, "/api/flows/cart_abandonment/enabled", map[string]any{"enabled": false})
	require.Equal(t, http.StatusOK, code)
	on, err := env.deps.Flows.IsEnabled(ctx, b, flow.Cart)
	require.NoError(t, err)
	require.True(t, on)
	_, got = env.call(t, shopA, http.MethodGet, "/api/flows/checkout_abandonment", nil)
	steps := got["steps"].([]any)
	steps[0].(map[string]any)["subject"] = "A's subject"
	code, _ = env.call(t, shopA, http.MethodPut, "/api/flows/checkout_abandonment/draft", map[string]any{"steps": steps})
	require.Equal(t, http.StatusOK, code)
	code, _ = env.call(t, shopA, http.MethodPost, "/api/flows/checkout_abandonment/publish", map[string]any{"move_waiting": true})
	require.Equal(t, http.StatusOK, code)
	var version int
	require.NoError(t, env.db.Raw(`SELECT flow_version FROM enrollments WHERE id = ?`, bEn).Scan(&version).Error)
	require.Equal(t, 1, version, "B's waiting shoppers stay where they are")
	_, got = env.call(t, shopB, http.MethodGet, "/api/flows/checkout_abandonment", nil)
	require.EqualValues(t, 1, got["version"])
	require.Equal(t, false, got["has_draft"])
	require.NotEqual(t, "A's subject", got["steps"].([]any)[0].(map[string]any)["subject"])
	_, got = env.call(t, shopB, http.MethodGet, "/api/settings", nil)
	require.Equal(t, "Maison Alpha", got["sender_name"], "B's own settings, untouched by A")

	// No token, no data; the OpenAPI document is public.
	code, _ = env.call(t, "", http.MethodGet, "/api/settings", nil)
	require.Equal(t, http.StatusUnauthorized, code)
	resp, err := http.Get(env.url + "/api/openapi.yaml")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	spec, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Contains(t, string(spec), "openapi: 3.1.0")
}

// TestOpenAPICoversRoutes: every route AdminRoutes registers is described.
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	e := echo.New()
	AdminRoutes(e.Group("/api"), AdminDeps{})
	spec := string(openAPISpec)
	for _, r := range e.Routes() {
		p := strings.TrimPrefix(r.Path, "/api")
		if p == "" || p == "/*" {
			continue
		}
		for _, name := range []string{"key", "id", "step"} {
			p = strings.ReplaceAll(p, ":"+name, "{"+name+"}")
		}
		require.Contains(t, spec, "\n  "+p+":\n", "%s %s", r.Method, r.Path)
		require.Contains(t, spec[strings.Index(spec, "\n  "+p+":\n"):], "    "+strings.ToLower(r.Method)+":", "%s %s", r.Method, r.Path)
	}
}
