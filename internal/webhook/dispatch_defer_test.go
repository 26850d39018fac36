package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeTriggers stands in for journey.Deferred: handlers collect names, Flush
// applies them all or none.
type fakeTriggers struct {
	pending, applied []string
	done             int // applied so far, like Deferred's counter
	flushFails       int
	flushes          int
}

type fakeTriggersKey struct{}

func (f *fakeTriggers) Mark() int { return f.done + len(f.pending) }

func (f *fakeTriggers) Discard(mark int) {
	if keep := mark - f.done; keep < len(f.pending) {
		f.pending = f.pending[:max(keep, 0)]
	}
}

func (f *fakeTriggers) Flush(context.Context) error {
	f.flushes++
	if f.flushFails > 0 {
		f.flushFails--
		return errors.New("serialization failure")
	}
	f.applied = append(f.applied, f.pending...)
	f.done += len(f.pending)
	f.pending = nil
	return nil
}

// trigger is what a handler does with the engine: collected under the
// batch's context, applied at once otherwise.
func (f *fakeTriggers) trigger(ctx context.Context, name string) {
	if ctx.Value(fakeTriggersKey{}) != nil {
		f.pending = append(f.pending, name)
		return
	}
	f.applied = append(f.applied, name)
}

// oneBatch records deliveries and puts them in one inbox batch.
func oneBatch(t *testing.T, tb *testBundle, ds ...delivery) int64 {
	t.Helper()
	rows := storeBatch(t, tb, ds...)
	var id int64
	for _, r := range rows {
		id = max(id, r.BatchID)
	}
	require.NoError(t, tb.db.Exec(`UPDATE webhook_inbox SET batch_id = ?`, id).Error)
	return id
}

func deferringDispatcher(t *testing.T, tb *testBundle, f *fakeTriggers, failing map[string]bool) *Dispatcher {
	t.Helper()
	reg := NewRegistry()
	reg.Handle("checkouts/update", func(ctx context.Context, d Delivery) error {
		f.trigger(ctx, d.WebhookID)
		if failing[d.WebhookID] {
			return fmt.Errorf("admin API timeout after the trigger")
		}
		return nil
	})
	disp, err := NewDispatcher(tb.db, reg, DispatcherConfig{
		Defer: func(ctx context.Context) (context.Context, TriggerBatch) {
			return context.WithValue(ctx, fakeTriggersKey{}, f), f
		},
	})
	require.NoError(t, err)
	return disp
}

// A batch's triggers are applied together once; those of a delivery whose
// handler failed are dropped (its retry triggers again), never applied twice.
func TestDispatcherAppliesABatchsTriggersTogether(t *testing.T) {
	tb := setup(t, setupOpts{noQueue: true})
	installShop(t, tb.db, shopA)
	a, b, c := newDelivery(shopA, "checkouts/update"), newDelivery(shopA, "checkouts/update"), newDelivery(shopA, "checkouts/update")
	batch := oneBatch(t, tb, a, b, c)
	f := &fakeTriggers{}
	failing := map[string]bool{b.webhookID: true}
	disp := deferringDispatcher(t, tb, f, failing)

	require.Error(t, processBatch(t, disp, batch), "b is retried")
	require.Equal(t, 1, f.flushes, "one apply for the batch")
	require.ElementsMatch(t, []string{a.webhookID, c.webhookID}, f.applied)

	failing[b.webhookID] = false
	require.NoError(t, processBatch(t, disp, batch))
	require.ElementsMatch(t, []string{a.webhookID, c.webhookID, b.webhookID}, f.applied, "b once, after its retry")
	for _, r := range inboxRows(t, tb.db, "") {
		require.Equal(t, "done", r.Status)
	}
}

// When the batch's apply fails, the deliveries that succeeded run again one
// at a time, so one event the batch cannot apply does not hold back the rest.
func TestDispatcherFallsBackToOneDeliveryAtATime(t *testing.T) {
	tb := setup(t, setupOpts{noQueue: true})
	installShop(t, tb.db, shopA)
	a, b := newDelivery(shopA, "checkouts/update"), newDelivery(shopA, "checkouts/update")
	batch := oneBatch(t, tb, a, b)
	f := &fakeTriggers{flushFails: 1}
	disp := deferringDispatcher(t, tb, f, nil)

	require.NoError(t, processBatch(t, disp, batch))
	applied := slices.Clone(f.applied)
	slices.Sort(applied)
	want := []string{a.webhookID, b.webhookID}
	slices.Sort(want)
	require.Equal(t, want, applied, "each applied once, on its own")
	require.Empty(t, f.pending)
	for _, r := range inboxRows(t, tb.db, "") {
		require.Equal(t, "done", r.Status)
	}
}
