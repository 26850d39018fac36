package webhook_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestScopesUpdateOutOfOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const s = "scopes.myshopify.com"
	installed := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e.installShop(s, installed)
	scopes := func() []string {
		got, err := e.store.Get(t.Context(), s)
		require.NoError(t, err)
		return got.Scopes
	}

	// The newer update arrives first...
	newer := `{"id": 2, "shop_id": "gid://shopify/Shop/548380009", "previous": ["read_orders"],
	  "current": ["write_discounts", "read_orders", "read_customers", "read_orders"], "updated_at": "2026-03-02T12:00:00.000Z"}`
	id := e.deliver(s, "app/scopes_update", installed.Add(48*time.Hour), newer)
	st, _ := e.inbox(id)
	require.Equal(t, "done", st.Status)
	require.Equal(t, []string{"read_customers", "read_orders", "write_discounts"}, scopes())

	// ...then the older one: it must not take the grant back.
	older := `{"id": 1, "shop_id": "gid://shopify/Shop/548380009", "previous": ["read_orders"],
	  "current": ["read_orders", "read_customers"], "updated_at": "2026-03-01T18:00:00.000Z"}`
	id = e.deliver(s, "app/scopes_update", installed.Add(6*time.Hour), older)
	st, _ = e.inbox(id)
	require.Equal(t, "done", st.Status)
	require.Equal(t, []string{"read_customers", "read_orders", "write_discounts"}, scopes())

	// Without the header, updated_at orders it.
	latest := `{"id": 3, "shop_id": "gid://shopify/Shop/548380009", "previous": [],
	  "current": ["read_orders"], "updated_at": "2026-03-04T12:00:00.000Z"}`
	require.NoError(t, e.dispatchOne(s, "app/scopes_update", time.Time{}, latest))
	require.Equal(t, []string{"read_orders"}, scopes())
	require.NoError(t, e.dispatchOne(s, "app/scopes_update", time.Time{}, older))
	require.Equal(t, []string{"read_orders"}, scopes())

	// A payload without current scopes can never apply.
	id = e.deliver(s, "app/scopes_update", installed.Add(96*time.Hour), `{"id": 4, "updated_at": "2026-03-05T12:00:00.000Z"}`)
	st, _ = e.inbox(id)
	require.Equal(t, "failed", st.Status)
	require.Equal(t, []string{"read_orders"}, scopes())
}
