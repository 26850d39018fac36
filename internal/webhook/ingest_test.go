package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/platform"
)

const shopA = "shop-a.myshopify.com"

func TestIngestRecordsBeforeAck(t *testing.T) {
	tb := setup(t, setupOpts{})
	installShop(t, tb.db, shopA)
	d := newDelivery(shopA, "orders/create")
	before := counterValue(receivedTotal.WithLabelValues("orders/create"))

	require.Equal(t, http.StatusOK, d.send(t, tb.url))

	// No waiting: the row must already be committed when the 200 arrives.
	rows := inboxRows(t, tb.db, "webhook_id = ?", d.webhookID)
	require.Len(t, rows, 1)
	r := rows[0]
	require.Equal(t, shopA, r.ShopDomain)
	require.Equal(t, "orders/create", r.Topic)
	require.Equal(t, d.eventID, r.EventID)
	require.Equal(t, "2026-10", r.APIVersion)
	require.Equal(t, "pending", r.Status)
	require.NotNil(t, r.TriggeredAt)
	require.True(t, d.triggeredAt.Equal(*r.TriggeredAt))
	require.Equal(t, string(orderBody), r.Payload, "the exact signed bytes are kept")
	require.Equal(t, before+1, counterValue(receivedTotal.WithLabelValues("orders/create")))

	// Handed to asynq after the commit, in the background.
	in := asynq.NewInspector(tb.redisOpt)
	defer in.Close()
	require.Eventually(t, func() bool {
		info, err := in.GetTaskInfo(platform.QueueWebhooks, ProcessTaskID(r.BatchID))
		return err == nil && info.Type == TypeProcess
	}, 5*time.Second, 20*time.Millisecond)
}

func TestIngestGroupRoute(t *testing.T) {
	tb := setup(t, setupOpts{})
	installShop(t, tb.db, shopA)
	d := newDelivery(shopA, "customers/create")
	require.Equal(t, http.StatusOK, d.send(t, strings.Replace(tb.url, "/webhooks/shopify", "/webhooks/customers", 1)))
	require.Len(t, inboxRows(t, tb.db, "webhook_id = ?", d.webhookID), 1)
}

func TestIngestDuplicateProcessedOnce(t *testing.T) {
	tb := setup(t, setupOpts{})
	installShop(t, tb.db, shopA)
	d := newDelivery(shopA, "orders/create")
	dupBefore := counterValue(rejectedTotal.WithLabelValues(reasonDuplicate))

	require.Equal(t, http.StatusOK, d.send(t, tb.url))
	require.Equal(t, http.StatusOK, d.send(t, tb.url), "a retry is acknowledged")
	d2 := d
	d2.eventID = "another-event" // same webhook id: still the same delivery
	require.Equal(t, http.StatusOK, d2.send(t, tb.url))

	rows := inboxRows(t, tb.db, "")
	require.Len(t, rows, 1)
	require.Equal(t, dupBefore+2, counterValue(rejectedTotal.WithLabelValues(reasonDuplicate)))

	calls := 0
	reg := NewRegistry()
	reg.Handle("orders/create", func(context.Context, Delivery) error { calls++; return nil })
	disp, err := NewDispatcher(tb.db, reg, DispatcherConfig{})
	require.NoError(t, err)
	task, err := NewProcessTask(rows[0].BatchID)
	require.NoError(t, err)
	require.NoError(t, disp.HandleProcess(context.Background(), task))
	require.NoError(t, disp.HandleProcess(context.Background(), task))
	require.Equal(t, 1, calls)
	require.Equal(t, "done", inboxRows(t, tb.db, "")[0].Status)
}

func TestIngestOutOfOrderKeepsTriggeredAt(t *testing.T) {
	tb := setup(t, setupOpts{})
	installShop(t, tb.db, shopA)
	later := newDelivery(shopA, "checkouts/update")
	later.triggeredAt = time.Date(2026, 3, 1, 12, 0, 5, 123000000, time.UTC)
	earlier := newDelivery(shopA, "checkouts/update")
	earlier.triggeredAt = time.Date(2026, 3, 1, 12, 0, 1, 0, time.UTC)

	require.Equal(t, http.StatusOK, later.send(t, tb.url))
	require.Equal(t, http.StatusOK, earlier.send(t, tb.url))

	rows := inboxRows(t, tb.db, "")
	require.Len(t, rows, 2)
	require.Equal(t, later.webhookID, rows[0].WebhookID, "arrival order")
	require.True(t, later.triggeredAt.Equal(*rows[0].TriggeredAt))
	require.True(t, earlier.triggeredAt.Equal(*rows[1].TriggeredAt))

	var ordered []string
	require.NoError(t, tb.db.Raw(`SELECT webhook_id FROM webhook_inbox ORDER BY triggered_at`).Scan(&ordered).Error)
	require.Equal(t, []string{earlier.webhookID, later.webhookID}, ordered)
}

