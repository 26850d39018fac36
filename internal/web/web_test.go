package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/shopify/devstore"
)

const (
	testAPIKey    = "relance-test-key"
	testAPISecret = "relance-test-secret"
	shopA         = "alpha.myshopify.com"
	shopB         = "beta.myshopify.com"
	spaBody       = "<!doctype html><title>Relance admin</title>"
)

var testScopes = []string{"read_orders", "write_customers"}

type bundle struct {
	dev   *devstore.Server
	app   *httptest.Server
	auth  *Auth
	oauth *shopify.OAuth
	store *shop.Store
	logs  *syncBuffer

	mu     sync.Mutex
	hooked []string // shops the install hook saw
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// setup runs the stand-in Shopify (shops A and B) and the app's auth, API
// and SPA routes over real HTTP on a fresh database.
func setup(t *testing.T) *bundle {
	t.Helper()
	dev := devstore.New(devstore.Options{APIKey: testAPIKey, APISecret: testAPISecret})
	dev.AddShop(shopA, "Alpha", "owner@alpha.test", "Europe/Paris", "EUR")
	dev.AddShop(shopB, "Beta", "owner@beta.test", "America/New_York", "USD")
	devSrv := httptest.NewServer(dev)
	t.Cleanup(devSrv.Close)
	adminBase, err := url.Parse(devSrv.URL + "/store/{shop}")
	require.NoError(t, err)

	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i + 1)
	}
	store, err := shop.NewStore(testenv.DB(t), key)
	require.NoError(t, err)
	secrets := shopify.Secrets{Current: testAPISecret}
	oauth := &shopify.OAuth{APIKey: testAPIKey, Secrets: secrets, Scopes: testScopes, AdminBase: adminBase}
	b := &bundle{dev: dev, oauth: oauth, store: store, logs: &syncBuffer{}}
	b.auth = &Auth{
		APIKey: testAPIKey, Secrets: secrets, Scopes: testScopes, OAuth: oauth, Store: store,
		Logger: slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		InstallHooks: []InstallHook{func(_ context.Context, s *shop.Shop) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.hooked = append(b.hooked, s.Domain)
			return nil
		}},
	}

	e := echo.New()
	b.auth.Routes(e.Group("/auth"))
	ShopRoutes(e.Group("/api", b.auth.RequireSession))
	spa := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, spaBody) })
	e.GET("/", b.auth.EmbeddedApp(spa))
	e.GET("/dev/session-token", b.auth.DevSession)
	b.app = httptest.NewServer(e)
	t.Cleanup(b.app.Close)
	b.auth.AppURL, err = url.Parse(b.app.URL)
	require.NoError(t, err)
	oauth.RedirectURL = b.app.URL + "/auth/callback"
	return b
}

