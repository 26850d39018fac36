package pixel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/mail"
	"github.com/relance/relance/internal/pixel"
	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/webhook"
)

// harness is the pixel endpoint on a real HTTP server, with the real inbox
// (group commit into webhook_inbox), dispatcher and journey engine on real
// PostgreSQL and Redis.
type harness struct {
	t          *testing.T
	ctx        context.Context
	db         *gorm.DB
	url        string
	ingest     *webhook.Ingest
	dispatcher *webhook.Dispatcher
	engine     *journey.Engine
	links      *mail.LinkSigner
	client     *asynq.Client
	redisOpt   asynq.RedisConnOpt
	sent       *recorder
}

// recorder is the journey.Sender of these tests: what the engine decided
// to send (the courier and the outbox are tested on their own).
type recorder struct {
	msgs atomic.Pointer[[]journey.Message]
}

func (r *recorder) Send(_ context.Context, m journey.Message) error {
	for {
		old := r.msgs.Load()
		var next []journey.Message
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, m)
		if r.msgs.CompareAndSwap(old, &next) {
			return nil
		}
	}
}

func (r *recorder) all() []journey.Message {
	if p := r.msgs.Load(); p != nil {
		return *p
	}
	return nil
}

var seq atomic.Int64

func newHarness(t *testing.T, limits pixel.Limits) *harness {
	t.Helper()
	ctx := context.Background()
	db := testenv.DB(t)
	redisURL := testenv.RedisURL(t)
	redisOpt, err := asynq.ParseRedisURI(redisURL)
	require.NoError(t, err)
	ropt, err := redis.ParseURL(redisURL)
	require.NoError(t, err)
	rdb := redis.NewClient(ropt)
	client := asynq.NewClient(redisOpt)
	t.Cleanup(func() { _ = rdb.Close(); _ = client.Close() })

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ingest, err := webhook.NewIngest(db, nil, webhook.IngestConfig{Timeout: 30 * time.Second, Logger: quiet})
	require.NoError(t, err)
	links, err := mail.NewLinkSigner("pixel-test-secret")
	require.NoError(t, err)
	sent := &recorder{}
	engine := journey.New(journey.Options{DB: db, Queue: client, Sender: sent})
	shops, err := shop.NewStore(db, bytes.Repeat([]byte{1}, 32))
	require.NoError(t, err)

	registry := webhook.NewRegistry()
	pixel.NewProcessor(db, shops, engine.Contacts(), engine, links).Register(registry)
	dispatcher, err := webhook.NewDispatcher(db, registry, webhook.DispatcherConfig{Logger: quiet})
	require.NoError(t, err)

	ep, err := pixel.NewEndpoint(pixel.Options{Inbox: ingest, Redis: rdb, Limits: limits, Logger: quiet})
	require.NoError(t, err)
	e := echo.New()
	ep.Routes(e)
	srv := httptest.NewServer(e)
	t.Cleanup(func() {
		srv.Close()
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ingest.Close(cctx)
	})
	return &harness{t: t, ctx: ctx, db: db, url: srv.URL + "/pixel/events", ingest: ingest, dispatcher: dispatcher, engine: engine,
		links: links, client: client, redisOpt: redisOpt, sent: sent}
}

// install creates an installed shop with every default flow switched on.
func (h *harness) install() (int64, string) {
	h.t.Helper()
	domain := fmt.Sprintf("px-%d-%d.myshopify.com", time.Now().UnixNano()%1e6, seq.Add(1))
	var id int64
	require.NoError(h.t, h.db.Raw(`INSERT INTO shops (domain, name) VALUES (?, 'Shop') RETURNING id`, domain).Scan(&id).Error)
	flows := h.engine.Flows()
	require.NoError(h.t, flows.EnsureDefaults(h.ctx, id))
	for _, k := range flow.Keys {
		require.NoError(h.t, flows.SetEnabled(h.ctx, id, k, true))
	}
	return id, domain
}