func TestIngestRejectsBadInput(t *testing.T) {
	tb := setup(t, setupOpts{})
	installShop(t, tb.db, shopA)

	huge := append([]byte(`{"pad":"`), bytes.Repeat([]byte("x"), MaxBodyBytes)...)
	huge = append(huge, `"}`...)

	tests := []struct {
		desc       string
		mutate     func(*delivery)
		chunked    bool // no Content-Length: the cap must hold while reading
		wantStatus int
		wantReason string
	}{
		{desc: "oversize body", mutate: func(d *delivery) { d.body = huge }, wantStatus: http.StatusRequestEntityTooLarge, wantReason: reasonTooLarge},
		{desc: "oversize body, chunked", mutate: func(d *delivery) { d.body = huge }, chunked: true, wantStatus: http.StatusRequestEntityTooLarge, wantReason: reasonTooLarge},
		{desc: "garbage JSON", mutate: func(d *delivery) { d.body = []byte(`{"id": 1,,}`) }, wantStatus: http.StatusBadRequest, wantReason: reasonBadJSON},
		{desc: "invalid UTF-8", mutate: func(d *delivery) { d.body = []byte("{\"note\":\"\xff\xfe\"}") }, wantStatus: http.StatusBadRequest, wantReason: reasonBadJSON},
		{desc: "empty body", mutate: func(d *delivery) { d.body = []byte{} }, wantStatus: http.StatusUnauthorized, wantReason: reasonBadHMAC},
		{desc: "forged HMAC", mutate: func(d *delivery) { d.secret = "not-the-secret" }, wantStatus: http.StatusUnauthorized, wantReason: reasonBadHMAC},
		{desc: "HMAC of another body", mutate: func(d *delivery) { d.hmac = "dGhpcyBpcyBub3QgYSB2YWxpZCBzaWduYXR1cmUhIQ==" }, wantStatus: http.StatusUnauthorized, wantReason: reasonBadHMAC},
		{desc: "missing HMAC header", mutate: func(d *delivery) { d.omit = "X-Shopify-Hmac-Sha256" }, wantStatus: http.StatusBadRequest, wantReason: reasonMalformedHeaders},
		{desc: "missing topic", mutate: func(d *delivery) { d.omit = "X-Shopify-Topic" }, wantStatus: http.StatusBadRequest, wantReason: reasonMalformedHeaders},
		{desc: "missing webhook id", mutate: func(d *delivery) { d.omit = "X-Shopify-Webhook-Id" }, wantStatus: http.StatusBadRequest, wantReason: reasonMalformedHeaders},
		{desc: "bad shop domain", mutate: func(d *delivery) { d.shop = "evil.example.com" }, wantStatus: http.StatusBadRequest, wantReason: reasonMalformedHeaders},
		{desc: "unknown topic", mutate: func(d *delivery) { d.topic = "products/update" }, wantStatus: http.StatusOK, wantReason: reasonUnknownTopic},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			d := newDelivery(shopA, "orders/create")
			tt.mutate(&d)
			before := counterValue(rejectedTotal.WithLabelValues(tt.wantReason))
			req := d.request(t, tb.url)
			if tt.chunked {
				req.ContentLength = -1
				req.Body = io.NopCloser(struct{ io.Reader }{bytes.NewReader(d.body)})
			}
			resp, err := http.DefaultClient.Do(req)
			if tt.chunked && err != nil {
				// The server may answer 413 and close before the upload ends.
				require.Contains(t, err.Error(), "connection")
			} else {
				require.NoError(t, err)
				_ = resp.Body.Close()
				require.Equal(t, tt.wantStatus, resp.StatusCode)
			}
			require.Equal(t, before+1, counterValue(rejectedTotal.WithLabelValues(tt.wantReason)))
			require.Zero(t, countInbox(t, tb.db), "nothing recorded")
		})
	}
}

func TestIngestUnknownAndUninstalledShops(t *testing.T) {
	tb := setup(t, setupOpts{})
	const gone = "gone.myshopify.com"
	const never = "never-installed.myshopify.com"
	installShop(t, tb.db, gone)
	uninstallShop(t, tb.db, gone)

	for _, shop := range []string{gone, never} {
		before := counterValue(rejectedTotal.WithLabelValues(reasonUnknownShop))
		d := newDelivery(shop, "orders/create")
		require.Equal(t, http.StatusOK, d.send(t, tb.url), "acknowledged so Shopify stops retrying")
		require.Empty(t, inboxRows(t, tb.db, "webhook_id = ?", d.webhookID), "non-compliance delivery for %s dropped", shop)
		require.Equal(t, before+1, counterValue(rejectedTotal.WithLabelValues(reasonUnknownShop)))

		for topic := range ComplianceTopics {
			c := newDelivery(shop, topic)
			c.body = []byte(`{"shop_id":1,"shop_domain":"` + shop + `"}`)
			require.Equal(t, http.StatusOK, c.send(t, tb.url))
			require.Len(t, inboxRows(t, tb.db, "webhook_id = ?", c.webhookID), 1, "compliance %s for %s kept", topic, shop)
		}
	}
}

