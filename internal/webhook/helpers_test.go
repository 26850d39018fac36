package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/platform"
	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shopify"
)

const testSecret = "shpss_test_secret"

var orderBody = func() []byte {
	b, err := os.ReadFile("../../bench/webhookload/testdata/webhook_orders_create_1k5.json")
	if err != nil {
		panic(err)
	}
	return b
}()

// testBundle is one test's ingest endpoint on real PostgreSQL and Redis.
type testBundle struct {
	db       *gorm.DB
	redisOpt asynq.RedisConnOpt
	client   *asynq.Client
	ingest   *Ingest
	url      string
}

type setupOpts struct {
	redisURL string // default: a fresh testenv Redis DB
	noQueue  bool
}

func setup(t *testing.T, o setupOpts) *testBundle {
	t.Helper()
	db := testenv.DB(t)
	redisURL := o.redisURL
	if redisURL == "" {
		redisURL = testenv.RedisURL(t)
	}
	opt, err := platform.RedisOpt(redisURL)
	require.NoError(t, err)
	tb := &testBundle{db: db, redisOpt: opt}
	var q enqueuer
	if !o.noQueue {
		tb.client = asynq.NewClient(opt)
		t.Cleanup(func() { _ = tb.client.Close() })
		q = tb.client
	}
	tb.ingest, err = NewIngest(db, q, IngestConfig{
		Secrets: shopify.Secrets{Current: testSecret},
		// Correctness, not latency: -race on a shared 2-core box is slow.
		Timeout: 30 * time.Second,
		Logger:  slog.New(slog.NewTextHandler(tLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	require.NoError(t, err)
	e := echo.New()
	e.POST("/webhooks/shopify", tb.ingest.Handle)
	e.POST("/webhooks/:group", tb.ingest.Handle)
	srv := httptest.NewServer(e)
	tb.url = srv.URL + "/webhooks/shopify"
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = tb.ingest.Close(ctx)
	})
	return tb
}

func installShop(t *testing.T, db *gorm.DB, domain string) {
	t.Helper()
	require.NoError(t, db.Exec(`INSERT INTO shops (domain) VALUES (?) ON CONFLICT (domain) DO UPDATE SET uninstalled_at = NULL`, domain).Error)
}

func uninstallShop(t *testing.T, db *gorm.DB, domain string) {
	t.Helper()
	require.NoError(t, db.Exec(`UPDATE shops SET uninstalled_at = now() WHERE domain = ?`, domain).Error)
}

// delivery is one webhook request as Shopify would send it.
type delivery struct {
	topic, shop, webhookID, eventID string
	triggeredAt                     time.Time
	body                            []byte
	secret                          string // default testSecret
	hmac                            string // overrides the computed signature
	omit                            string // header to leave out
}

var idSeq atomic.Int64

func newDelivery(shop, topic string) delivery {
	n := idSeq.Add(1)
	return delivery{
		topic: topic, shop: shop,
		webhookID:   fmt.Sprintf("wh-%d-%d", time.Now().UnixNano(), n),
		eventID:     fmt.Sprintf("ev-%d", n),
		triggeredAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		body:        orderBody,
	}
}

func (d delivery) request(t testing.TB, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(d.body))
	require.NoError(t, err)
	secret := d.secret
	if secret == "" {
		secret = testSecret
	}
	sig := d.hmac
	if sig == "" {
		sig = shopify.SignWebhook(secret, d.body)
	}
	h := map[string]string{
		"X-Shopify-Topic":        d.topic,
		"X-Shopify-Shop-Domain":  d.shop,
		"X-Shopify-Webhook-Id":   d.webhookID,
		"X-Shopify-Event-Id":     d.eventID,
		"X-Shopify-Api-Version":  "2026-10",
		"X-Shopify-Hmac-Sha256":  sig,
		"X-Shopify-Triggered-At": d.triggeredAt.Format(time.RFC3339Nano),
		"Content-Type":           "application/json",
	}
	for k, v := range h {
		if k != d.omit {
			req.Header.Set(k, v)
		}
	}
	return req
}

func (d delivery) send(t testing.TB, url string) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(d.request(t, url))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

type inboxRow struct {
	ID          int64
	BatchID     int64
	ShopDomain  string
	WebhookID   string
	EventID     string
	Topic       string
	APIVersion  string
	TriggeredAt *time.Time
	Payload     string
	Status      string
	Attempts    int
	LastError   *string
}

func inboxRows(t testing.TB, db *gorm.DB, where string, args ...any) []inboxRow {
	t.Helper()
	var rows []inboxRow
	q := `SELECT id, batch_id, shop_domain, webhook_id, event_id, topic, api_version, triggered_at, payload::text AS payload, status, attempts, last_error FROM webhook_inbox`
	if where != "" {
		q += " WHERE " + where
	}
	require.NoError(t, db.Raw(q+" ORDER BY id", args...).Scan(&rows).Error)
	return rows
}

func countInbox(t testing.TB, db *gorm.DB) int64 {
	t.Helper()
	var n int64
	require.NoError(t, db.Raw(`SELECT count(*) FROM webhook_inbox`).Scan(&n).Error)
	return n
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// tLogWriter sends error logs to the test log.
type tLogWriter struct{ t testing.TB }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}
