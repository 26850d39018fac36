package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/web"
)

const (
	exportsAPIKey = "test-api-key"
	exportsSecret = "shpss_exports_secret"
)

// exportsServer serves /api/data-exports behind the real session middleware.
func exportsServer(t *testing.T) (*echo.Echo, *shop.Privacy) {
	t.Helper()
	db := testenv.DB(t)
	for _, d := range []string{"alpha.myshopify.com", "beta.myshopify.com"} {
		require.NoError(t, db.Exec(`INSERT INTO shops (domain, access_token_enc) VALUES (?, '\x01'::bytea)`, d).Error)
	}
	p := shop.NewPrivacy(db)
	auth := &web.Auth{APIKey: exportsAPIKey, Secrets: shopify.Secrets{Current: exportsSecret}, Store: &shop.Store{DB: db}}
	e := echo.New()
	web.DataExportRoutes(e.Group("/api", auth.RequireSession), p)
	return e, p
}

func exportsGet(t *testing.T, e *echo.Echo, shopDomain, path string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if shopDomain != "" {
		now := time.Now()
		tok := shopify.SignSessionToken(exportsSecret, shopify.SessionClaims{
			Shop: shopDomain, Audience: exportsAPIKey, UserID: "1",
			IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(time.Minute),
		})
		req.Header.Set(echo.HeaderAuthorization, "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func TestDataExportsAPI(t *testing.T) {
	t.Parallel()
	e, p := exportsServer(t)
	ctx := context.Background()
	ref := shop.CustomerRef{ShopifyID: 9007199254740993, Email: "redact-me@example.com"}
	var alpha []int64
	for i := range 3 {
		x, err := p.DataRequest(ctx, "alpha.myshopify.com", int64(10+i), ref)
		require.NoError(t, err)
		alpha = append(alpha, x.ID)
	}
	beta, err := p.DataRequest(ctx, "beta.myshopify.com", 10, ref)
	require.NoError(t, err)

	// List, paginated, only the session's shop.
	rec := exportsGet(t, e, "alpha.myshopify.com", "/api/data-exports?limit=2")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	var page web.DataExportList
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
	require.Len(t, page.Exports, 2)
	require.Equal(t, alpha[2], page.Exports[0].ID)
	require.Equal(t, ref, page.Exports[0].Customer)
	require.NotNil(t, page.NextBefore)
	rec = exportsGet(t, e, "alpha.myshopify.com", fmt.Sprintf("/api/data-exports?limit=2&before=%d", *page.NextBefore))
	require.Equal(t, http.StatusOK, rec.Code)
	page = web.DataExportList{}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
	require.Len(t, page.Exports, 1)
	require.Equal(t, alpha[0], page.Exports[0].ID)
	require.Nil(t, page.NextBefore)
	for _, x := range page.Exports {
		require.NotEqual(t, beta.ID, x.ID)
	}

	// The document itself.
	rec = exportsGet(t, e, "alpha.myshopify.com", fmt.Sprintf("/api/data-exports/%d", alpha[0]))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Header().Get(echo.HeaderContentType), "application/json")
	require.Contains(t, rec.Header().Get(echo.HeaderContentDisposition), "data-request-10.json")
	var doc struct {
		ShopDomain string `json:"shop_domain"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
	require.Equal(t, "alpha.myshopify.com", doc.ShopDomain)
	require.Contains(t, rec.Body.String(), "9007199254740993")

	// Another shop's export does not exist for alpha.
	rec = exportsGet(t, e, "alpha.myshopify.com", fmt.Sprintf("/api/data-exports/%d", beta.ID))
	require.Equal(t, http.StatusNotFound, rec.Code)
	require.NotContains(t, rec.Body.String(), "redact-me")
	rec = exportsGet(t, e, "beta.myshopify.com", fmt.Sprintf("/api/data-exports/%d", beta.ID))
	require.Equal(t, http.StatusOK, rec.Code)

	// Bad input and no session.
	require.Equal(t, http.StatusNotFound, exportsGet(t, e, "alpha.myshopify.com", "/api/data-exports/abc").Code)
	require.Equal(t, http.StatusBadRequest, exportsGet(t, e, "alpha.myshopify.com", "/api/data-exports?limit=1000").Code)
	require.Equal(t, http.StatusBadRequest, exportsGet(t, e, "alpha.myshopify.com", "/api/data-exports?before=x").Code)
	require.Equal(t, http.StatusUnauthorized, exportsGet(t, e, "", "/api/data-exports").Code)
	require.Equal(t, http.StatusUnauthorized, exportsGet(t, e, "", fmt.Sprintf("/api/data-exports/%d", alpha[0])).Code)
}