func TestIngestDatabaseDownIs503(t *testing.T) {
	tb := setup(t, setupOpts{})
	sqlDB, err := tb.db.DB()
	require.NoError(t, err)
	require.NoError(t, sqlDB.Close())
	before := counterValue(rejectedTotal.WithLabelValues(reasonUnavailable))
	d := newDelivery(shopA, "orders/create")
	require.Equal(t, http.StatusServiceUnavailable, d.send(t, tb.url))
	require.Equal(t, before+1, counterValue(rejectedTotal.WithLabelValues(reasonUnavailable)))
}

// TestIngestConcurrentWithDuplicates: 2,000 concurrent deliveries, 10% of
// them repeats, give exactly the unique rows, each in exactly one task.
func TestIngestConcurrentWithDuplicates(t *testing.T) {
	tb := setup(t, setupOpts{})
	shops := []string{"c1.myshopify.com", "c2.myshopify.com", "c3.myshopify.com"}
	for _, s := range shops {
		installShop(t, tb.db, s)
	}
	const total, unique = 2000, 1800
	ds := make([]delivery, 0, total)
	for i := range unique {
		ds = append(ds, newDelivery(shops[i%len(shops)], "checkouts/update"))
	}
	for i := range total - unique {
		ds = append(ds, ds[i*7%unique]) // repeats, sent concurrently with their originals
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	var wg sync.WaitGroup
	statuses := make([]int, total)
	start := make(chan struct{})
	for i, d := range ds {
		wg.Go(func() {
			<-start
			resp, err := client.Do(d.request(t, tb.url))
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			_ = resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	for i, s := range statuses {
		require.Equal(t, http.StatusOK, s, "request %d", i)
	}

	rows := inboxRows(t, tb.db, "")
	require.Len(t, rows, unique)
	perBatch := map[int64]int{}
	seen := map[string]bool{}
	for _, r := range rows {
		require.False(t, seen[r.WebhookID])
		seen[r.WebhookID] = true
		perBatch[r.BatchID]++
	}
	for _, d := range ds[:unique] {
		require.True(t, seen[d.webhookID])
	}

	// Every batch is queued once, and only batches that hold rows.
	in := asynq.NewInspector(tb.redisOpt)
	defer in.Close()
	var info *asynq.QueueInfo
	require.Eventually(t, func() bool {
		var err error
		info, err = in.GetQueueInfo(platform.QueueWebhooks)
		return err == nil && info.Pending == len(perBatch)
	}, 30*time.Second, 50*time.Millisecond, "want %d batches queued, enqueue failures so far %v", len(perBatch), counterValue(enqueueFailures))
	tasks, err := in.ListPendingTasks(platform.QueueWebhooks, asynq.PageSize(len(perBatch)+10))
	require.NoError(t, err)
	queued := 0
	for _, task := range tasks {
		var p ProcessPayload
		require.NoError(t, json.Unmarshal(task.Payload, &p))
		require.Contains(t, perBatch, p.BatchID)
		queued += perBatch[p.BatchID]
	}
	require.Len(t, tasks, len(perBatch))
	require.Equal(t, unique, queued)
	t.Logf("%d rows in %d group commits", unique, len(perBatch))
}

// TestIngestCloseFlushesAccepted: deliveries accepted before Close are all
// committed; after Close, ingest answers 503.
func TestIngestCloseFlushesAccepted(t *testing.T) {
	tb := setup(t, setupOpts{})
	installShop(t, tb.db, shopA)
	const n = 300
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string]bool{}
	for range n {
		wg.Go(func() {
			d := newDelivery(shopA, "carts/update")
			status := d.send(t, tb.url)
			if status == http.StatusOK {
				mu.Lock()
				acked[d.webhookID] = true
				mu.Unlock()
			} else if status != http.StatusServiceUnavailable {
				t.Errorf("status %d", status)
			}
		})
	}
	time.Sleep(5 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, tb.ingest.Close(ctx))
	wg.Wait()
	for _, r := range inboxRows(t, tb.db, "") {
		delete(acked, r.WebhookID)
	}
	require.Empty(t, acked, "every 200 is backed by a row")
	require.Equal(t, http.StatusServiceUnavailable, newDelivery(shopA, "carts/update").send(t, tb.url))
}