func (h *harness) post(body []byte, contentType string) *http.Response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url, bytes.NewReader(body))
	require.NoError(h.t, err)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Origin", "https://extensions.shopifycdn.com")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (h *harness) send(v any) int {
	h.t.Helper()
	b, err := json.Marshal(v)
	require.NoError(h.t, err)
	return h.post(b, "text/plain;charset=UTF-8").StatusCode
}

// process runs the dispatcher on every pending inbox batch, as the worker would.
func (h *harness) process() {
	h.t.Helper()
	var batches []int64
	require.NoError(h.t, h.db.Raw(`SELECT DISTINCT batch_id FROM webhook_inbox WHERE status = 'pending' ORDER BY 1`).Scan(&batches).Error)
	for _, id := range batches {
		task, err := webhook.NewProcessTask(id)
		require.NoError(h.t, err)
		require.NoError(h.t, h.dispatcher.HandleProcess(h.ctx, task))
	}
}

func (h *harness) inboxCount(where string, args ...any) int64 {
	h.t.Helper()
	var n int64
	require.NoError(h.t, h.db.Raw(`SELECT count(*) FROM webhook_inbox WHERE topic = 'pixel/events' AND `+where, args...).Scan(&n).Error)
	return n
}

type ev = map[string]any

func batch(shop, client string, customer any, events ...ev) map[string]any {
	return map[string]any{"shop": shop, "client_id": client, "customer_id": customer, "events": events}
}

var evSeq atomic.Int64

func view(product string, at time.Time) ev {
	return ev{"id": fmt.Sprintf("ev-%d", evSeq.Add(1)), "name": "product_viewed", "timestamp": at.UTC().Format(time.RFC3339Nano),
		"data": ev{"product_id": "gid://shopify/Product/" + product, "variant_id": 1, "product_title": "Chemise", "price": "49.00",
			"currency": "eur", "url": "/products/chemise"}}
}

func TestAcceptsAndStoresOnlyTheContract(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pixel.Limits{})
	_, domain := h.install()
	now := time.Now()
	e := view("11", now)
	e["data"].(ev)["email"] = "leak@example.org" // PII where the contract has none
	e["data"].(ev)["phone"] = "+33600000000"     // a field the contract does not know
	e["context"] = ev{"document": ev{"title": "x"}}
	info := ev{"id": "ev-contact", "name": "checkout_contact_info_submitted", "timestamp": now.Format(time.RFC3339),
		"data": ev{"email": " Lea@Example.org ", "checkout_token": "ck-1", "first_name": "Léa"}}
	other := ev{"id": "ev-page", "name": "page_viewed", "timestamp": now.Format(time.RFC3339), "data": ev{"x": 1}}
	require.Equal(t, http.StatusNoContent, h.send(batch(domain, "cl-1", nil, e, info, other)))

	var payload string
	require.NoError(t, h.db.Raw(`SELECT payload::text FROM webhook_inbox WHERE topic = 'pixel/events' AND shop_domain = ?`, domain).Scan(&payload).Error)
	require.NotContains(t, payload, "leak@example.org")
	require.NotContains(t, payload, "+33600000000")
	require.NotContains(t, payload, "Léa")
	require.NotContains(t, payload, "page_viewed")
	require.NotContains(t, payload, "document")
	require.Contains(t, payload, `"email":"lea@example.org"`, "the checkout email, where the contract expects it, normalized")
	require.Contains(t, payload, `"product_id":"11"`)
	require.Contains(t, payload, `"currency":"EUR"`)

	// A retried batch (same client, same event ids) is one row.
	require.Equal(t, http.StatusNoContent, h.send(batch(domain, "cl-1", nil, e, info, other)))
	require.Equal(t, int64(1), h.inboxCount("shop_domain = ?", domain))

	// CORS: preflight and the answer itself, without credentials.
	req, _ := http.NewRequest(http.MethodOptions, h.url, nil)
	req.Header.Set("Origin", "null")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Credentials"))
	b, _ := json.Marshal(batch(domain, "cl-2", nil, view("12", now)))
	resp = h.post(b, "application/json")
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
}

