package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/config"
	"github.com/relance/relance/internal/platform"
	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/shopify/devstore"
)

const (
	testAPIKey = "relance-test-key"
	testSecret = "relance-test-secret"
)

// testApp is the whole relance process (HTTP server and worker) running
// against a fresh PostgreSQL database, its own Redis database and the Shopify
// stand-in.
type testApp struct {
	*Main
	store *devstore.Server
}

// MustRunMain boots relance `all` on 127.0.0.1:0 and stops it with the test.
func MustRunMain(t *testing.T) *testApp {
	t.Helper()
	return MustRunMainEnv(t, nil)
}

// MustRunMainEnv is MustRunMain with extra environment (TIME_SCALE, …).
func MustRunMainEnv(t *testing.T, extra map[string]string) *testApp {
	t.Helper()
	store := devstore.New(devstore.Options{APIKey: testAPIKey, APISecret: testSecret})
	standIn := httptest.NewServer(store)
	t.Cleanup(standIn.Close)

	key, err := newEncryptionKey()
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	env := map[string]string{
		"SHOPIFY_API_KEY":        testAPIKey,
		"SHOPIFY_API_SECRET":     testSecret,
		"SHOPIFY_APP_URL":        "http://" + ln.Addr().String(),
		"SHOPIFY_SCOPES":         "read_orders,read_customers,write_discounts",
		"SHOPIFY_ADMIN_BASE_URL": standIn.URL + "/store/{shop}",
		"DATABASE_URL":           testenv.DatabaseURL(t),
		"REDIS_URL":              testenv.RedisURL(t),
		"ENCRYPTION_KEY":         key,
	}
	for k, v := range extra {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) string { return env[k] }, config.NeedAll)
	require.NoError(t, err)
	m := NewMain(cfg, modeServe|modeWorker)
	m.Listener = ln
	m.DevMode = true
	require.NoError(t, m.Run(context.Background()))
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	return &testApp{Main: m, store: store}
}

// install puts a shop in the stand-in and installs it through the real
// OAuth routes.
func (a *testApp) install(t *testing.T, domain string) {
	t.Helper()
	a.store.AddShop(domain, "Shop "+domain, "owner@"+domain, "Europe/Paris", "EUR")
	require.NoError(t, installDevShop(context.Background(), a.Config, domain, time.Now()))
}

// postWebhook delivers a signed webhook the way Shopify does.
func (a *testApp) postWebhook(t *testing.T, domain, topic, webhookID string, triggeredAt time.Time, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.URL()+"/webhooks/shopify", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", topic)
	req.Header.Set("X-Shopify-Shop-Domain", domain)
	req.Header.Set("X-Shopify-Webhook-Id", webhookID)
	req.Header.Set("X-Shopify-Event-Id", "evt-"+webhookID)
	req.Header.Set("X-Shopify-API-Version", shopify.APIVersion)
	req.Header.Set("X-Shopify-Triggered-At", triggeredAt.UTC().Format(time.RFC3339Nano))
	req.Header.Set("X-Shopify-Hmac-Sha256", shopify.SignWebhook(testSecret, body))
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func (a *testApp) get(t *testing.T, path, bearer string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.URL()+path, nil)
	require.NoError(t, err)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, b
}

func (a *testApp) sessionToken(domain string) string {
	now := time.Now()
	return shopify.SignSessionToken(testSecret, shopify.SessionClaims{
		Shop: domain, Audience: testAPIKey, UserID: "1", ExpiresAt: now.Add(time.Minute), NotBefore: now.Add(-time.Second), IssuedAt: now,
	})
}

// eventually polls the database until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (a *testApp) scalar(t *testing.T, query string, args ...any) string {
	t.Helper()
	var s *string
	require.NoError(t, a.DB.Raw(query, args...).Scan(&s).Error)
	if s == nil {
		return ""
	}
	return *s
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	a := MustRunMain(t)
	code, body := a.get(t, "/healthz", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok", string(body))
	code, body = a.get(t, "/readyz", "")
	require.Equal(t, http.StatusOK, code, string(body))
	require.JSONEq(t, `{"postgres":"ok","redis":"ok"}`, string(body))
}

