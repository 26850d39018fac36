package devstore

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/relance/relance/internal/shopify"
	"github.com/stretchr/testify/require"
)

func TestRootField(t *testing.T) {
	tests := []struct {
		name, doc, op, alias, field string
		wantErr                     bool
	}{
		{"anonymous", `{ shop { id } }`, "query", "shop", "shop", false},
		{"named query", `query ShopInfo { shop { id } }`, "query", "shop", "shop", false},
		{"variables", `query Q($id: ID!, $n: Int = 5) @cached(ttl: 5) { customer(id: $id) { email } }`, "query", "customer", "customer", false},
		{"mutation with alias", `mutation M($in: X!) { created: discountCodeBasicCreate(basicCodeDiscount: $in) { userErrors { field } } }`, "mutation", "created", "discountCodeBasicCreate", false},
		{"fragment first", "fragment F on Shop { id }\n# comment { \nquery { shop { ...F } }", "query", "shop", "shop", false},
		{"strings with braces", `query { shop(x: "}{", y: """ { """) { id } }`, "query", "shop", "shop", false},
		{"comments and commas", "# leading\n,{ # c\n shop }", "query", "shop", "shop", false},
		{"unbalanced", `{ shop `, "", "", "", true},
		{"stray close", `{ shop } }`, "", "", "", true},
		{"empty", ``, "", "", "", true},
		{"garbage", `SELECT * FROM shop`, "", "", "", true},
		{"unterminated string", `{ shop(x: "abc) }`, "", "", "", true},
		{"spread at root", `{ ...F }`, "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, alias, field, err := rootField(tt.doc)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, []string{tt.op, tt.alias, tt.field}, []string{op, alias, field})
		})
	}
}

type fixture struct {
	s   *Server
	srv *httptest.Server
	now time.Time
}