// browser is an HTTP client with a cookie jar that does not follow redirects.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// signed returns q with a fresh timestamp (unless set) and Shopify's hmac.
func signed(q url.Values) url.Values {
	if q.Get("timestamp") == "" {
		q.Set("timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	}
	q.Del("hmac")
	q.Set("hmac", shopify.SignQuery(testAPISecret, q))
	return q
}

func (b *bundle) installURL(shopDomain string) string {
	return b.app.URL + "/auth/install?" + signed(url.Values{"shop": {shopDomain}}).Encode()
}

// startInstall runs /auth/install and Shopify's (auto-approved) consent in
// browser c and returns the callback URL Shopify sends the merchant to.
func (b *bundle) startInstall(t *testing.T, c *http.Client, shopDomain string) *url.URL {
	t.Helper()
	resp := get(t, c, b.installURL(shopDomain))
	require.Equal(t, http.StatusFound, resp.StatusCode, body(t, resp))
	resp = get(t, c, resp.Header.Get("Location"))
	require.Equal(t, http.StatusFound, resp.StatusCode, body(t, resp))
	cb, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "/auth/callback", cb.Path)
	return cb
}

func (b *bundle) stateCount(t *testing.T) int64 {
	t.Helper()
	var n int64
	require.NoError(t, b.store.DB.Raw(`SELECT count(*) FROM oauth_states`).Scan(&n).Error)
	return n
}

func (b *bundle) hooks() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.hooked...)
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestOAuthInstall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := browser(t)

	resp := get(t, c, b.installURL(shopA))
	require.Equal(t, http.StatusFound, resp.StatusCode)
	authorize, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "/store/"+shopA+"/admin/oauth/authorize", authorize.Path)
	require.Equal(t, testAPIKey, authorize.Query().Get("client_id"))
	require.Equal(t, b.app.URL+"/auth/callback", authorize.Query().Get("redirect_uri"))
	state := authorize.Query().Get("state")
	require.Len(t, state, 64)

	ck := cookieNamed(resp, StateCookie)
	require.NotNil(t, ck)
	require.True(t, ck.HttpOnly)
	require.False(t, ck.Secure, "plain-http app URL")
	require.Equal(t, "/auth", ck.Path)
	require.Equal(t, http.SameSiteLaxMode, ck.SameSite)
	require.Equal(t, 600, ck.MaxAge)
	require.True(t, strings.HasPrefix(ck.Value, state+"."))
	require.Equal(t, int64(1), b.stateCount(t))

	resp = get(t, c, authorize.String())
	require.Equal(t, http.StatusFound, resp.StatusCode)
	resp = get(t, c, resp.Header.Get("Location"))
	require.Equal(t, http.StatusFound, resp.StatusCode, body(t, resp))
	require.Equal(t, "https://admin.shopify.com/store/alpha/apps/"+testAPIKey+"/", resp.Header.Get("Location"))
	cleared := cookieNamed(resp, StateCookie)
	require.NotNil(t, cleared)
	require.Negative(t, cleared.MaxAge)
	require.Zero(t, b.stateCount(t), "state consumed")

	s, err := b.store.Installed(context.Background(), shopA)
	require.NoError(t, err)
	require.Equal(t, "Alpha", s.Name)
	require.Equal(t, "owner@alpha.test", s.Email)
	require.Equal(t, "Europe/Paris", s.Timezone)
	require.Equal(t, "EUR", s.Currency)
	require.NotNil(t, s.ShopifyID)
	require.ElementsMatch(t, testScopes, []string(s.Scopes))
	require.NotNil(t, s.AccessTokenExpiresAt, "expiring offline token")
	require.NotNil(t, s.RefreshTokenEnc)
	require.Equal(t, []string{shopA}, b.hooks())

	access, err := b.store.AccessToken(s)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(access, "shpat_"))
	refresh, err := b.store.Cipher.Open(shopA, s.RefreshTokenEnc)
	require.NoError(t, err)
	var row struct {
		Access, Refresh []byte
		Text            string
	}
	require.NoError(t, b.store.DB.Raw(`SELECT access_token_enc AS access, refresh_token_enc AS refresh, s::text AS text FROM shops s WHERE domain = ?`, shopA).Scan(&row).Error)
	for _, plain := range []string{access, refresh} {
		require.False(t, bytes.Contains(row.Access, []byte(plain)))
		require.False(t, bytes.Contains(row.Refresh, []byte(plain)))
		require.NotContains(t, row.Text, plain)
		require.NotContains(t, b.logs.String(), plain)
	}

}

func TestOAuthInstallRejects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	stale := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	tests := []struct {
		desc     string
		query    func() string
		wantCode int
	}{
		{desc: "not a shop domain", wantCode: http.StatusBadRequest,
			query: func() string { return signed(url.Values{"shop": {"evil.example.com"}}).Encode() }},
		{desc: "missing shop", wantCode: http.StatusBadRequest,
			query: func() string { return signed(url.Values{}).Encode() }},
		{desc: "tampered hmac", wantCode: http.StatusUnauthorized, query: func() string {
			q := signed(url.Values{"shop": {shopA}})
			q.Set("shop", shopB)
			return q.Encode()
		}},
		{desc: "missing hmac", wantCode: http.StatusUnauthorized, query: func() string {
			return url.Values{"shop": {shopA}, "timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}}.Encode()
		}},
		{desc: "signed with another secret", wantCode: http.StatusUnauthorized, query: func() string {
			q := url.Values{"shop": {shopA}, "timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}}
			q.Set("hmac", shopify.SignQuery("another-app-secret", q))
			return q.Encode()
		}},
		{desc: "stale timestamp", wantCode: http.StatusUnauthorized,
			query: func() string { return signed(url.Values{"shop": {shopA}, "timestamp": {stale}}).Encode() }},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			resp := get(t, browser(t), b.app.URL+"/auth/install?"+tt.query())
			require.Equal(t, tt.wantCode, resp.StatusCode)
			require.Nil(t, cookieNamed(resp, StateCookie))
		})
	}
	require.Zero(t, b.stateCount(t))
	require.Contains(t, b.logs.String(), "auth rejected")
}

