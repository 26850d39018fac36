// Package web is Relance's HTTP surface: Shopify install (OAuth), the
// embedded admin's session-token authentication and document load, and the
// admin JSON API. Handlers stay thin: they check who is calling, then hand
// over to the domain packages.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/relance/relance/internal/config"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
)

const (
	// StateCookie binds an OAuth state nonce to the browser that started the install.
	StateCookie = "relance_oauth_state"
	stateTTL    = 10 * time.Minute
	// sessionLeeway is the clock tolerance Shopify's own libraries allow.
	sessionLeeway = 10 * time.Second
)

// InstallHook runs after every successful install or reinstall (OAuth
// callback and token exchange). A failing hook is logged; it does not undo
// the install.
type InstallHook func(ctx context.Context, s *shop.Shop) error

// Auth authenticates Shopify and merchants: the OAuth install routes, the
// session-token middleware of /api and the embedded document load.
type Auth struct {
	APIKey  string
	Secrets shopify.Secrets
	Scopes  []string // every one must be granted (write_x covers read_x)
	AppURL  *url.URL
	OAuth   *shopify.OAuth
	Store   *shop.Store
	Now     func() time.Time // nil: time.Now
	Logger  *slog.Logger     // nil: slog.Default()

	InstallHooks []InstallHook
}

// NewOAuth builds the OAuth client of the app from the configuration; its
// redirect URL is the callback route of Auth.
func NewOAuth(cfg *config.Config, hc *http.Client) *shopify.OAuth {
	return &shopify.OAuth{
		APIKey:      cfg.ShopifyAPIKey,
		Secrets:     shopify.Secrets{Current: cfg.ShopifyAPISecret, Previous: cfg.ShopifyAPISecretPrevious},
		Scopes:      cfg.ShopifyScopes,
		RedirectURL: strings.TrimRight(cfg.ShopifyAppURL.String(), "/") + "/auth/callback",
		AdminBase:   cfg.ShopifyAdminBaseURL,
		HTTP:        hc,
	}
}

// NewAuth builds Auth from the configuration.
func NewAuth(cfg *config.Config, store *shop.Store, oauth *shopify.OAuth) *Auth {
	return &Auth{
		APIKey:  cfg.ShopifyAPIKey,
		Secrets: shopify.Secrets{Current: cfg.ShopifyAPISecret, Previous: cfg.ShopifyAPISecretPrevious},
		Scopes:  cfg.ShopifyScopes,
		AppURL:  cfg.ShopifyAppURL,
		OAuth:   oauth,
		Store:   store,
	}
}

// Routes registers GET /install and GET /callback on the /auth group.
func (a *Auth) Routes(g *echo.Group) {
	g.GET("/install", a.Install)
	g.GET("/callback", a.Callback)
}

func (a *Auth) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Auth) log() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

func (a *Auth) reject(c echo.Context, code int, msg, reason string, err error) error {
	args := []any{"path", c.Request().URL.Path, "status", code, "reason", reason, "shop", c.QueryParam("shop")}
	if err != nil {
		args = append(args, "err", err)
	}
	a.log().Warn("auth rejected", args...)
	return echo.NewHTTPError(code, msg)
}

// Install starts the authorization code grant: GET /auth/install with the
// signed query Shopify sends (shop, timestamp, hmac, ...). It stores a
// single-use state nonce, binds it to the browser with a signed cookie and
// sends the merchant to Shopify's consent screen. Inside the admin iframe
// (embedded=1) it first breaks out to the top window, where the cookie is
// first-party.
func (a *Auth) Install(c echo.Context) error {
	q := c.QueryParams()
	domain, err := shopify.NormalizeShopDomain(q.Get("shop"))
	if err != nil {
		return a.reject(c, http.StatusBadRequest, "invalid shop", "invalid shop domain", err)
	}
	if err := a.Secrets.VerifyQuery(q, a.now()); err != nil {
		return a.reject(c, http.StatusUnauthorized, "invalid signature", "query hmac", err)
	}
	nonce, err := randomHex(32)
	if err != nil {
		return fmt.Errorf("web: install %s: %w", domain, err)
	}
	ctx := c.Request().Context()
	now := a.now().UTC()
	db := a.Store.DB.WithContext(ctx)
	// Expired nonces are useless; sweeping them here keeps the table tiny.
	if err := db.Exec(`DELETE FROM oauth_states WHERE expires_at < ?`, now).Error; err != nil {
		return fmt.Errorf("web: install %s: sweep states: %w", domain, err)
	}
	if err := db.Exec(`INSERT INTO oauth_states (nonce, shop, expires_at) VALUES (?, ?, ?)`,
		nonce, domain, now.Add(stateTTL)).Error; err != nil {
		return fmt.Errorf("web: install %s: save state: %w", domain, err)
	}
	c.SetCookie(&http.Cookie{
		Name:     StateCookie,
		Value:    nonce + "." + signState(a.Secrets.Current, nonce),
		Path:     "/auth",
		MaxAge:   int(stateTTL / time.Second),
		HttpOnly: true,
		Secure:   a.AppURL != nil && a.AppURL.Scheme == "https",
		SameSite: http.SameSiteLaxMode,
	})
	authorize := a.OAuth.AuthorizeURL(domain, nonce)
	if q.Get("embedded") != "1" {
		return c.Redirect(http.StatusFound, authorize)
	}
	setFrameAncestors(c, domain)
	c.Response().Header().Set("Cache-Control", "no-store")
	var b strings.Builder
	if err := breakoutPage.Execute(&b, map[string]string{
		"Self":      strings.TrimRight(a.appURL(), "/") + c.Request().URL.RequestURI(),
		"Authorize": authorize,
	}); err != nil {
		return fmt.Errorf("web: install %s: render breakout: %w", domain, err)
	}
	return c.HTML(http.StatusOK, b.String())
}

