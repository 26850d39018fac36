// Package shopify is Relance's Shopify platform layer, on the standard
// library: shop domains, HMAC and app proxy signatures, session tokens
// (App Bridge JWTs), OAuth (authorization code grant, token exchange, refresh
// of expiring offline tokens), webhook delivery headers, and a GraphQL Admin
// API client with cost-based throttling.
//
// Every signature check compares in constant time and accepts the previous
// app secret during a rotation.
package shopify

import (
	"errors"
	"net/url"
	"strings"
	"time"
)

// APIVersion is the Admin API version every call and webhook is pinned to.
const APIVersion = "2026-10"

// Errors returned by the verifiers. Callers map all of them to 401.
var (
	ErrInvalidShop     = errors.New("shopify: invalid shop domain")
	ErrBadSignature    = errors.New("shopify: signature mismatch")
	ErrStaleRequest    = errors.New("shopify: request timestamp out of range")
	ErrMalformed       = errors.New("shopify: malformed input")
	ErrInvalidToken    = errors.New("shopify: invalid session token")
	ErrInvalidGrant    = errors.New("shopify: grant rejected")       // code, refresh token or subject token refused (HTTP 400/401 from /admin/oauth/access_token)
	ErrUnauthorized    = errors.New("shopify: access token refused") // Admin API 401 after a refresh attempt
	ErrThrottled       = errors.New("shopify: throttled")
	ErrShopUnavailable = errors.New("shopify: shop unavailable") // 402 (frozen), 403, 404, 423 (locked)
)

// Secrets are the app's client secret and, during a rotation, the previous one.
type Secrets struct {
	Current  string
	Previous string // empty when no rotation is under way
}

func (s Secrets) each() []string {
	if s.Previous == "" {
		return []string{s.Current}
	}
	return []string{s.Current, s.Previous}
}

// AdminBase builds the base URL of a shop: https://{shop}, or the stand-in
// set by SHOPIFY_ADMIN_BASE_URL. A literal "{shop}" in the override is
// replaced by the shop domain, so one stand-in serves many shops.
func AdminBase(override *url.URL, shop string) string {
	if override == nil {
		return "https://" + shop
	}
	base := strings.ReplaceAll(override.String(), "%7Bshop%7D", "{shop}")
	return strings.ReplaceAll(base, "{shop}", shop)
}

// Token is an offline access token as granted by /admin/oauth/access_token.
type Token struct {
	AccessToken      string
	Scopes           []string
	ExpiresAt        time.Time // zero for a non-expiring token
	RefreshToken     string
	RefreshExpiresAt time.Time
}