func TestRejectsUnknownShopsAndBadBatches(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pixel.Limits{})
	_, domain := h.install()
	now := time.Now()

	require.Equal(t, http.StatusNotFound, h.send(batch("never-installed.myshopify.com", "c", nil, view("1", now))))
	_, gone := h.install()
	require.NoError(t, h.db.Exec(`UPDATE shops SET uninstalled_at = now() WHERE domain = ?`, gone).Error)
	require.Equal(t, http.StatusNotFound, h.send(batch(gone, "c", nil, view("1", now))), "an uninstalled shop")

	many := make([]ev, pixel.MaxEvents+1)
	for i := range many {
		many[i] = view("1", now)
	}
	bad := map[string]any{
		"not a shopify domain":  batch("evil.com", "c", nil, view("1", now)),
		"no client id":          batch(domain, "", nil, view("1", now)),
		"client id with spaces": batch(domain, "a b", nil, view("1", now)),
		"client id too long":    batch(domain, strings.Repeat("c", 200), nil, view("1", now)),
		"no events":             batch(domain, "c", nil),
		"too many events":       batch(domain, "c", nil, many...),
		"bad customer id":       batch(domain, "c", "abc", view("1", now)),
		"bad timestamp":         batch(domain, "c", nil, ev{"id": "1", "name": "product_viewed", "timestamp": "yesterday"}),
		"no event id":           batch(domain, "c", nil, ev{"name": "product_viewed", "timestamp": now.Format(time.RFC3339)}),
		"bad product id": batch(domain, "c", nil, ev{"id": "1", "name": "product_viewed", "timestamp": now.Format(time.RFC3339),
			"data": ev{"product_id": "DROP TABLE"}}),
		"events not a list": map[string]any{"shop": domain, "client_id": "c", "events": "x"},
	}
	for name, b := range bad {
		require.Equal(t, http.StatusBadRequest, h.send(b), name)
	}
	for name, raw := range map[string]string{"not JSON": "{", "trailing data": `{"shop":"a.myshopify.com"} {}`, "not UTF-8": "{\"shop\":\"\xff\"}"} {
		require.Equal(t, http.StatusBadRequest, h.post([]byte(raw), "application/json").StatusCode, name)
	}
	// Oversized: declared, and streamed without a length.
	huge := bytes.Repeat([]byte("a"), pixel.MaxBodyBytes+1)
	require.Equal(t, http.StatusRequestEntityTooLarge, h.post(huge, "application/json").StatusCode)
	req, _ := http.NewRequest(http.MethodPost, h.url, io.MultiReader(strings.NewReader(`{"shop":"`), bytes.NewReader(huge)))
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)

	require.Equal(t, int64(0), h.inboxCount("true"), "nothing refused was stored")
}

func TestFloodFromOneClient(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pixel.Limits{PerClient: 5, PerShop: 12, Window: time.Minute})
	_, a := h.install()
	_, b := h.install()
	now := time.Now()

	codes := map[int]int{}
	for range 40 {
		codes[h.send(batch(a, "flooder", nil, view("1", now)))]++
	}
	require.Equal(t, map[int]int{http.StatusNoContent: 5, http.StatusTooManyRequests: 35}, codes, "the client limit holds")
	// Another shopper of the same shop is not blocked by the flooder…
	require.Equal(t, http.StatusNoContent, h.send(batch(a, "other", nil, view("1", now))))
	// …and another shop is untouched, even by the same client id.
	for i := range 5 {
		require.Equal(t, http.StatusNoContent, h.send(batch(b, "flooder", nil, view("1", now))), i)
	}
	// Many clients of one shop hit the shop's budget; shop b still answers.
	codes = map[int]int{}
	for i := range 20 {
		codes[h.send(batch(a, fmt.Sprintf("c%d", i), nil, view("1", now)))]++
	}
	require.Equal(t, 6, codes[http.StatusNoContent], "12 per shop: 5 + 1 used above")
	require.Equal(t, 14, codes[http.StatusTooManyRequests])
	require.Equal(t, http.StatusNoContent, h.send(batch(b, "someone", nil, view("1", now))))

	resp := h.post([]byte(`{"shop":"`+a+`","client_id":"flooder","events":[{"id":"x","name":"product_viewed","timestamp":"`+
		now.Format(time.RFC3339)+`"}]}`), "application/json")
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"), "a 429 is readable by the pixel")
}