func (a *Auth) appURL() string {
	if a.AppURL == nil {
		return ""
	}
	return a.AppURL.String()
}

// breakoutPage leaves the admin iframe. In the iframe it reloads this same
// signed install URL at the top level (so the state cookie it sets is
// first-party); at the top level it goes on to Shopify's consent screen.
var breakoutPage = template.Must(template.New("breakout").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Redirecting…</title></head>
<body><script>
if (window.top === window.self) { window.location.href = {{.Authorize}}; }
else { window.top.location.href = {{.Self}}; }
</script>
<noscript><a href="{{.Authorize}}" target="_top">Continue to Shopify</a></noscript>
</body></html>`))

// Callback finishes the authorization code grant: GET /auth/callback. The
// query must be signed by Shopify, its state must equal the nonce in this
// browser's signed cookie and still be unused in oauth_states. The code is
// exchanged for an expiring offline token, the granted scopes are checked,
// the shop is saved, install hooks run, and the merchant lands in the app.
func (a *Auth) Callback(c echo.Context) error {
	q := c.QueryParams()
	if err := a.Secrets.VerifyQuery(q, a.now()); err != nil {
		return a.reject(c, http.StatusUnauthorized, "invalid signature", "query hmac", err)
	}
	domain, err := shopify.NormalizeShopDomain(q.Get("shop"))
	if err != nil {
		return a.reject(c, http.StatusBadRequest, "invalid shop", "invalid shop domain", err)
	}
	// The state is single-use whatever happens next; drop the cookie now.
	cookie, cookieErr := c.Cookie(StateCookie)
	c.SetCookie(&http.Cookie{Name: StateCookie, Value: "", Path: "/auth", MaxAge: -1, HttpOnly: true,
		Secure: a.AppURL != nil && a.AppURL.Scheme == "https", SameSite: http.SameSiteLaxMode})
	if cookieErr != nil {
		return a.reject(c, http.StatusUnauthorized, "invalid state", "no state cookie", nil)
	}
	nonce, ok := a.verifyState(cookie.Value)
	if !ok {
		return a.reject(c, http.StatusUnauthorized, "invalid state", "state cookie signature", nil)
	}
	if state := q.Get("state"); state == "" || !hmac.Equal([]byte(state), []byte(nonce)) {
		return a.reject(c, http.StatusUnauthorized, "invalid state", "state does not match cookie", nil)
	}
	ctx := c.Request().Context()
	res := a.Store.DB.WithContext(ctx).Exec(
		`DELETE FROM oauth_states WHERE nonce = ? AND shop = ? AND expires_at > ?`, nonce, domain, a.now().UTC())
	if res.Error != nil {
		return fmt.Errorf("web: callback %s: consume state: %w", domain, res.Error)
	}
	if res.RowsAffected != 1 {
		return a.reject(c, http.StatusUnauthorized, "invalid state", "state unknown, used, expired or for another shop", nil)
	}
	code := q.Get("code")
	if code == "" {
		return a.reject(c, http.StatusBadRequest, "missing code", "no code", nil)
	}

	s, err := a.install(ctx, domain, func(ctx context.Context) (*shopify.Token, error) {
		tok, err := a.OAuth.ExchangeCode(ctx, domain, code)
		if err != nil {
			return nil, err
		}
		if missing := shop.Scopes(tok.Scopes).Missing(a.Scopes); len(missing) > 0 {
			return nil, &scopesError{missing: missing}
		}
		return tok, nil
	}, nil)
	var se *scopesError
	switch {
	case errors.As(err, &se):
		return a.reject(c, http.StatusForbidden, "required permissions were not granted", "insufficient scopes", err)
	case errors.Is(err, shopify.ErrInvalidGrant):
		return a.reject(c, http.StatusUnauthorized, "authorization code refused", "code exchange", err)
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusFound, a.appHome(s.Domain, q.Get("host")))
}

type scopesError struct{ missing []string }

func (e *scopesError) Error() string {
	return "web: scopes not granted: " + strings.Join(e.missing, ",")
}

// install obtains a token and records the install while holding the shop's
// install lock, then runs the install hooks. When keep reports that the
// stored row is still good, nothing is obtained and the row is returned.
func (a *Auth) install(ctx context.Context, domain string, obtain func(context.Context) (*shopify.Token, error),
	keep func(*shop.Shop) bool) (*shop.Shop, error) {
	var (
		saved     *shop.Shop
		installed bool
	)
	err := a.Store.WithInstallLock(ctx, domain, func(tx *shop.Store) error {
		if keep != nil {
			s, err := tx.Get(ctx, domain)
			if err != nil && !errors.Is(err, shop.ErrNotFound) {
				return err
			}
			if err == nil && keep(s) {
				saved = s
				return nil
			}
		}
		tok, err := obtain(ctx)
		if err != nil {
			return err
		}
		gql := &shopify.Client{AdminBase: a.OAuth.AdminBase, Tokens: grantedToken(tok.AccessToken), HTTP: a.OAuth.HTTP}
		info, err := shop.FetchInfo(ctx, gql, domain)
		if err != nil {
			return err
		}
		if saved, err = tx.SaveInstall(ctx, domain, tok, info); err != nil {
			return err
		}
		installed = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: install %s: %w", domain, err)
	}
	if installed {
		a.log().Info("shop installed", "shop", domain, "scopes", strings.Join(saved.Scopes, ","))
		for i, h := range a.InstallHooks {
			if err := h(ctx, saved); err != nil {
				a.log().Error("install hook failed", "shop", domain, "hook", i, "err", err)
			}
		}
	}
	return saved, nil
}

// grantedToken is the token just granted, used to read the shop before it
// is stored. It cannot be refreshed: a refusal right after the grant is an error.
type grantedToken string

func (g grantedToken) AccessToken(context.Context, string) (string, error) { return string(g), nil }

func (g grantedToken) RefreshAccessToken(context.Context, string, string) (string, error) {
	return "", fmt.Errorf("web: freshly granted token refused: %w", shopify.ErrUnauthorized)
}

// appHome is where the merchant lands after install: the embedded App Home
// in the Shopify admin named by host, or, when host is not a Shopify admin
// (a local stand-in), this app's own root.
func (a *Auth) appHome(domain, host string) string {
	if host != "" {
		if h, err := shopify.DecodeHost(host); err == nil && isShopifyAdmin(h) {
			return "https://" + strings.TrimRight(h, "/") + "/apps/" + url.PathEscape(a.APIKey) + "/"
		}
	}
	v := url.Values{"shop": {domain}}
	if host != "" {
		v.Set("host", host)
	}
	return "/?" + v.Encode()
}

func isShopifyAdmin(host string) bool {
	name, _, _ := strings.Cut(host, "/")
	return name == "admin.shopify.com" || strings.HasSuffix(name, ".myshopify.com")
}

// stateKey derives the cookie-signing key from the app secret, so a state
// cookie MAC can never double as a Shopify HMAC.
func stateKey(secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("relance/oauth-state"))
	return m.Sum(nil)
}

func signState(secret, nonce string) string {
	m := hmac.New(sha256.New, stateKey(secret))
	m.Write([]byte(nonce))
	return hex.EncodeToString(m.Sum(nil))
}

// verifyState returns the nonce of a well-signed cookie value; the previous
// secret is accepted during a rotation.
func (a *Auth) verifyState(v string) (string, bool) {
	nonce, mac, ok := strings.Cut(v, ".")
	if !ok || nonce == "" {
		return "", false
	}
	for _, secret := range []string{a.Secrets.Current, a.Secrets.Previous} {
		if secret != "" && hmac.Equal([]byte(mac), []byte(signState(secret, nonce))) {
			return nonce, true
		}
	}
	return "", false
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// setFrameAncestors lets only this shop's admin frame the response.
func setFrameAncestors(c echo.Context, domain string) {
	v := "frame-ancestors 'none';"
	if domain != "" {
		v = "frame-ancestors https://" + domain + " https://admin.shopify.com;"
	}
	c.Response().Header().Set("Content-Security-Policy", v)
}
