package webhook_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/webhook"
)

// The GDPR tests run deliveries through the real dispatcher on a real
// database, then prove erasure by searching every table of the schema, so
// they keep guarding as later issues add tables.

// Shopper to erase. Her id is 2^53+1: a float64 would turn it into ...992.
const (
	redactID      = "9007199254740993"
	redactEmail   = "redact-me@example.com"
	redactPhone   = "+33612345678"
	redactPhoneSp = "+33 6 12 34 56 78"
	redactName    = "Jeanne-Redact"
	redactOrderID = "820982911946154508"
	// Another shopper of the same shop, to keep.
	keepID    = "9007199254740995"
	keepEmail = "keep-me@example.com"
	keepName  = "Paul-Keep"
)

var redactNeedles = []string{redactID, redactEmail, redactPhone, redactPhoneSp, redactName, redactOrderID}

// Payloads shaped like the docs samples (FX webhook_*.json), trimmed to the
// fields that matter, with the shopper's data filled in.

func checkoutPayload(id, email, phone, name string) string {
	return fmt.Sprintf(`{
  "id": 981820079255243537, "token": "123123123", "cart_token": "eeafa272cebfd4b22385bc4b645e762c",
  "email": %q, "phone": null, "buyer_accepts_marketing": false,
  "created_at": "2026-02-28T19:00:00-05:00", "updated_at": "2026-02-28T19:00:00-05:00",
  "line_items": [{"key": "139cb5712fb4c8d9957dcfad9a3028da", "product_id": 632910392, "variant_id": 808950810,
    "title": "IPod Nano - 8GB", "quantity": 1, "price": "199.00"}],
  "abandoned_checkout_url": "https://checkout.local/548380009/checkouts/123123123/recover?key=example-secret-token",
  "billing_address": {"first_name": %q, "last_name": "Biller", "address1": "123 Billing Street", "phone": %q,
    "city": "Paris", "zip": "75001", "country": "France", "name": "%s Biller"},
  "customer": {"id": %s, "email": %q, "first_name": %q, "last_name": "Smith", "phone": %q,
    "admin_graphql_api_id": "gid://shopify/Customer/%s",
    "default_address": {"id": 715243470612851245, "customer_id": %s, "first_name": %q, "address1": "123 Elm St.", "phone": %q}},
  "total_price": "398.00", "currency": "EUR"
}`, strings.ToUpper(email[:1])+email[1:], name, phone, name, id, email, name, phone, id, id, name, phone)
}

func orderPayload(orderID, customerID, email, name string) string {
	return fmt.Sprintf(`{
  "id": %s, "admin_graphql_api_id": "gid://shopify/Order/%s", "name": "#9999",
  "email": %q, "contact_email": %q, "phone": null, "total_price": "403.00", "currency": "EUR",
  "shipping_address": {"first_name": %q, "last_name": "Shipper", "address1": "123 Shipping Street", "phone": "555-555-SHIP"},
  "customer": {"id": %s, "email": %q, "first_name": %q, "last_name": "Smith",
    "admin_graphql_api_id": "gid://shopify/Customer/%s"},
  "line_items": [{"id": 866550311766439020, "product_id": 788032119674292922, "quantity": 1, "price": "199.00"}]
}`, orderID, orderID, email, email, name, customerID, email, name, customerID)
}

func customerCreatePayload(id, email, phone, name string) string {
	return fmt.Sprintf(`{
  "id": %s, "email": %q, "first_name": %q, "last_name": "Biller", "phone": %q, "state": "disabled",
  "created_at": "2026-02-27T12:00:00-05:00", "updated_at": "2026-02-27T12:00:00-05:00",
  "admin_graphql_api_id": "gid://shopify/Customer/%s",
  "default_address": {"id": 12321, "customer_id": %s, "first_name": %q, "address1": "151 O'Connor Street", "phone": %q}
}`, id, email, name, phone, id, id, name, phone)
}

func consentPayload(id, email string) string {
	return fmt.Sprintf(`{"customer_id": %s, "email_address": %q, "email_marketing_consent": {
  "state": "subscribed", "opt_in_level": "confirmed_opt_in", "consent_updated_at": "2026-02-27T12:00:00-05:00"}}`, id, email)
}