func TestOAuthInstallEmbeddedBreaksOutOfIframe(t *testing.T) {
	t.Parallel()
	b := setup(t)
	q := signed(url.Values{"shop": {shopA}, "embedded": {"1"}, "host": {base64.RawStdEncoding.EncodeToString([]byte("admin.shopify.com/store/alpha"))}})
	resp := get(t, browser(t), b.app.URL+"/auth/install?"+q.Encode())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	page := body(t, resp)
	require.Contains(t, page, "window.top.location.href")
	require.Contains(t, page, "/store/"+shopA+"/admin/oauth/authorize")
	require.Equal(t, "frame-ancestors https://"+shopA+" https://admin.shopify.com;", resp.Header.Get("Content-Security-Policy"))
	require.NotNil(t, cookieNamed(resp, StateCookie))
}

func TestOAuthCallbackRejects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	stale := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)

	tests := []struct {
		desc string
		// run performs the attack and returns the callback response.
		run      func(t *testing.T) *http.Response
		wantCode int
	}{
		{desc: "tampered hmac", wantCode: http.StatusUnauthorized, run: func(t *testing.T) *http.Response {
			c := browser(t)
			cb := b.startInstall(t, c, shopA)
			q := cb.Query()
			q.Set("code", "attacker-code")
			return get(t, c, b.app.URL+"/auth/callback?"+q.Encode())
		}},
		{desc: "stale timestamp", wantCode: http.StatusUnauthorized, run: func(t *testing.T) *http.Response {
			c := browser(t)
			cb := b.startInstall(t, c, shopA)
			q := cb.Query()
			q.Set("timestamp", stale)
			return get(t, c, b.app.URL+"/auth/callback?"+signed(q).Encode())
		}},
		{desc: "invalid shop", wantCode: http.StatusBadRequest, run: func(t *testing.T) *http.Response {
			c := browser(t)
			cb := b.startInstall(t, c, shopA)
			q := cb.Query()
			q.Set("shop", "alpha.evil.com")
			return get(t, c, b.app.URL+"/auth/callback?"+signed(q).Encode())
		}},
		{desc: "missing state cookie", wantCode: http.StatusUnauthorized, run: func(t *testing.T) *http.Response {
			cb := b.startInstall(t, browser(t), shopA)
			return get(t, browser(t), b.app.URL+cb.RequestURI())
		}},
		{desc: "forged state cookie", wantCode: http.StatusUnauthorized, run: func(t *testing.T) *http.Response {
			cb := b.startInstall(t, browser(t), shopA)
			state := cb.Query().Get("state")
			return get(t, browser(t), b.app.URL+cb.RequestURI(), "Cookie", StateCookie+"="+state+"."+strings.Repeat("0", 64))
		}},
		{desc: "cookie signed with the raw secret", wantCode: http.StatusUnauthorized, run: func(t *testing.T) *http.Response {
			cb := b.startInstall(t, browser(t), shopA)
			state := cb.Query().Get("state")
			mac := shopify.SignQuery(testAPISecret, url.Values{"x": {state}}) // any MAC not under the derived key
			return get(t, browser(t), b.app.URL+cb.RequestURI(), "Cookie", StateCookie+"="+state+"."+mac)
		}},
		{desc: "state of another browser's install", wantCode: http.StatusUnauthorized, run: func(t *testing.T) *http.Response {
			victim, attacker := browser(t), browser(t)
			b.startInstall(t, victim, shopA)
			cb := b.startInstall(t, attacker, shopA)
			// The victim's browser is sent the attacker's callback (login CSRF).
			return get(t, victim, b.app.URL+cb.RequestURI())
		}},
		{desc: "replayed callback", wantCode: http.StatusUnauthorized, run: func(t *testing.T) *http.Response {
			c := browser(t)
			cb := b.startInstall(t, c, shopA)
			cookie := c.Jar.Cookies(&url.URL{Scheme: "http", Host: cb.Host, Path: "/auth"})
			require.Len(t, cookie, 1)
			first := get(t, c, b.app.URL+cb.RequestURI())
			require.Equal(t, http.StatusFound, first.StatusCode, body(t, first))
			// The cookie was cleared; the replay brings it back.
			return get(t, browser(t), b.app.URL+cb.RequestURI(), "Cookie", cookie[0].String())
		}},
		{desc: "state issued for another shop", wantCode: http.StatusUnauthorized, run: func(t *testing.T) *http.Response {
			c := browser(t)
			cb := b.startInstall(t, c, shopA)
			q := cb.Query()
			q.Set("shop", shopB)
			return get(t, c, b.app.URL+"/auth/callback?"+signed(q).Encode())
		}},
		{desc: "expired state", wantCode: http.StatusUnauthorized, run: func(t *testing.T) *http.Response {
			c := browser(t)
			cb := b.startInstall(t, c, shopA)
			require.NoError(t, b.store.DB.Exec(`UPDATE oauth_states SET expires_at = now() - interval '1 second' WHERE nonce = ?`, cb.Query().Get("state")).Error)
			return get(t, c, b.app.URL+cb.RequestURI())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			resp := tt.run(t)
			require.Equal(t, tt.wantCode, resp.StatusCode, body(t, resp))
		})
	}
	// Only the legitimate first half of the replay test installed anything.
	require.Equal(t, []string{shopA}, b.hooks())
	_, err := b.store.Installed(context.Background(), shopB)
	require.ErrorIs(t, err, shop.ErrNotInstalled)
}