// The whole path: install through OAuth, webhooks in through the HTTP
// server, processed by the worker, visible through the session-token API.
func TestInstallWebhooksAndAPIEndToEnd(t *testing.T) {
	t.Parallel()
	a := MustRunMain(t)
	const shopA, shopB = "alpha.myshopify.com", "bravo.myshopify.com"
	a.install(t, shopA)
	a.install(t, shopB)

	// The session token of A reads A, whatever the query says.
	code, body := a.get(t, "/api/shop?shop="+shopB, a.sessionToken(shopA))
	require.Equal(t, http.StatusOK, code, string(body))
	var got struct{ Domain, Name string }
	require.NoError(t, json.Unmarshal(body, &got))
	require.Equal(t, shopA, got.Domain)
	code, _ = a.get(t, "/api/shop", "")
	require.Equal(t, http.StatusUnauthorized, code)

	// scopes_update is recorded; an older delivery arriving later loses.
	t0 := time.Now() // after the install: older updates than the install are ignored
	newer := []byte(`{"id":1,"previous":["read_orders"],"current":["read_orders","read_customers","write_discounts","read_products"],"updated_at":"` + t0.Add(10*time.Second).Format(time.RFC3339) + `"}`)
	older := []byte(`{"id":1,"previous":[],"current":["read_orders"],"updated_at":"` + t0.Format(time.RFC3339) + `"}`)
	require.Equal(t, http.StatusOK, a.postWebhook(t, shopA, "app/scopes_update", "w-scopes-new", t0.Add(10*time.Second), newer))
	require.Equal(t, http.StatusOK, a.postWebhook(t, shopA, "app/scopes_update", "w-scopes-old", t0, older))
	// A duplicate delivery of the same webhook is acknowledged and stored once.
	require.Equal(t, http.StatusOK, a.postWebhook(t, shopA, "app/scopes_update", "w-scopes-new", t0.Add(10*time.Second), newer))
	eventually(t, "both scope deliveries processed", func() bool {
		return a.scalar(t, `SELECT count(*)::text FROM webhook_inbox WHERE shop_domain = ? AND topic = 'app/scopes_update' AND status = 'done'`, shopA) == "2"
	})
	require.Equal(t, "{read_customers,read_orders,read_products,write_discounts}", a.scalar(t, `SELECT scopes::text FROM shops WHERE domain = ?`, shopA))

	// Uninstall stops the shop's work: later non-compliance deliveries are
	// acknowledged and not kept, the API refuses its session tokens.
	require.Equal(t, http.StatusOK, a.postWebhook(t, shopA, "app/uninstalled", "w-uninstall", time.Now(), []byte(`{"id":1,"domain":"`+shopA+`"}`)))
	eventually(t, "shop A uninstalled", func() bool {
		return a.scalar(t, `SELECT (uninstalled_at IS NOT NULL)::text FROM shops WHERE domain = ?`, shopA) == "true"
	})
	require.Empty(t, a.scalar(t, `SELECT access_token_enc::text FROM shops WHERE domain = ?`, shopA), "tokens are wiped at uninstall")
	require.Equal(t, http.StatusOK, a.postWebhook(t, shopA, "orders/create", "w-order-after", time.Now(), []byte(`{"id":5}`)))
	require.Equal(t, "0", a.scalar(t, `SELECT count(*)::text FROM webhook_inbox WHERE webhook_id = 'w-order-after'`))
	code, _ = a.get(t, "/api/shop", a.sessionToken(shopA))
	require.Equal(t, http.StatusUnauthorized, code)

	// shop/redact (48 h after uninstall) erases the shop; B is untouched.
	require.Equal(t, http.StatusOK, a.postWebhook(t, shopA, "shop/redact", "w-redact", time.Now(), []byte(`{"shop_id":1,"shop_domain":"`+shopA+`"}`)))
	eventually(t, "shop A erased", func() bool {
		return a.scalar(t, `SELECT count(*)::text FROM shops WHERE domain = ?`, shopA) == "0" &&
			a.scalar(t, `SELECT count(*)::text FROM webhook_inbox WHERE shop_domain = ?`, shopA) == "0"
	})
	code, body = a.get(t, "/api/shop", a.sessionToken(shopB))
	require.Equal(t, http.StatusOK, code, string(body))
}

func TestBadWebhookInputIsA4xx(t *testing.T) {
	t.Parallel()
	a := MustRunMain(t)
	const domain = "charlie.myshopify.com"
	a.install(t, domain)

	post := func(mutate func(r *http.Request)) int {
		body := []byte(`{"id":1}`)
		req, _ := http.NewRequest(http.MethodPost, a.URL()+"/webhooks/orders", bytes.NewReader(body))
		req.Header.Set("X-Shopify-Topic", "orders/create")
		req.Header.Set("X-Shopify-Shop-Domain", domain)
		req.Header.Set("X-Shopify-Webhook-Id", "w1")
		req.Header.Set("X-Shopify-Hmac-Sha256", shopify.SignWebhook(testSecret, body))
		mutate(req)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	signed := func(body []byte) func(*http.Request) {
		return func(r *http.Request) {
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			r.Header.Set("X-Shopify-Hmac-Sha256", shopify.SignWebhook(testSecret, body))
		}
	}
	tests := []struct {
		desc   string
		mutate func(*http.Request)
		want   int
	}{
		{desc: "forged signature", mutate: func(r *http.Request) {
			r.Header.Set("X-Shopify-Hmac-Sha256", shopify.SignWebhook("other", []byte(`{"id":1}`)))
		}, want: http.StatusUnauthorized},
		{desc: "no signature", mutate: func(r *http.Request) { r.Header.Del("X-Shopify-Hmac-Sha256") }, want: http.StatusBadRequest},
		{desc: "no topic", mutate: func(r *http.Request) { r.Header.Del("X-Shopify-Topic") }, want: http.StatusBadRequest},
		{desc: "not a shop", mutate: func(r *http.Request) { r.Header.Set("X-Shopify-Shop-Domain", "evil.example.com") }, want: http.StatusBadRequest},
		{desc: "garbage JSON, correctly signed", mutate: signed([]byte(`{"id":`)), want: http.StatusBadRequest},
		{desc: "oversized body", mutate: signed(bytes.Repeat([]byte(" "), 3<<20)), want: http.StatusRequestEntityTooLarge},
		{desc: "topic we do not handle", mutate: func(r *http.Request) { r.Header.Set("X-Shopify-Topic", "products/update") }, want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			require.Equal(t, tt.want, post(tt.mutate))
		})
	}
	require.Equal(t, "0", a.scalar(t, `SELECT count(*)::text FROM webhook_inbox`), "nothing rejected is stored")
	code, _ := a.get(t, "/healthz", "")
	require.Equal(t, http.StatusOK, code, "the process survived")
}

