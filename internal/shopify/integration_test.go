package shopify_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/shopify/devstore"
	"github.com/stretchr/testify/require"
)

const (
	apiKey    = "test-api-key"
	apiSecret = "test-api-secret"
	devShop   = "dev-shop.myshopify.com"
)

// clock is a fake time shared by the stand-in and the clients; sleeping
// advances it, so throttling and expiry run instantly and deterministically.
type clock struct {
	mu     sync.Mutex
	t      time.Time
	slept  []time.Duration
	sleeps int
}

func newClock() *clock { return &clock{t: time.Date(2026, 10, 5, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.slept = append(c.slept, d)
	c.sleeps++
	return nil
}

func (c *clock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

type env struct {
	clock *clock
	ds    *devstore.Server
	srv   *httptest.Server
	base  *url.URL
	oauth *shopify.OAuth
}

func newEnv(t *testing.T, o devstore.Options) *env {
	t.Helper()
	c := newClock()
	o.APIKey, o.APISecret, o.Now = apiKey, apiSecret, c.Now
	ds := devstore.New(o)
	ds.AddShop(devShop, "Dev Shop", "owner@dev-shop.test", "Europe/Paris", "EUR")
	srv := httptest.NewServer(ds)
	t.Cleanup(srv.Close)
	base, err := url.Parse(srv.URL + "/store/{shop}")
	require.NoError(t, err)
	return &env{
		clock: c, ds: ds, srv: srv, base: base,
		oauth: &shopify.OAuth{
			APIKey: apiKey, Secrets: shopify.Secrets{Current: apiSecret},
			Scopes:      []string{"read_customers", "write_discounts"},
			RedirectURL: "https://app.example/auth/callback",
			AdminBase:   base, HTTP: srv.Client(), Sleep: c.Sleep, Now: c.Now,
		},
	}
}

func (e *env) sessionToken(shop, secret string) string {
	now := e.clock.Now()
	return shopify.SignSessionToken(secret, shopify.SessionClaims{
		Shop: shop, UserID: "1", Audience: apiKey, SessionID: "s",
		ExpiresAt: now.Add(time.Minute), NotBefore: now.Add(-time.Second), IssuedAt: now,
	})
}

// tokens is a TokenSource over OAuth, serializing refreshes per shop like
// the real store must.
type tokens struct {
	mu        sync.Mutex
	oauth     *shopify.OAuth
	tok       map[string]*shopify.Token
	refreshes int
}

func (s *tokens) AccessToken(_ context.Context, shop string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok[shop].AccessToken, nil
}

func (s *tokens) RefreshAccessToken(ctx context.Context, shop, refused string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.tok[shop]
	if cur.AccessToken != refused {
		return cur.AccessToken, nil // someone else refreshed already
	}
	t, err := s.oauth.Refresh(ctx, shop, cur.RefreshToken)
	if err != nil {
		return "", err
	}
	s.refreshes++
	s.tok[shop] = t
	return t.AccessToken, nil
}

func (e *env) install(t *testing.T) *tokens {
	t.Helper()
	tok, err := e.oauth.ExchangeSessionToken(context.Background(), devShop, e.sessionToken(devShop, apiSecret))
	require.NoError(t, err)
	return &tokens{oauth: e.oauth, tok: map[string]*shopify.Token{devShop: tok}}
}

func (e *env) client(ts shopify.TokenSource) *shopify.Client {
	return &shopify.Client{AdminBase: e.base, Tokens: ts, HTTP: e.srv.Client(), Sleep: e.clock.Sleep, Now: e.clock.Now}
}

func noRedirect(c *http.Client) *http.Client {
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

func newHTTPTest(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
