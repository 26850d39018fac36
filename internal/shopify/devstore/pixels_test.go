package devstore

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/shopify"
)

func TestWebPixels(t *testing.T) {
	f := newFixture(t, Options{})
	const shop = "a-shop.myshopify.com"
	tok, err := f.s.IssueToken(shop)
	require.NoError(t, err)
	// The stand-in reads arguments from variables only.
	gql := func(q string, vars map[string]any) map[string]any {
		t.Helper()
		b, err := json.Marshal(map[string]any{"query": q, "variables": vars})
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/store/"+shop+"/admin/api/"+shopify.APIVersion+"/graphql.json", bytes.NewReader(b))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Shopify-Access-Token", tok.AccessToken)
		resp, err := f.srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var body map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return body
	}
	payload := func(body map[string]any, field string) map[string]any {
		t.Helper()
		return body["data"].(map[string]any)[field].(map[string]any)
	}
	code := func(p map[string]any) string {
		t.Helper()
		errs := p["userErrors"].([]any)
		require.Len(t, errs, 1)
		return errs[0].(map[string]any)["code"].(string)
	}

	// No pixel yet: a null field and a top-level error.
	body := gql(`{ webPixel { id settings } }`, nil)
	require.Nil(t, body["data"].(map[string]any)["webPixel"])
	require.Contains(t, body["errors"].([]any)[0].(map[string]any)["message"], "No web pixel")

	create := func(settings string) map[string]any {
		return payload(gql(`mutation($webPixel: WebPixelInput!) { webPixelCreate(webPixel: $webPixel) { webPixel { id settings } userErrors { code } } }`,
			map[string]any{"webPixel": map[string]any{"settings": settings}}), "webPixelCreate")
	}
	require.Equal(t, "INVALID_CONFIGURATION_JSON", code(create(`{nope`)))
	require.Equal(t, "INVALID_SETTINGS", code(create(`{"accountID": "a-shop.myshopify.com"}`)))
	require.Equal(t, "INVALID_SETTINGS", code(create(`{"accountID": "a", "appUrl": "b", "extra": "c"}`)))
	_, ok := f.s.WebPixel(shop)
	require.False(t, ok)

	p := create(`{"accountID": "a-shop.myshopify.com", "appUrl": "https://r.example"}`)
	require.Empty(t, p["userErrors"])
	id := p["webPixel"].(map[string]any)["id"].(string)
	require.Equal(t, "TAKEN", code(create(`{"accountID": "a-shop.myshopify.com", "appUrl": "https://r.example"}`)))

	got := payload(gql(`{ webPixel { id settings } }`, nil), "webPixel")
	require.Equal(t, id, got["id"])
	require.JSONEq(t, `{"accountID": "a-shop.myshopify.com", "appUrl": "https://r.example"}`, got["settings"].(string), "settings: a JSON string")

	update := func(id, settings string) map[string]any {
		return payload(gql(`mutation($id: ID!, $webPixel: WebPixelInput!) { webPixelUpdate(id: $id, webPixel: $webPixel) { webPixel { id } userErrors { code } } }`,
			map[string]any{"id": id, "webPixel": map[string]any{"settings": settings}}), "webPixelUpdate")
	}
	require.Equal(t, "NOT_FOUND", code(update("gid://shopify/WebPixel/1", `{"accountID": "a", "appUrl": "b"}`)))
	require.Empty(t, update(id, `{"accountID": "a-shop.myshopify.com", "appUrl": "https://new.example"}`)["userErrors"])
	px, ok := f.s.WebPixel(shop)
	require.True(t, ok)
	require.Equal(t, "https://new.example", px.Settings["appUrl"])
	require.Equal(t, 1, px.Updates)

	del := payload(gql(`mutation($id: ID!) { webPixelDelete(id: $id) { deletedWebPixelId userErrors { code } } }`, map[string]any{"id": id}), "webPixelDelete")
	require.Equal(t, id, del["deletedWebPixelId"])
	_, ok = f.s.WebPixel(shop)
	require.False(t, ok)
}