func TestOAuthCallbackInsufficientScopes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// The merchant edited the consent URL: only read_orders is requested and granted.
	b.oauth.Scopes = []string{"read_orders"}
	c := browser(t)
	cb := b.startInstall(t, c, shopA)
	resp := get(t, c, b.app.URL+cb.RequestURI())
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	_, err := b.store.Get(context.Background(), shopA)
	require.ErrorIs(t, err, shop.ErrNotFound)
	require.Empty(t, b.hooks())
}

func TestOAuthCallbackWriteScopeImpliesRead(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.auth.Scopes = []string{"read_orders", "read_customers"}
	b.oauth.Scopes = []string{"read_orders", "write_customers"}
	c := browser(t)
	cb := b.startInstall(t, c, shopA)
	resp := get(t, c, b.app.URL+cb.RequestURI())
	require.Equal(t, http.StatusFound, resp.StatusCode, body(t, resp))
}

// sessionToken mints an App Bridge session token; edit adjusts the claims.
func sessionToken(shopDomain string, edit func(*shopify.SessionClaims)) string {
	now := time.Now()
	c := shopify.SessionClaims{
		Shop: shopDomain, Issuer: "https://" + shopDomain + "/admin", Dest: "https://" + shopDomain,
		Audience: testAPIKey, UserID: "42", SessionID: "sid-1", ID: "jti-" + shopDomain,
		ExpiresAt: now.Add(time.Minute), NotBefore: now.Add(-time.Second), IssuedAt: now.Add(-time.Second),
	}
	secret := testAPISecret
	if edit != nil {
		edit(&c)
	}
	if c.ID == "other-secret" {
		secret = "another-app-secret"
	}
	return shopify.SignSessionToken(secret, c)
}

func algNoneToken(shopDomain string) string {
	enc := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(map[string]any{
		"iss": "https://" + shopDomain + "/admin", "dest": "https://" + shopDomain, "aud": testAPIKey,
		"sub": "42", "exp": time.Now().Add(time.Minute).Unix(), "nbf": time.Now().Add(-time.Second).Unix(),
	})
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
}

