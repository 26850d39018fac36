package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
)

// storeBatch records deliveries through the real endpoint (one at a time,
// so each is its own batch) and returns their rows by webhook id.
func storeBatch(t *testing.T, tb *testBundle, ds ...delivery) map[string]inboxRow {
	t.Helper()
	for _, d := range ds {
		require.Equal(t, http.StatusOK, d.send(t, tb.url))
	}
	out := map[string]inboxRow{}
	for _, r := range inboxRows(t, tb.db, "") {
		out[r.WebhookID] = r
	}
	return out
}

func processBatch(t *testing.T, disp *Dispatcher, batchID int64) error {
	t.Helper()
	task, err := NewProcessTask(batchID)
	require.NoError(t, err)
	return disp.HandleProcess(context.Background(), task)
}

func TestDispatcherOutcomes(t *testing.T) {
	tb := setup(t, setupOpts{noQueue: true})
	installShop(t, tb.db, shopA)
	const gone = "gone.myshopify.com"
	installShop(t, tb.db, gone)

	ok := newDelivery(shopA, "orders/create")
	noHandler := newDelivery(shopA, "orders/fulfilled")
	permanent := newDelivery(shopA, "customers/create")
	flaky := newDelivery(shopA, "checkouts/update")
	afterUninstall := newDelivery(gone, "orders/create")
	redact := newDelivery(gone, "customers/redact")
	redact.body = []byte(`{"shop_domain":"gone.myshopify.com"}`)
	rows := storeBatch(t, tb, ok, noHandler, permanent, flaky, afterUninstall, redact)
	uninstallShop(t, tb.db, gone) // between ingest and processing

	calls := map[string]int{}
	flakyFails := 1
	reg := NewRegistry()
	count := func(ctx context.Context, d Delivery) error {
		require.NoError(t, ctx.Err())
		calls[d.WebhookID]++
		return nil
	}
	reg.Handle("orders/create", count)
	reg.Handle("customers/redact", count)
	reg.Handle("customers/create", func(_ context.Context, d Delivery) error {
		calls[d.WebhookID]++
		return fmt.Errorf("no customer in payload: %w", ErrPermanent)
	})
	reg.Handle("checkouts/update", func(_ context.Context, d Delivery) error {
		calls[d.WebhookID]++
		if flakyFails > 0 {
			flakyFails--
			return errors.New("admin API timeout")
		}
		return nil
	})
	disp, err := NewDispatcher(tb.db, reg, DispatcherConfig{})
	require.NoError(t, err)

	// Every delivery twice, as asynq may: handlers run once per success.
	for _, d := range []delivery{ok, noHandler, afterUninstall, redact} {
		require.NoError(t, processBatch(t, disp, rows[d.webhookID].BatchID))
		require.NoError(t, processBatch(t, disp, rows[d.webhookID].BatchID))
	}
	err = processBatch(t, disp, rows[permanent.webhookID].BatchID)
	require.ErrorIs(t, err, asynq.SkipRetry, "permanent: no retry")
	require.NoError(t, processBatch(t, disp, rows[permanent.webhookID].BatchID), "already failed: nothing left")

	err = processBatch(t, disp, rows[flaky.webhookID].BatchID)
	require.Error(t, err)
	require.NotErrorIs(t, err, asynq.SkipRetry, "transient: asynq retries")
	r := inboxRows(t, tb.db, "webhook_id = ?", flaky.webhookID)[0]
	require.Equal(t, "pending", r.Status)
	require.Equal(t, 1, r.Attempts)
	require.NotNil(t, r.LastError)
	require.Contains(t, *r.LastError, "admin API timeout")
	require.NoError(t, processBatch(t, disp, rows[flaky.webhookID].BatchID), "the retry succeeds")

	want := map[string]struct {
		status string
		calls  int
	}{
		ok.webhookID:             {"done", 1},
		noHandler.webhookID:      {"skipped", 0},
		permanent.webhookID:      {"failed", 1},
		flaky.webhookID:          {"done", 2},
		afterUninstall.webhookID: {"skipped", 0},
		redact.webhookID:         {"done", 1}, // compliance work survives the uninstall
	}
	for _, r := range inboxRows(t, tb.db, "") {
		w := want[r.WebhookID]
		require.Equal(t, w.status, r.Status, r.Topic)
		require.Equal(t, w.calls, calls[r.WebhookID], r.Topic)
	}
	failed := inboxRows(t, tb.db, "webhook_id = ?", permanent.webhookID)[0]
	require.Contains(t, *failed.LastError, "no customer in payload")
}

func TestDispatcherHandlerSeesDelivery(t *testing.T) {
	tb := setup(t, setupOpts{noQueue: true})
	installShop(t, tb.db, shopA)
	d := newDelivery(shopA, "orders/paid")
	rows := storeBatch(t, tb, d)
	var got Delivery
	reg := NewRegistry()
	reg.Handle("orders/paid", func(_ context.Context, dl Delivery) error { got = dl; return nil })
	disp, err := NewDispatcher(tb.db, reg, DispatcherConfig{})
	require.NoError(t, err)
	require.NoError(t, processBatch(t, disp, rows[d.webhookID].BatchID))
	require.Equal(t, rows[d.webhookID].ID, got.ID)
	require.Equal(t, shopA, got.ShopDomain)
	require.Equal(t, d.eventID, got.EventID)
	require.Equal(t, "2026-10", got.APIVersion)
	require.True(t, d.triggeredAt.Equal(got.TriggeredAt))
	require.JSONEq(t, string(orderBody), string(got.Payload))
}

func TestDispatcherPanicIsRetried(t *testing.T) {
	tb := setup(t, setupOpts{noQueue: true})
	installShop(t, tb.db, shopA)
	d := newDelivery(shopA, "carts/update")
	rows := storeBatch(t, tb, d)
	reg := NewRegistry()
	reg.Handle("carts/update", func(context.Context, Delivery) error { panic("boom") })
	disp, err := NewDispatcher(tb.db, reg, DispatcherConfig{})
	require.NoError(t, err)
	require.ErrorContains(t, processBatch(t, disp, rows[d.webhookID].BatchID), "panic")
	r := inboxRows(t, tb.db, "")[0]
	require.Equal(t, "pending", r.Status)
	require.Equal(t, 1, r.Attempts)
}

func TestDispatcherBadPayloadSkipsRetry(t *testing.T) {
	tb := setup(t, setupOpts{noQueue: true})
	disp, err := NewDispatcher(tb.db, NewRegistry(), DispatcherConfig{})
	require.NoError(t, err)
	err = disp.HandleProcess(context.Background(), asynq.NewTask(TypeProcess, []byte("nope")))
	require.ErrorIs(t, err, asynq.SkipRetry)
}
