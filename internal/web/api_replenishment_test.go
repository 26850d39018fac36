package web

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/contact"
)

func TestReplenishmentOverridesAPI(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	ctx := context.Background()

	code, got := env.call(t, shopA, http.MethodGet, "/api/replenishment/products", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []any{}, got["items"])
	require.Nil(t, got["next_cursor"])

	// A product once ordered in shop A has a title; B's order of the same
	// product id is B's own.
	c, err := env.contacts.Upsert(ctx, env.shopA.ID, contact.Profile{Email: "lea@example.com"})
	require.NoError(t, err)
	_, err = env.contacts.RecordOrder(ctx, env.shopA.ID, contact.Order{ID: 9001, ContactID: c.ID, TotalPrice: "30.00", Currency: "EUR",
		OrderedAt: time.Now(), UpdatedAt: time.Now(), Items: []contact.OrderItem{{ProductID: 501, Quantity: 1, Title: "Sérum 30 ml", Price: "30.00"}}})
	require.NoError(t, err)

	// Validation.
	code, got = env.call(t, shopA, http.MethodPut, "/api/replenishment/products/501", map[string]any{"days": 0})
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Contains(t, fields(t, got), "days")
	code, got = env.call(t, shopA, http.MethodPut, "/api/replenishment/products/501", map[string]any{})
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Equal(t, "is required", fields(t, got)["days"])
	code, got = env.call(t, shopA, http.MethodPut, "/api/replenishment/products/abc", map[string]any{"days": 20})
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Contains(t, fields(t, got), "product_id")
	code, _ = env.call(t, shopA, http.MethodPut, "/api/replenishment/products/-4", map[string]any{"days": 20})
	require.Equal(t, http.StatusUnprocessableEntity, code)

	// Set, update, list (paginated by product id).
	code, got = env.call(t, shopA, http.MethodPut, "/api/replenishment/products/501", map[string]any{"days": 20})
	require.Equal(t, http.StatusOK, code, "%v", got)
	require.Equal(t, map[string]any{"product_id": 501.0, "title": "Sérum 30 ml", "days": 20.0}, got)
	code, got = env.call(t, shopA, http.MethodPut, "/api/replenishment/products/501", map[string]any{"days": 25})
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 25, got["days"])
	for _, id := range []string{"42", "777"} {
		code, _ = env.call(t, shopA, http.MethodPut, "/api/replenishment/products/"+id, map[string]any{"days": 60})
		require.Equal(t, http.StatusOK, code)
	}
	code, got = env.call(t, shopA, http.MethodGet, "/api/replenishment/products?limit=2", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []any{
		map[string]any{"product_id": 42.0, "title": "", "days": 60.0},
		map[string]any{"product_id": 501.0, "title": "Sérum 30 ml", "days": 25.0},
	}, got["items"])
	require.Equal(t, "501", got["next_cursor"])
	_, got = env.call(t, shopA, http.MethodGet, "/api/replenishment/products?limit=2&cursor=501", nil)
	require.Equal(t, []any{map[string]any{"product_id": 777.0, "title": "", "days": 60.0}}, got["items"])
	require.Nil(t, got["next_cursor"])

	// The engine uses the override.
	life, found, err := env.deps.Engine.ProductLife(ctx, env.shopA.ID, 501)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, 25, life.Days)

	// Shop B sees none of A's, and cannot delete them.
	_, got = env.call(t, shopB, http.MethodGet, "/api/replenishment/products", nil)
	require.Equal(t, []any{}, got["items"])
	code, _ = env.call(t, shopB, http.MethodDelete, "/api/replenishment/products/501", nil)
	require.Equal(t, http.StatusNotFound, code)
	code, got = env.call(t, shopB, http.MethodPut, "/api/replenishment/products/501", map[string]any{"days": 5})
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "", got["title"], "A's order does not name B's product")
	life, _, err = env.deps.Engine.ProductLife(ctx, env.shopA.ID, 501)
	require.NoError(t, err)
	require.Equal(t, 25, life.Days)

	// Delete: the product follows the default again.
	code, _ = env.call(t, shopA, http.MethodDelete, "/api/replenishment/products/501", nil)
	require.Equal(t, http.StatusNoContent, code)
	code, _ = env.call(t, shopA, http.MethodDelete, "/api/replenishment/products/501", nil)
	require.Equal(t, http.StatusNotFound, code)
	_, found, err = env.deps.Engine.ProductLife(ctx, env.shopA.ID, 501)
	require.NoError(t, err)
	require.False(t, found)
	_, found, err = env.deps.Engine.ProductLife(ctx, env.shopB.ID, 501)
	require.NoError(t, err)
	require.True(t, found, "B's own override stays")
}