// installDirect installs shop with a token from the stand-in, as a finished
// install would leave it.
func (b *bundle) installDirect(t *testing.T, shopDomain string) {
	t.Helper()
	tok, err := b.dev.IssueToken(shopDomain)
	require.NoError(t, err)
	_, err = b.store.SaveInstall(context.Background(), shopDomain, tok, shop.Info{Name: strings.Split(shopDomain, ".")[0], Timezone: "UTC"})
	require.NoError(t, err)
}

func TestSessionTokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.installDirect(t, shopA)
	b.installDirect(t, shopB)
	const notInstalled = "gamma.myshopify.com"

	tests := []struct {
		desc       string
		header     string
		wantCode   int
		wantDomain string
	}{
		{desc: "valid", header: "Bearer " + sessionToken(shopA, nil), wantCode: http.StatusOK, wantDomain: shopA},
		{desc: "valid for the other shop", header: "Bearer " + sessionToken(shopB, nil), wantCode: http.StatusOK, wantDomain: shopB},
		{desc: "lowercase scheme", header: "bearer " + sessionToken(shopA, nil), wantCode: http.StatusOK, wantDomain: shopA},
		{desc: "missing header", header: "", wantCode: http.StatusUnauthorized},
		{desc: "not a bearer", header: "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b")), wantCode: http.StatusUnauthorized},
		{desc: "garbage", header: "Bearer not.a.jwt", wantCode: http.StatusUnauthorized},
		{desc: "expired", wantCode: http.StatusUnauthorized, header: "Bearer " + sessionToken(shopA, func(c *shopify.SessionClaims) {
			c.ExpiresAt = time.Now().Add(-time.Minute)
			c.NotBefore = time.Now().Add(-2 * time.Minute)
			c.IssuedAt = c.NotBefore
		})},
		{desc: "not valid yet", wantCode: http.StatusUnauthorized, header: "Bearer " + sessionToken(shopA, func(c *shopify.SessionClaims) {
			c.NotBefore = time.Now().Add(time.Minute)
		})},
		{desc: "wrong audience", wantCode: http.StatusUnauthorized, header: "Bearer " + sessionToken(shopA, func(c *shopify.SessionClaims) {
			c.Audience = "another-app-key"
		})},
		{desc: "iss and dest disagree", wantCode: http.StatusUnauthorized, header: "Bearer " + sessionToken(shopA, func(c *shopify.SessionClaims) {
			c.Issuer = "https://" + shopB + "/admin"
		})},
		{desc: "dest not a shop", wantCode: http.StatusUnauthorized, header: "Bearer " + sessionToken(shopA, func(c *shopify.SessionClaims) {
			c.Dest = "https://evil.example.com"
			c.Issuer = "https://evil.example.com/admin"
		})},
		{desc: "signed by another app", wantCode: http.StatusUnauthorized, header: "Bearer " + sessionToken(shopA, func(c *shopify.SessionClaims) {
			c.ID = "other-secret"
		})},
		{desc: "alg none", header: "Bearer " + algNoneToken(shopA), wantCode: http.StatusUnauthorized},
		{desc: "shop not installed", header: "Bearer " + sessionToken(notInstalled, nil), wantCode: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var hdr []string
			if tt.header != "" {
				hdr = []string{"Authorization", tt.header}
			}
			resp := get(t, http.DefaultClient, b.app.URL+"/api/shop", hdr...)
			require.Equal(t, tt.wantCode, resp.StatusCode)
			if tt.wantCode != http.StatusOK {
				require.Equal(t, "1", resp.Header.Get(RetryInvalidSessionHeader))
				return
			}
			var got ShopResponse
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
			require.Equal(t, tt.wantDomain, got.Domain)
		})
	}
	// Rejections are logged with a reason and never with the token.
	logs := b.logs.String()
	require.Contains(t, logs, "session rejected")
	for _, tt := range tests {
		if tok, ok := strings.CutPrefix(tt.header, "Bearer "); ok {
			require.NotContains(t, logs, tok)
		}
	}
}