const cartPayload = `{"id": "eeafa272cebfd4b22385bc4b645e762c", "token": "eeafa272cebfd4b22385bc4b645e762c",
  "line_items": [{"id": 704912205188288575, "product_id": 788032119674292922, "quantity": 3, "price": "199.00"}],
  "updated_at": "2026-02-28T12:00:00-05:00", "created_at": "2026-02-28T12:00:00-05:00"}`

func dataRequestPayload(shopDomain, id, email, phone string, orderIDs string, requestID int64) string {
	return fmt.Sprintf(`{"shop_id": 954889, "shop_domain": %q,
  "customer": {"id": %s, "email": %q, "phone": %q},
  "orders_requested": [%s], "data_request": {"id": %d}}`, shopDomain, id, email, phone, orderIDs, requestID)
}

func customerRedactPayload(shopDomain, id, email, phone string, orderIDs string) string {
	return fmt.Sprintf(`{"shop_id": 954889, "shop_domain": %q,
  "customer": {"id": %s, "email": %q, "phone": %q},
  "orders_to_redact": [%s]}`, shopDomain, id, email, phone, orderIDs)
}

func shopRedactPayload(shopDomain string) string {
	return fmt.Sprintf(`{"shop_id": 954889, "shop_domain": %q}`, shopDomain)
}

// env is one test's database, registry and dispatcher, wired as app/ does.
type env struct {
	t       *testing.T
	db      *gorm.DB
	privacy *shop.Privacy
	store   *shop.Store
	disp    *webhook.Dispatcher
	cancel  *recordingCanceller
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := testenv.DB(t)
	e := &env{t: t, db: db, privacy: shop.NewPrivacy(db), store: &shop.Store{DB: db}, cancel: &recordingCanceller{}}
	r := webhook.NewRegistry()
	webhook.RegisterLifecycle(r, e.store, e.cancel)
	webhook.RegisterCompliance(r, e.privacy)
	var err error
	e.disp, err = webhook.NewDispatcher(db, r, webhook.DispatcherConfig{})
	require.NoError(t, err)
	return e
}

// recordingCanceller counts cancellations per shop and can fail on demand.
type recordingCanceller struct {
	mu    sync.Mutex
	calls map[string]int
	fail  atomic.Int32 // fail this many calls
}