func newFixture(t *testing.T, o Options) *fixture {
	f := &fixture{now: time.Date(2026, 10, 5, 12, 0, 0, 0, time.UTC)}
	o.APIKey, o.APISecret = "key", "secret"
	o.Now = func() time.Time { return f.now }
	f.s = New(o)
	f.s.AddShop("a-shop.myshopify.com", "A", "a@a.test", "UTC", "USD")
	f.srv = httptest.NewServer(f.s)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) gql(t *testing.T, shop, token, query string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/store/"+shop+"/admin/api/"+shopify.APIVersion+"/graphql.json",
		strings.NewReader(`{"query":`+quote(query)+`}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Access-Token", token)
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	raw, _ := io.ReadAll(resp.Body)
	require.NoError(t, json.Unmarshal(raw, &body), string(raw))
	return resp.StatusCode, body
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestGraphQLAuthAndBucket(t *testing.T) {
	f := newFixture(t, Options{Bucket: 10, RestoreRate: 2})
	f.s.AddShop("b-shop.myshopify.com", "B", "b@b.test", "UTC", "USD")
	tok, err := f.s.IssueToken("a-shop.myshopify.com")
	require.NoError(t, err)

	status, body := f.gql(t, "a-shop.myshopify.com", "shpat_unknown", `{ shop { id } }`)
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, invalidTokenError, body["errors"])
	status, _ = f.gql(t, "b-shop.myshopify.com", tok.AccessToken, `{ shop { id } }`)
	require.Equal(t, http.StatusUnauthorized, status, "a token only works for its own shop")

	f.s.HandleGraphQL("heavy", 6, func(string, map[string]any) (any, error) { return 1, nil })
	status, body = f.gql(t, "a-shop.myshopify.com", tok.AccessToken, `{ heavy }`)
	require.Equal(t, http.StatusOK, status)
	cost := body["extensions"].(map[string]any)["cost"].(map[string]any)
	require.Equal(t, 6.0, cost["requestedQueryCost"])
	require.Equal(t, 6.0, cost["actualQueryCost"])
	require.Equal(t, map[string]any{"maximumAvailable": 10.0, "currentlyAvailable": 4.0, "restoreRate": 2.0}, cost["throttleStatus"])

	status, body = f.gql(t, "a-shop.myshopify.com", tok.AccessToken, `{ heavy }`)
	require.Equal(t, http.StatusOK, status)
	errs := body["errors"].([]any)
	require.Equal(t, "THROTTLED", errs[0].(map[string]any)["extensions"].(map[string]any)["code"])
	require.NotContains(t, body, "data")

	f.now = f.now.Add(time.Second) // 4 + 2 = 6 points
	status, body = f.gql(t, "a-shop.myshopify.com", tok.AccessToken, `{ heavy }`)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]any{"heavy": 1.0}, body["data"])

	// Buckets are per shop.
	tokB, err := f.s.IssueToken("b-shop.myshopify.com")
	require.NoError(t, err)
	status, body = f.gql(t, "b-shop.myshopify.com", tokB.AccessToken, `{ heavy }`)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "data")

	// Expiry.
	f.now = f.now.Add(time.Hour)
	status, _ = f.gql(t, "a-shop.myshopify.com", tok.AccessToken, `{ shop { id } }`)
	require.Equal(t, http.StatusUnauthorized, status)
}

func TestRoutingAndFaults(t *testing.T) {
	f := newFixture(t, Options{})
	tok, err := f.s.IssueToken("a-shop.myshopify.com")
	require.NoError(t, err)
	_, err = f.s.IssueToken("nobody.myshopify.com")
	require.Error(t, err)

	get := func(path string) int {
		resp, err := f.srv.Client().Get(f.srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusNotFound, get("/"))
	require.Equal(t, http.StatusNotFound, get("/store/evil.com/admin/oauth/authorize"))
	require.Equal(t, http.StatusNotFound, get("/store/nobody.myshopify.com/admin/oauth/authorize"))
	require.Equal(t, http.StatusNotFound, get("/store/a-shop.myshopify.com/admin/api/2025-01/graphql.json"))
	require.Equal(t, http.StatusMethodNotAllowed, get("/store/a-shop.myshopify.com/admin/api/"+shopify.APIVersion+"/graphql.json"))
	require.Equal(t, http.StatusMethodNotAllowed, get("/store/a-shop.myshopify.com/admin/oauth/access_token"))

	f.s.FailNext("graphql.json", http.StatusInternalServerError, 2)
	for i := 0; i < 2; i++ {
		status, _ := f.gql(t, "a-shop.myshopify.com", tok.AccessToken, `{ shop { id } }`)
		require.Equal(t, http.StatusInternalServerError, status)
	}
	status, body := f.gql(t, "a-shop.myshopify.com", tok.AccessToken, `{ shop { id name } }`)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "A", body["data"].(map[string]any)["shop"].(map[string]any)["name"])

	reqs := f.s.Requests()
	require.Len(t, reqs, 9)
	last := reqs[len(reqs)-1]
	require.Equal(t, RecordedRequest{
		Method: http.MethodPost, Path: "/store/a-shop.myshopify.com/admin/api/" + shopify.APIVersion + "/graphql.json",
		Shop: "a-shop.myshopify.com", Time: f.now, Status: http.StatusOK,
	}, last)
}

func TestAccessTokenErrors(t *testing.T) {
	f := newFixture(t, Options{})
	post := func(body string) (int, map[string]any) {
		resp, err := f.srv.Client().Post(f.srv.URL+"/store/a-shop.myshopify.com/admin/oauth/access_token", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, out
	}
	tests := []struct {
		name, body string
		status     int
		code       string
	}{
		{"not json", `{`, http.StatusBadRequest, "invalid_request"},
		{"no credentials", `{"code":"x"}`, http.StatusBadRequest, "invalid_request"},
		{"bad secret", `{"client_id":"key","client_secret":"nope","code":"x"}`, http.StatusUnauthorized, "invalid_client"},
		{"bad client id", `{"client_id":"other","client_secret":"secret","code":"x"}`, http.StatusUnauthorized, "invalid_client"},
		{"unknown code", `{"client_id":"key","client_secret":"secret","code":"x","expiring":1}`, http.StatusBadRequest, "invalid_grant"},
		{"no code", `{"client_id":"key","client_secret":"secret"}`, http.StatusBadRequest, "invalid_request"},
		{"unknown grant", `{"client_id":"key","client_secret":"secret","grant_type":"password"}`, http.StatusBadRequest, "unsupported_grant_type"},
		{"unknown refresh token", `{"client_id":"key","client_secret":"secret","grant_type":"refresh_token","refresh_token":"shprt_x"}`, http.StatusBadRequest, "invalid_grant"},
		{"online token requested", `{"client_id":"key","client_secret":"secret","grant_type":"` + shopify.GrantTypeTokenExchange + `","subject_token":"x","subject_token_type":"` + shopify.TokenTypeIDToken + `","requested_token_type":"urn:shopify:params:oauth:token-type:online-access-token"}`, http.StatusBadRequest, "invalid_request"},
		{"bad subject token", `{"client_id":"key","client_secret":"secret","grant_type":"` + shopify.GrantTypeTokenExchange + `","subject_token":"x","subject_token_type":"` + shopify.TokenTypeIDToken + `"}`, http.StatusBadRequest, "invalid_subject_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(tt.body)
			require.Equal(t, tt.status, status)
			require.Equal(t, tt.code, body["error"])
			require.NotEmpty(t, body["error_description"])
		})
	}
}
