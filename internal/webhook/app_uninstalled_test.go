package webhook_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const uninstallPayload = `{"id": 548380009, "name": "Super Toys", "email": "super@supertoys.com", "domain": null,
  "myshopify_domain": null, "updated_at": null, "shop_owner": "John Smith", "plan_name": "enterprise"}`

func TestUninstallOrderedByTriggeredAt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const s = "lifecycle.myshopify.com"
	installed := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e.installShop(s, installed)

	// Triggered before the current install (the merchant uninstalled, then
	// reinstalled; the uninstall arrives late): ignored.
	id := e.deliver(s, "app/uninstalled", installed.Add(-time.Minute), uninstallPayload)
	st, _ := e.inbox(id)
	require.Equal(t, "done", st.Status)
	got, err := e.store.Get(t.Context(), s)
	require.NoError(t, err)
	require.True(t, got.Installed())
	require.Zero(t, e.cancel.count(s), "a stale uninstall must not cancel a live shop's work")

	// A real uninstall, whose cancel fails once: retried, it cancels then.
	at := installed.Add(time.Hour)
	e.cancel.fail.Store(1)
	id, batch := e.record(s, "app/uninstalled", at, uninstallPayload)
	require.Error(t, e.dispatch(batch))
	st, _ = e.inbox(id)
	require.Equal(t, "pending", st.Status)
	require.NoError(t, e.dispatch(batch))
	st, _ = e.inbox(id)
	require.Equal(t, "done", st.Status)
	require.Equal(t, 1, e.cancel.count(s))
	got, err = e.store.Get(t.Context(), s)
	require.NoError(t, err)
	require.False(t, got.Installed())
	require.NotNil(t, got.UninstalledAt)
	require.True(t, got.UninstalledAt.Equal(at))
	require.Empty(t, got.AccessTokenEnc)

	// The duplicate delivery (another subscription, or a retry) is harmless.
	require.NoError(t, e.dispatchOne(s, "app/uninstalled", at, uninstallPayload))
	got, err = e.store.Get(t.Context(), s)
	require.NoError(t, err)
	require.True(t, got.UninstalledAt.Equal(at))
	require.False(t, got.Installed())

	// The dispatcher skips the uninstalled shop's other work.
	id = e.deliver(s, "app/scopes_update", at.Add(time.Minute), `{"current": ["read_orders"], "updated_at": null}`)
	st, _ = e.inbox(id)
	require.Equal(t, "skipped", st.Status)
}

func TestUninstallFallsBackToUpdatedAt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const s = "no-header.myshopify.com"
	installed := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e.installShop(s, installed)

	// No X-Shopify-Triggered-At and updated_at older than the install: ignored.
	require.NoError(t, e.dispatchOne(s, "app/uninstalled", time.Time{},
		`{"id": 548380009, "updated_at": "2026-03-01T06:59:00-05:00"}`))
	got, err := e.store.Get(t.Context(), s)
	require.NoError(t, err)
	require.True(t, got.Installed())

	require.NoError(t, e.dispatchOne(s, "app/uninstalled", time.Time{},
		`{"id": 548380009, "updated_at": "2026-03-01T08:30:00.000-05:00"}`))
	got, err = e.store.Get(t.Context(), s)
	require.NoError(t, err)
	require.False(t, got.Installed())
	require.True(t, got.UninstalledAt.Equal(time.Date(2026, 3, 1, 13, 30, 0, 0, time.UTC)))
	require.Equal(t, 1, e.cancel.count(s))
}

func TestUninstallWithoutAnyTimeFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const s = "no-time.myshopify.com"
	e.installShop(s, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	// The docs sample itself has "updated_at": null.
	id := e.deliver(s, "app/uninstalled", time.Time{}, uninstallPayload)
	st, _ := e.inbox(id)
	require.Equal(t, "failed", st.Status)
	got, err := e.store.Get(t.Context(), s)
	require.NoError(t, err)
	require.True(t, got.Installed())
	require.Zero(t, e.cancel.count(s))
}