// Graceful shutdown: requests in flight when Close starts still get their
// 200, and every acknowledged delivery is in the inbox afterwards.
func TestGracefulShutdownKeepsAcknowledgedDeliveries(t *testing.T) {
	t.Parallel()
	a := MustRunMain(t)
	const domain = "delta.myshopify.com"
	a.install(t, domain)

	var acked atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := []byte(fmt.Sprintf(`{"id":%d}`, i))
				req, _ := http.NewRequest(http.MethodPost, a.URL()+"/webhooks/shopify", bytes.NewReader(body))
				req.Header.Set("X-Shopify-Topic", "customers/data_request")
				req.Header.Set("X-Shopify-Shop-Domain", domain)
				req.Header.Set("X-Shopify-Webhook-Id", fmt.Sprintf("g-%d-%d", w, i))
				req.Header.Set("X-Shopify-Hmac-Sha256", shopify.SignWebhook(testSecret, body))
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the listener is closed
				}
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					acked.Add(1)
				}
			}
		}(w)
	}
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, a.Close())
	close(stop)
	wg.Wait()
	require.Positive(t, acked.Load())

	// Close closed the app's pool: look with a handle of our own.
	check, err := platform.OpenDB(context.Background(), a.Config.DatabaseURL)
	require.NoError(t, err)
	defer platform.CloseDB(check)
	var stored int64
	require.NoError(t, check.Raw(`SELECT count(*) FROM webhook_inbox WHERE shop_domain = ?`, domain).Scan(&stored).Error)
	require.Equal(t, acked.Load(), stored, "every 200 is durable")
}

func TestConfigErrorNamesTheVariable(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SHOPIFY_API_KEY": "k"}
	err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] })
	require.Error(t, err)
	for _, v := range []string{"SHOPIFY_API_SECRET", "DATABASE_URL", "REDIS_URL", "ENCRYPTION_KEY"} {
		require.Contains(t, err.Error(), v)
	}
	err = run(context.Background(), []string{"migrate"}, func(string) string { return "" })
	require.ErrorContains(t, err, "DATABASE_URL")
	err = run(context.Background(), []string{"nope"}, func(string) string { return "" })
	var ue usageError
	require.ErrorAs(t, err, &ue)
}

// readyz tells the load balancer when a dependency is gone; healthz does not.
func TestReadinessFailsWithoutRedis(t *testing.T) {
	t.Parallel()
	key, err := newEncryptionKey()
	require.NoError(t, err)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadAddr := dead.Addr().String()
	require.NoError(t, dead.Close()) // nothing listens there any more
	env := map[string]string{
		"SHOPIFY_API_KEY": testAPIKey, "SHOPIFY_API_SECRET": testSecret, "SHOPIFY_APP_URL": "http://127.0.0.1",
		"SHOPIFY_SCOPES": "read_orders", "DATABASE_URL": testenv.DatabaseURL(t), "REDIS_URL": "redis://" + deadAddr + "/0",
		"ENCRYPTION_KEY": key,
	}
	cfg, err := config.Load(func(k string) string { return env[k] }, config.NeedAll)
	require.NoError(t, err)
	m := NewMain(cfg, modeServe)
	m.Addr = "127.0.0.1:0"
	require.NoError(t, m.Run(context.Background()))
	t.Cleanup(func() { _ = m.Close() })
	a := &testApp{Main: m}
	code, body := a.get(t, "/readyz", "")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.JSONEq(t, `{"postgres":"ok","redis":"unavailable"}`, string(body))
	code, _ = a.get(t, "/healthz", "")
	require.Equal(t, http.StatusOK, code)
}