// The browse story: a visitor looks at products anonymously, then logs in;
// the earlier views become the contact's and browse abandonment starts.
func TestAnonymousViewsThenLoginStartBrowseAbandonment(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pixel.Limits{})
	shopID, domain := h.install()
	contacts := h.engine.Contacts()
	c, err := contacts.Upsert(h.ctx, shopID, contact.Profile{Email: "lea@example.org", CustomerID: 9001})
	require.NoError(t, err)
	_, err = contacts.SetConsent(h.ctx, shopID, c.ID, contact.Subscribed, time.Now().Add(-time.Hour), "test")
	require.NoError(t, err)

	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond)
	require.Equal(t, http.StatusNoContent, h.send(batch(domain, "client-anon", nil, view("101", t0), view("102", t0.Add(time.Minute)))))
	h.process()
	var n int64
	require.NoError(t, h.db.Raw(`SELECT count(*) FROM enrollments WHERE shop_id = ?`, shopID).Scan(&n).Error)
	require.Zero(t, n, "an anonymous visitor is enrolled in nothing")
	_, err = contacts.ByIdentity(h.ctx, shopID, contact.Client, "client-anon")
	require.ErrorIs(t, err, contact.ErrNotFound)

	// Logged in: the pixel now sends the customer id (even with a batch
	// that has no product view of its own).
	login := ev{"id": "ev-col", "name": "collection_viewed", "timestamp": t0.Add(2 * time.Minute).Format(time.RFC3339Nano)}
	require.Equal(t, http.StatusNoContent, h.send(batch(domain, "client-anon", "9001", login)))
	h.process()

	owner, err := contacts.ByIdentity(h.ctx, shopID, contact.Client, "client-anon")
	require.NoError(t, err)
	require.Equal(t, c.ID, owner.ID, "the client id is the contact's now")
	var ens []journey.Enrollment
	require.NoError(t, h.db.Where("shop_id = ? AND contact_id = ?", shopID, c.ID).Find(&ens).Error)
	require.Len(t, ens, 1)
	require.Equal(t, flow.Browse, ens[0].FlowKey)
	require.Equal(t, "102", ens[0].Subject, "the last product viewed")
	require.WithinDuration(t, t0.Add(time.Minute), ens[0].TriggerAt, time.Millisecond, "from when it was viewed, not when we learnt who")

	// The email goes out when the step is due.
	require.NoError(t, h.db.Exec(`UPDATE enrollments SET next_run_at = now() - interval '1 second' WHERE id = ?`, ens[0].ID).Error)
	_, err = h.engine.Pump(h.ctx)
	require.NoError(t, err)
	h.runQueued()
	msgs := h.sent.all()
	require.Len(t, msgs, 1)
	require.Equal(t, flow.Browse, msgs[0].Flow)
	require.Equal(t, "lea@example.org", msgs[0].To)
	require.Equal(t, "102", msgs[0].Context["product_id"])

	// Processing the same batches again changes nothing.
	require.NoError(t, h.db.Exec(`UPDATE webhook_inbox SET status = 'pending' WHERE topic = 'pixel/events'`).Error)
	h.process()
	require.NoError(t, h.db.Raw(`SELECT count(*) FROM enrollments WHERE shop_id = ?`, shopID).Scan(&n).Error)
	require.Equal(t, int64(1), n)
}

