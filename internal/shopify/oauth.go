package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// OAuth obtains offline access tokens from /admin/oauth/access_token:
// authorization code grant, token exchange and refresh of expiring tokens.
type OAuth struct {
	APIKey      string
	Secrets     Secrets
	Scopes      []string
	RedirectURL string       // e.g. https://app.example/auth/callback
	AdminBase   *url.URL     // SHOPIFY_ADMIN_BASE_URL override, nil in production
	HTTP        *http.Client // nil => a client with a 10s timeout

	// Sleep waits between retries (tests shorten it); nil => a context-aware sleep.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now stamps token expiries; nil => time.Now.
	Now func() time.Time
}

// Grant and token type identifiers of the token exchange grant.
const (
	GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeIDToken       = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeOfflineAccess = "urn:shopify:params:oauth:token-type:offline-access-token"
)

const (
	oauthAttempts           = 4 // the first try plus 3 retries
	oauthFirstBackoff       = 250 * time.Millisecond
	maxResponseBody   int64 = 32 << 20
)

var defaultOAuthHTTP = &http.Client{Timeout: 10 * time.Second}

// AuthorizeURL is where to send the merchant for the authorization code
// grant. No grant_options, so the token is offline; scope is omitted when
// the scopes come from shopify.app.toml.
func (o *OAuth) AuthorizeURL(shop, state string) string {
	q := url.Values{}
	q.Set("client_id", o.APIKey)
	if len(o.Scopes) > 0 {
		q.Set("scope", strings.Join(o.Scopes, ","))
	}
	q.Set("redirect_uri", o.RedirectURL)
	q.Set("state", state)
	return AdminBase(o.AdminBase, shop) + "/admin/oauth/authorize?" + q.Encode()
}

// ExchangeCode trades an authorization code for an expiring offline token.
func (o *OAuth) ExchangeCode(ctx context.Context, shop, code string) (*Token, error) {
	return o.tokenRequest(ctx, "exchanging code", shop, map[string]any{
		"code":     code,
		"expiring": 1,
	})
}

// ExchangeSessionToken trades a verified session token for an expiring
// offline token (token exchange, the embedded-app flow).
func (o *OAuth) ExchangeSessionToken(ctx context.Context, shop, sessionToken string) (*Token, error) {
	return o.tokenRequest(ctx, "exchanging session token", shop, map[string]any{
		"grant_type":           GrantTypeTokenExchange,
		"subject_token":        sessionToken,
		"subject_token_type":   TokenTypeIDToken,
		"requested_token_type": TokenTypeOfflineAccess,
		"expiring":             1,
	})
}

// Refresh trades a refresh token for a new access token and a new refresh
// token (the old refresh token is retired by Shopify). Callers serialize
// refreshes per shop.
func (o *OAuth) Refresh(ctx context.Context, shop, refreshToken string) (*Token, error) {
	return o.tokenRequest(ctx, "refreshing token", shop, map[string]any{
		"grant_type":    "refresh_token",
		"refresh_token": refreshToken,
	})
}

type tokenResponse struct {
	AccessToken           string      `json:"access_token"`
	Scope                 string      `json:"scope"`
	ExpiresIn             json.Number `json:"expires_in"`
	RefreshToken          string      `json:"refresh_token"`
	RefreshTokenExpiresIn json.Number `json:"refresh_token_expires_in"`
}

type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func (o *OAuth) tokenRequest(ctx context.Context, doing, shop string, params map[string]any) (*Token, error) {
	if !ValidShopDomain(shop) {
		return nil, fmt.Errorf("shopify: %s: %w", doing, ErrInvalidShop)
	}
	params["client_id"] = o.APIKey
	params["client_secret"] = o.Secrets.Current
	body, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("shopify: %s: %w", doing, err)
	}
	endpoint := AdminBase(o.AdminBase, strings.ToLower(shop)) + "/admin/oauth/access_token"
	client := o.HTTP
	if client == nil {
		client = defaultOAuthHTTP
	}
	sleep := o.Sleep
	if sleep == nil {
		sleep = SleepContext
	}

	var lastErr error
	backoff := oauthFirstBackoff
	for attempt := 0; attempt < oauthAttempts; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, jitter(backoff)); err != nil {
				return nil, fmt.Errorf("shopify: %s: %w", doing, err)
			}
			backoff *= 2
		}
		tok, retry, err := o.tokenAttempt(ctx, client, endpoint, body)
		if err == nil {
			return tok, nil
		}
		if !retry {
			return nil, fmt.Errorf("shopify: %s: %w", doing, err)
		}
		lastErr = err
	}
	return nil, fmt.Errorf("shopify: %s: giving up after %d attempts: %w", doing, oauthAttempts, lastErr)
}

// tokenAttempt makes one POST; retry reports whether the failure is
// transient (network or 5xx).
func (o *OAuth) tokenAttempt(ctx context.Context, client *http.Client, endpoint string, body []byte) (*Token, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		// The error text is the URL and a network reason; neither holds a secret.
		return nil, true, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return nil, true, fmt.Errorf("reading response: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized:
		var e oauthError
		_ = json.Unmarshal(raw, &e)
		msg := strings.TrimSpace(o.redact(e.Error + " " + e.ErrorDescription))
		if msg == "" {
			msg = "HTTP " + strconv.Itoa(resp.StatusCode)
		}
		return nil, false, fmt.Errorf("%w: %s", ErrInvalidGrant, truncate(msg, 300))
	case resp.StatusCode >= 500:
		return nil, true, &HTTPError{Status: resp.StatusCode, Body: truncate(o.redact(string(raw)), 512)}
	case isShopUnavailable(resp.StatusCode):
		return nil, false, fmt.Errorf("%w: HTTP %d", ErrShopUnavailable, resp.StatusCode)
	default:
		return nil, false, &HTTPError{Status: resp.StatusCode, Body: truncate(o.redact(string(raw)), 512)}
	}

	var tr tokenResponse
	if err := json.Unmarshal(raw, &tr); err != nil {
		return nil, false, fmt.Errorf("decoding token response: %w", ErrMalformed)
	}
	if tr.AccessToken == "" {
		return nil, false, fmt.Errorf("token response without access_token: %w", ErrMalformed)
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	t := &Token{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, Scopes: splitScopes(tr.Scope)}
	if d, ok := seconds(tr.ExpiresIn); ok {
		t.ExpiresAt = now().Add(d)
	}
	if d, ok := seconds(tr.RefreshTokenExpiresIn); ok {
		t.RefreshExpiresAt = now().Add(d)
	}
	return t, false, nil
}

// redact removes the client secrets from text Shopify sent back, in case an
// error message ever echoes the request.
func (o *OAuth) redact(s string) string {
	for _, secret := range o.Secrets.each() {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

func seconds(n json.Number) (time.Duration, bool) {
	if n == "" {
		return 0, false
	}
	f, err := n.Float64()
	if err != nil || f <= 0 || f > 100*365*24*3600 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

func splitScopes(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func isShopUnavailable(status int) bool {
	switch status {
	case http.StatusPaymentRequired, http.StatusForbidden, http.StatusNotFound, http.StatusLocked:
		return true
	}
	return false
}

// SleepContext sleeps for d or until ctx is done (then it returns ctx.Err()).
func SleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// jitter spreads retries of many workers: a random duration in [d/2, d).
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(half)
}