func TestSessionIsolatesShops(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Both shops installed through the real OAuth flow.
	for _, s := range []string{shopA, shopB} {
		c := browser(t)
		cb := b.startInstall(t, c, s)
		resp := get(t, c, b.app.URL+cb.RequestURI())
		require.Equal(t, http.StatusFound, resp.StatusCode, body(t, resp))
	}
	want := map[string]ShopResponse{
		shopA: {Domain: shopA, Name: "Alpha", Email: "owner@alpha.test", Timezone: "Europe/Paris", Currency: "EUR"},
		shopB: {Domain: shopB, Name: "Beta", Email: "owner@beta.test", Timezone: "America/New_York", Currency: "USD"},
	}
	for domain, w := range want {
		// A query parameter naming the other shop changes nothing.
		other := shopB
		if domain == shopB {
			other = shopA
		}
		resp := get(t, http.DefaultClient, b.app.URL+"/api/shop?shop="+other, "Authorization", "Bearer "+sessionToken(domain, nil))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var got ShopResponse
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
		require.Equal(t, w.Domain, got.Domain)
		require.Equal(t, w.Name, got.Name)
		require.Equal(t, w.Email, got.Email)
		require.Equal(t, w.Timezone, got.Timezone)
		require.Equal(t, w.Currency, got.Currency)
		require.ElementsMatch(t, testScopes, got.Scopes)
		require.False(t, got.InstalledAt.IsZero())
	}
}

func (b *bundle) tokenRequests(shopDomain string) int {
	n := 0
	for _, r := range b.dev.Requests() {
		if r.Shop == shopDomain && strings.HasSuffix(r.Path, "/admin/oauth/access_token") {
			n++
		}
	}
	return n
}