// A customer id nobody has is never turned into a contact: the request is
// not authenticated.
func TestUnknownCustomerIDCreatesNobody(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pixel.Limits{})
	shopID, domain := h.install()
	require.Equal(t, http.StatusNoContent, h.send(batch(domain, "cl", 424242, view("1", time.Now()))))
	h.process()
	var n int64
	require.NoError(t, h.db.Raw(`SELECT count(*) FROM contacts WHERE shop_id = ?`, shopID).Scan(&n).Error)
	require.Zero(t, n)
}

// A click token (?rl=) and a checkout email identify the client; carts it
// added to before are tied to the contact.
func TestClickTokenAndCheckoutEmailIdentify(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pixel.Limits{})
	shopID, domain := h.install()
	otherShop, _ := h.install()
	contacts := h.engine.Contacts()
	c, err := contacts.Upsert(h.ctx, shopID, contact.Profile{Email: "max@example.org"})
	require.NoError(t, err)
	now := time.Now()

	add := ev{"id": "add-1", "name": "product_added_to_cart", "timestamp": now.Format(time.RFC3339Nano),
		"data": ev{"product_id": 5, "cart_token": "cart-abc", "quantity": 2}}
	require.Equal(t, http.StatusNoContent, h.send(batch(domain, "cl-rl", nil, add)))
	// A token of another shop, or forged, identifies nobody.
	b := batch(domain, "cl-rl", nil, view("5", now))
	b["rl"] = h.links.Sign(mail.LinkClaims{Purpose: mail.PurposeIdentify, ShopID: otherShop, ContactID: c.ID})
	require.Equal(t, http.StatusNoContent, h.send(b))
	h.process()
	_, err = contacts.ByIdentity(h.ctx, shopID, contact.Client, "cl-rl")
	require.ErrorIs(t, err, contact.ErrNotFound)

	b = batch(domain, "cl-rl", nil, view("6", now.Add(time.Second)))
	b["rl"] = h.links.Sign(mail.LinkClaims{Purpose: mail.PurposeIdentify, ShopID: shopID, ContactID: c.ID})
	require.Equal(t, http.StatusNoContent, h.send(b))
	h.process()
	for _, id := range []struct {
		kind  contact.IdentityKind
		value string
	}{{contact.Client, "cl-rl"}, {contact.Cart, "cart-abc"}} {
		owner, err := contacts.ByIdentity(h.ctx, shopID, id.kind, id.value)
		require.NoError(t, err, id.kind)
		require.Equal(t, c.ID, owner.ID)
	}

	// A checkout email typed by another visitor makes (or finds) that contact.
	info := ev{"id": "ci-1", "name": "checkout_contact_info_submitted", "timestamp": now.Format(time.RFC3339Nano),
		"data": ev{"email": "Nina@Example.org", "checkout_token": "ck-9"}}
	require.Equal(t, http.StatusNoContent, h.send(batch(domain, "cl-nina", nil, info)))
	h.process()
	nina, err := contacts.ByEmail(h.ctx, shopID, "nina@example.org")
	require.NoError(t, err)
	for _, id := range []struct {
		kind  contact.IdentityKind
		value string
	}{{contact.Client, "cl-nina"}, {contact.Checkout, "ck-9"}} {
		owner, err := contacts.ByIdentity(h.ctx, shopID, id.kind, id.value)
		require.NoError(t, err, id.kind)
		require.Equal(t, nina.ID, owner.ID)
	}
}

// runQueued runs every task due in Redis, as a worker would.
func (h *harness) runQueued() {
	h.t.Helper()
	inspect := asynq.NewInspector(h.redisOpt)
	defer inspect.Close()
	queues, err := inspect.Queues()
	require.NoError(h.t, err)
	for _, q := range queues {
		for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){inspect.ListPendingTasks, inspect.ListScheduledTasks} {
			tasks, err := list(q)
			require.NoError(h.t, err)
			for _, ti := range tasks {
				if ti.Type != journey.TypeRunStep {
					continue
				}
				require.NoError(h.t, h.engine.HandleRunStep(h.ctx, asynq.NewTask(ti.Type, ti.Payload)))
				_ = inspect.DeleteTask(q, ti.ID)
			}
		}
	}
}
