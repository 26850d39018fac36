package shopify_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/shopify/devstore"
	"github.com/stretchr/testify/require"
)

func TestAuthorizeURL(t *testing.T) {
	o := &shopify.OAuth{APIKey: "k", Scopes: []string{"read_orders", "write_discounts"}, RedirectURL: "https://app.example/auth/callback"}
	u, err := url.Parse(o.AuthorizeURL("some-shop.myshopify.com", "nonce"))
	require.NoError(t, err)
	require.Equal(t, "https", u.Scheme)
	require.Equal(t, "some-shop.myshopify.com", u.Host)
	require.Equal(t, "/admin/oauth/authorize", u.Path)
	require.Equal(t, url.Values{
		"client_id":    {"k"},
		"scope":        {"read_orders,write_discounts"},
		"redirect_uri": {"https://app.example/auth/callback"},
		"state":        {"nonce"},
	}, u.Query())

	o.Scopes = nil
	u, err = url.Parse(o.AuthorizeURL("some-shop.myshopify.com", "n"))
	require.NoError(t, err)
	require.NotContains(t, u.Query(), "scope")
	require.NotContains(t, u.Query(), "grant_options[]")
}

func TestAuthorizationCodeFlow(t *testing.T) {
	e := newEnv(t, devstore.Options{})
	ctx := context.Background()

	resp, err := noRedirect(e.srv.Client()).Get(e.oauth.AuthorizeURL(devShop, "nonce-1"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "app.example", loc.Host)
	require.Equal(t, "/auth/callback", loc.Path)
	q := loc.Query()
	require.Equal(t, "nonce-1", q.Get("state"))
	require.Equal(t, devShop, q.Get("shop"))
	require.NoError(t, shopify.Secrets{Current: apiSecret}.VerifyQuery(q, e.clock.Now()))
	host, err := shopify.DecodeHost(q.Get("host"))
	require.NoError(t, err)
	require.Equal(t, "admin.shopify.com/store/dev-shop", host)

	tok, err := e.oauth.ExchangeCode(ctx, devShop, q.Get("code"))
	require.NoError(t, err)
	require.NotEmpty(t, tok.AccessToken)
	require.NotEmpty(t, tok.RefreshToken)
	require.Equal(t, []string{"read_customers", "write_discounts"}, tok.Scopes)
	require.Equal(t, e.clock.Now().Add(time.Hour), tok.ExpiresAt)
	require.Equal(t, e.clock.Now().Add(90*24*time.Hour), tok.RefreshExpiresAt)

	// Codes are single use.
	_, err = e.oauth.ExchangeCode(ctx, devShop, q.Get("code"))
	require.ErrorIs(t, err, shopify.ErrInvalidGrant)
	require.Contains(t, err.Error(), "invalid_grant")
	require.NotContains(t, err.Error(), apiSecret)

	// And expire after 10 minutes.
	resp, err = noRedirect(e.srv.Client()).Get(e.oauth.AuthorizeURL(devShop, "nonce-2"))
	require.NoError(t, err)
	resp.Body.Close()
	loc, _ = url.Parse(resp.Header.Get("Location"))
	e.clock.Advance(11 * time.Minute)
	_, err = e.oauth.ExchangeCode(ctx, devShop, loc.Query().Get("code"))
	require.ErrorIs(t, err, shopify.ErrInvalidGrant)

	// The token works against the Admin API.
	var out struct {
		Shop struct {
			ID, Name, Email, MyshopifyDomain, IanaTimezone, CurrencyCode string
		}
	}
	ts := &tokens{oauth: e.oauth, tok: map[string]*shopify.Token{devShop: tok}}
	e.clock.Advance(-11 * time.Minute)
	require.NoError(t, e.client(ts).Do(ctx, devShop, `{ shop { id name email myshopifyDomain ianaTimezone currencyCode } }`, nil, &out))
	require.Equal(t, "gid://shopify/Shop/1", out.Shop.ID)
	require.Equal(t, "Dev Shop", out.Shop.Name)
	require.Equal(t, "owner@dev-shop.test", out.Shop.Email)
	require.Equal(t, devShop, out.Shop.MyshopifyDomain)
	require.Equal(t, "Europe/Paris", out.Shop.IanaTimezone)
	require.Equal(t, "EUR", out.Shop.CurrencyCode)
}

func TestAuthorizeRejects(t *testing.T) {
	e := newEnv(t, devstore.Options{})
	bad := *e.oauth
	bad.APIKey = "wrong"
	resp, err := noRedirect(e.srv.Client()).Get(bad.AuthorizeURL(devShop, "s"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	noRedirectURL := *e.oauth
	noRedirectURL.RedirectURL = ""
	resp, err = noRedirect(e.srv.Client()).Get(noRedirectURL.AuthorizeURL(devShop, "s"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	resp, err = noRedirect(e.srv.Client()).Get(e.oauth.AuthorizeURL("unknown.myshopify.com", "s"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestTokenExchange(t *testing.T) {
	e := newEnv(t, devstore.Options{})
	ctx := context.Background()
	e.ds.AddShop("other-shop.myshopify.com", "Other", "o@o.test", "UTC", "USD")

	tok, err := e.oauth.ExchangeSessionToken(ctx, devShop, e.sessionToken(devShop, apiSecret))
	require.NoError(t, err)
	require.NotEmpty(t, tok.AccessToken)
	require.NotEmpty(t, tok.RefreshToken)
	require.False(t, tok.ExpiresAt.IsZero())
	require.Equal(t, devstore.DefaultScopes, tok.Scopes)

	tests := []struct {
		name, shop, token, want string
	}{
		{"wrong secret", devShop, e.sessionToken(devShop, "not-the-secret"), "invalid_subject_token"},
		{"token for another shop", devShop, e.sessionToken("other-shop.myshopify.com", apiSecret), "invalid_subject_token"},
		{"garbage", devShop, "garbage", "invalid_subject_token"},
		{"empty", devShop, "", "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.oauth.ExchangeSessionToken(ctx, tt.shop, tt.token)
			require.ErrorIs(t, err, shopify.ErrInvalidGrant)
			require.Contains(t, err.Error(), tt.want)
		})
	}

	// An expired session token is refused.
	old := e.sessionToken(devShop, apiSecret)
	e.clock.Advance(2 * time.Minute)
	_, err = e.oauth.ExchangeSessionToken(ctx, devShop, old)
	require.ErrorIs(t, err, shopify.ErrInvalidGrant)

	// Bad client credentials: 401, still a refused grant, secret not echoed.
	bad := *e.oauth
	bad.Secrets = shopify.Secrets{Current: "wrong-secret"}
	_, err = bad.ExchangeSessionToken(ctx, devShop, e.sessionToken(devShop, apiSecret))
	require.ErrorIs(t, err, shopify.ErrInvalidGrant)
	require.Contains(t, err.Error(), "invalid_client")
	require.NotContains(t, err.Error(), "wrong-secret")

	// Invalid shop never leaves the process.
	_, err = e.oauth.ExchangeSessionToken(ctx, "evil.com", "x")
	require.ErrorIs(t, err, shopify.ErrInvalidShop)
}

func TestRefreshRotation(t *testing.T) {
	e := newEnv(t, devstore.Options{})
	ctx := context.Background()
	ts := e.install(t)
	c := e.client(ts)
	t1 := ts.tok[devShop]

	t2, err := e.oauth.Refresh(ctx, devShop, t1.RefreshToken)
	require.NoError(t, err)
	require.NotEqual(t, t1.AccessToken, t2.AccessToken)
	require.NotEqual(t, t1.RefreshToken, t2.RefreshToken)

	// Response lost: the old refresh token is retried and still works,
	// because the replacement access token was never used.
	t3, err := e.oauth.Refresh(ctx, devShop, t1.RefreshToken)
	require.NoError(t, err)

	// Using the newest access token retires the old refresh token.
	ts.tok[devShop] = t3
	require.NoError(t, c.Do(ctx, devShop, `{ shop { id } }`, nil, nil))
	_, err = e.oauth.Refresh(ctx, devShop, t1.RefreshToken)
	require.ErrorIs(t, err, shopify.ErrInvalidGrant)
	// The superseded, never-used refresh token is dead too.
	_, err = e.oauth.Refresh(ctx, devShop, t2.RefreshToken)
	require.ErrorIs(t, err, shopify.ErrInvalidGrant)

	// The old access token lives until its own expiry.
	ts.tok[devShop] = &shopify.Token{AccessToken: t1.AccessToken}
	require.NoError(t, c.Do(ctx, devShop, `{ shop { id } }`, nil, nil))
	e.clock.Advance(61 * time.Minute)
	ts.tok[devShop] = &shopify.Token{AccessToken: t1.AccessToken, RefreshToken: t3.RefreshToken}
	require.NoError(t, c.Do(ctx, devShop, `{ shop { id } }`, nil, nil), "expired token is refreshed with t3's refresh token")
	require.Equal(t, 1, ts.refreshes)

	// Refresh tokens expire after 90 days.
	e.clock.Advance(91 * 24 * time.Hour)
	_, err = e.oauth.Refresh(ctx, devShop, ts.tok[devShop].RefreshToken)
	require.ErrorIs(t, err, shopify.ErrInvalidGrant)

	// A new installation kills earlier refresh tokens.
	t4, err := e.oauth.ExchangeSessionToken(ctx, devShop, e.sessionToken(devShop, apiSecret))
	require.NoError(t, err)
	t5, err := e.oauth.ExchangeSessionToken(ctx, devShop, e.sessionToken(devShop, apiSecret))
	require.NoError(t, err)
	_, err = e.oauth.Refresh(ctx, devShop, t4.RefreshToken)
	require.ErrorIs(t, err, shopify.ErrInvalidGrant)
	_, err = e.oauth.Refresh(ctx, devShop, t5.RefreshToken)
	require.NoError(t, err)
}

func TestOAuthRetries(t *testing.T) {
	e := newEnv(t, devstore.Options{})
	ctx := context.Background()
	ts := e.install(t)

	e.ds.FailNext("/admin/oauth/access_token", http.StatusServiceUnavailable, 3)
	tok, err := e.oauth.Refresh(ctx, devShop, ts.tok[devShop].RefreshToken)
	require.NoError(t, err)
	require.NotEmpty(t, tok.AccessToken)
	require.Len(t, e.clock.Slept(), 3)

	e.ds.FailNext("/admin/oauth/access_token", http.StatusBadGateway, 4)
	_, err = e.oauth.Refresh(ctx, devShop, tok.RefreshToken)
	require.Error(t, err)
	require.NotErrorIs(t, err, shopify.ErrInvalidGrant)
	var he *shopify.HTTPError
	require.True(t, errors.As(err, &he))
	require.Equal(t, http.StatusBadGateway, he.Status)

	// The refresh token survived the failures.
	_, err = e.oauth.Refresh(ctx, devShop, tok.RefreshToken)
	require.NoError(t, err)

	e.ds.FailNext("/admin/oauth/access_token", http.StatusLocked, 1)
	_, err = e.oauth.Refresh(ctx, devShop, tok.RefreshToken)
	require.ErrorIs(t, err, shopify.ErrShopUnavailable)

	// Network failure: nothing listening.
	dead := *e.oauth
	dead.AdminBase, _ = url.Parse("http://127.0.0.1:1/store/{shop}")
	_, err = dead.Refresh(ctx, devShop, tok.RefreshToken)
	require.Error(t, err)
	require.NotContains(t, err.Error(), apiSecret)
	require.NotContains(t, err.Error(), tok.RefreshToken)

	// Cancelled context stops retrying at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = e.oauth.Refresh(cctx, devShop, tok.RefreshToken)
	require.ErrorIs(t, err, context.Canceled)
}

func TestFormEncodedAndNonExpiring(t *testing.T) {
	e := newEnv(t, devstore.Options{})
	resp, err := noRedirect(e.srv.Client()).Get(e.oauth.AuthorizeURL(devShop, "s"))
	require.NoError(t, err)
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	// Shopify documents form-encoded requests; without expiring=1 the token does not expire.
	resp, err = e.srv.Client().PostForm(e.srv.URL+"/store/"+devShop+"/admin/oauth/access_token", url.Values{
		"client_id": {apiKey}, "client_secret": {apiSecret}, "code": {loc.Query().Get("code")},
	})
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var body map[string]any
	require.NoError(t, jsonDecode(resp, &body))
	require.NotEmpty(t, body["access_token"])
	require.NotContains(t, body, "refresh_token")
	require.NotContains(t, body, "expires_in")
}