func TestEmbeddedLoadTokenExchange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	host := base64.RawStdEncoding.EncodeToString([]byte("admin.shopify.com/store/alpha"))
	load := func(idToken string) *http.Response {
		q := url.Values{"embedded": {"1"}, "shop": {shopA}, "host": {host}, "id_token": {idToken}}
		return get(t, http.DefaultClient, b.app.URL+"/?"+q.Encode())
	}

	// First load after a managed install: no row yet, token exchange.
	resp := load(sessionToken(shopA, nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, spaBody, body(t, resp))
	require.Equal(t, "frame-ancestors https://"+shopA+" https://admin.shopify.com;", resp.Header.Get("Content-Security-Policy"))
	s, err := b.store.Installed(context.Background(), shopA)
	require.NoError(t, err)
	require.Equal(t, "Alpha", s.Name)
	require.NotNil(t, s.RefreshTokenEnc)
	require.Equal(t, []string{shopA}, b.hooks())
	require.Equal(t, 1, b.tokenRequests(shopA))

	// The token exchange gave a working token.
	resp = get(t, http.DefaultClient, b.app.URL+"/api/shop", "Authorization", "Bearer "+sessionToken(shopA, nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// Later loads keep the stored token.
	resp = load(sessionToken(shopA, nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 1, b.tokenRequests(shopA))
	require.Len(t, b.hooks(), 1)

	// After an uninstall, opening the app again reinstalls through token exchange.
	_, err = b.store.MarkUninstalled(context.Background(), shopA, time.Now().Add(time.Second))
	require.NoError(t, err)
	resp = load(sessionToken(shopA, nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 2, b.tokenRequests(shopA))
	_, err = b.store.Installed(context.Background(), shopA)
	require.NoError(t, err)

	// A dead refresh token also triggers token exchange.
	require.NoError(t, b.store.DB.Exec(`UPDATE shops SET access_token_expires_at = now() - interval '1 minute', refresh_token_expires_at = now() - interval '1 second' WHERE domain = ?`, shopA).Error)
	resp = load(sessionToken(shopA, nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 3, b.tokenRequests(shopA))
	require.Len(t, b.hooks(), 3)
}

func TestEmbeddedLoadConcurrentFirstLoadsExchangeOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n = 8
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			q := url.Values{"embedded": {"1"}, "shop": {shopA}, "id_token": {sessionToken(shopA, nil)}}
			resp, err := http.Get(b.app.URL + "/?" + q.Encode())
			if err == nil {
				codes[i] = resp.StatusCode
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	for _, code := range codes {
		require.Equal(t, http.StatusOK, code)
	}
	// Each exchange retires the previous grant, so only one may happen.
	require.Equal(t, 1, b.tokenRequests(shopA))
	require.Equal(t, []string{shopA}, b.hooks())
}

func TestEmbeddedLoadRejects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		desc     string
		query    url.Values
		wantCode int
		wantCSP  string
	}{
		{desc: "no shop: not frameable", query: url.Values{}, wantCode: http.StatusOK, wantCSP: "frame-ancestors 'none';"},
		{desc: "invalid shop: not frameable", query: url.Values{"shop": {"evil.example.com"}}, wantCode: http.StatusOK, wantCSP: "frame-ancestors 'none';"},
		{desc: "shop without id_token", query: url.Values{"shop": {shopA}}, wantCode: http.StatusOK,
			wantCSP: "frame-ancestors https://" + shopA + " https://admin.shopify.com;"},
		{desc: "forged id_token", query: url.Values{"shop": {shopA}, "id_token": {sessionToken(shopA, func(c *shopify.SessionClaims) { c.ID = "other-secret" })}},
			wantCode: http.StatusUnauthorized, wantCSP: "frame-ancestors https://" + shopA + " https://admin.shopify.com;"},
		{desc: "expired id_token", query: url.Values{"shop": {shopA}, "id_token": {sessionToken(shopA, func(c *shopify.SessionClaims) {
			c.ExpiresAt, c.NotBefore, c.IssuedAt = time.Now().Add(-time.Minute), time.Now().Add(-2*time.Minute), time.Now().Add(-2*time.Minute)
		})}}, wantCode: http.StatusUnauthorized, wantCSP: "frame-ancestors https://" + shopA + " https://admin.shopify.com;"},
		{desc: "id_token of another shop", query: url.Values{"shop": {shopA}, "id_token": {sessionToken(shopB, nil)}},
			wantCode: http.StatusUnauthorized, wantCSP: "frame-ancestors https://" + shopA + " https://admin.shopify.com;"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			resp := get(t, http.DefaultClient, b.app.URL+"/?"+tt.query.Encode())
			require.Equal(t, tt.wantCode, resp.StatusCode)
			require.Equal(t, tt.wantCSP, resp.Header.Get("Content-Security-Policy"))
		})
	}
	require.Zero(t, b.tokenRequests(shopA)+b.tokenRequests(shopB), "no token exchange for a bad id_token")
	require.Empty(t, b.hooks())
}

func TestDevSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp := get(t, http.DefaultClient, b.app.URL+"/dev/session-token?shop="+shopA)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out struct {
		Token string `json:"token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.NotEmpty(t, out.Token)

	resp = get(t, http.DefaultClient, b.app.URL+"/api/shop", "Authorization", "Bearer "+out.Token)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got ShopResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	require.Equal(t, shopA, got.Domain)
	require.Equal(t, "Alpha", got.Name)

	resp = get(t, http.DefaultClient, b.app.URL+"/dev/session-token?shop=evil.example.com")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestAppHome(t *testing.T) {
	t.Parallel()
	a := &Auth{APIKey: "key"}
	enc := func(s string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		desc, host, want string
	}{
		{desc: "new admin", host: enc("admin.shopify.com/store/alpha"), want: "https://admin.shopify.com/store/alpha/apps/key/"},
		{desc: "legacy admin", host: enc(shopA + "/admin"), want: "https://" + shopA + "/admin/apps/key/"},
		{desc: "local stand-in", host: enc("localhost:8081/store/alpha/admin"), want: "/?host=" + url.QueryEscape(enc("localhost:8081/store/alpha/admin")) + "&shop=" + shopA},
		{desc: "no host", host: "", want: "/?shop=" + shopA},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			require.Equal(t, tt.want, a.appHome(shopA, tt.host))
		})
	}
}