func (c *recordingCanceller) CancelShopWork(_ context.Context, shopDomain string) error {
	if c.fail.Load() > 0 {
		c.fail.Add(-1)
		return fmt.Errorf("queue unavailable")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[shopDomain]++
	return nil
}

func (c *recordingCanceller) count(shopDomain string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[shopDomain]
}

// installShop inserts an installed shop (with an encrypted-looking token).
func (e *env) installShop(domain string, installedAt time.Time) {
	e.t.Helper()
	require.NoError(e.t, e.db.Exec(`
INSERT INTO shops (domain, shopify_id, name, email, scopes, scopes_updated_at, access_token_enc, installed_at)
VALUES (?, 548380009, 'Super Toys', ?, '{read_orders}', ?, '\x0102030405'::bytea, ?)`,
		domain, "owner@"+strings.TrimSuffix(domain, ".myshopify.com")+".test", installedAt, installedAt).Error)
}

var webhookSeq atomic.Int64

// record writes a delivery into the inbox as ingest does and returns its
// inbox id and batch id. A zero triggeredAt stores NULL.
func (e *env) record(shopDomain, topic string, triggeredAt time.Time, payload string) (int64, int64) {
	e.t.Helper()
	return e.recordID(shopDomain, topic, fmt.Sprintf("wh-%d", webhookSeq.Add(1)), triggeredAt, payload)
}

func (e *env) recordID(shopDomain, topic, webhookID string, triggeredAt time.Time, payload string) (int64, int64) {
	e.t.Helper()
	var trig *time.Time
	if !triggeredAt.IsZero() {
		trig = &triggeredAt
	}
	var row struct{ ID, BatchID int64 }
	require.NoError(e.t, e.db.Raw(`
INSERT INTO webhook_inbox (shop_domain, webhook_id, topic, api_version, triggered_at, payload)
VALUES (?, ?, ?, '2026-10', ?, ?::json) RETURNING id, batch_id`,
		shopDomain, webhookID, topic, trig, payload).Scan(&row).Error)
	return row.ID, row.BatchID
}

// dispatch runs the dispatcher's task for a batch.
func (e *env) dispatch(batchID int64) error {
	e.t.Helper()
	task, err := webhook.NewProcessTask(batchID)
	require.NoError(e.t, err)
	return e.disp.HandleProcess(context.Background(), task)
}

// deliver records and processes one delivery, returning its inbox id.
func (e *env) deliver(shopDomain, topic string, triggeredAt time.Time, payload string) int64 {
	e.t.Helper()
	id, batch := e.record(shopDomain, topic, triggeredAt, payload)
	_ = e.dispatch(batch)
	return id
}

type inboxState struct {
	Status    string
	Payload   string
	LastError *string
}

// inbox returns a row's state; ok is false when the row is gone.
func (e *env) inbox(id int64) (inboxState, bool) {
	e.t.Helper()
	var rows []inboxState
	require.NoError(e.t, e.db.Raw(`SELECT status, payload::text AS payload, last_error FROM webhook_inbox WHERE id = ?`, id).Scan(&rows).Error)
	if len(rows) == 0 {
		return inboxState{}, false
	}
	return rows[0], true
}

// snapshot is the text of every row of every table that mentions s, to
// compare before and after.
func snapshot(t *testing.T, db *gorm.DB, s string) []string {
	t.Helper()
	var out []string
	for _, table := range publicTables(t, db) {
		var rows []string
		require.NoError(t, db.Raw(`SELECT t::text FROM `+quoteIdent(table)+` t WHERE strpos(lower(t::text), lower(?)) > 0 ORDER BY 1`, s).Scan(&rows).Error)
		for _, r := range rows {
			out = append(out, table+": "+r)
		}
	}
	return out
}

// findEverywhere lists the rows, in every table of the public schema, whose
// text contains needle (case-insensitive), skipping rows that contain
// ignore (when set: another shop that legitimately keeps the same person).
func findEverywhere(t *testing.T, db *gorm.DB, needle, ignore string) []string {
	t.Helper()
	var out []string
	for _, table := range publicTables(t, db) {
		q := `SELECT t::text FROM ` + quoteIdent(table) + ` t WHERE strpos(lower(t::text), lower(?)) > 0`
		args := []any{needle}
		if ignore != "" {
			q += ` AND strpos(lower(t::text), lower(?)) = 0`
			args = append(args, ignore)
		}
		var rows []string
		require.NoError(t, db.Raw(q, args...).Scan(&rows).Error)
		for _, r := range rows {
			out = append(out, table+": "+r)
		}
	}
	return out
}

// requireNowhere fails if any needle survives anywhere in the database.
func requireNowhere(t *testing.T, db *gorm.DB, needles []string, ignore string) {
	t.Helper()
	for _, n := range needles {
		require.Empty(t, findEverywhere(t, db, n, ignore), "%q is still in the database", n)
	}
}

// requireSomewhere proves the search sees the data before it is erased.
func requireSomewhere(t *testing.T, db *gorm.DB, needles []string) {
	t.Helper()
	for _, n := range needles {
		require.NotEmpty(t, findEverywhere(t, db, n, ""), "%q was never stored: the test proves nothing", n)
	}
}

func publicTables(t *testing.T, db *gorm.DB) []string {
	t.Helper()
	var tables []string
	require.NoError(t, db.Raw(`SELECT table_name FROM information_schema.tables
WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`).Scan(&tables).Error)
	require.Contains(t, tables, "webhook_inbox")
	return tables
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func TestPublicTablesSeesEveryTable(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)
	tables := publicTables(t, db)
	for _, want := range []string{"shops", "oauth_states", "webhook_inbox", "data_exports"} {
		require.Contains(t, tables, want)
	}
}

func TestRegisterComplianceCoversTheInbox(t *testing.T) {
	t.Parallel()
	p := shop.NewPrivacy(testenv.DB(t))
	r := webhook.NewRegistry()
	webhook.RegisterCompliance(r, p)
	require.Contains(t, p.Holders(), "webhook_inbox")
	for topic := range webhook.ComplianceTopics {
		require.Len(t, r.Handlers(topic), 1, topic)
	}
}
