// Package devstore is a local stand-in for Shopify's OAuth endpoints and
// GraphQL Admin API, for `relance dev` and for tests. It behaves like the
// real service where the app can tell the difference: status codes and
// error bodies, single-use authorization codes, token exchange, expiring
// access tokens with rotating refresh tokens, and a per-shop leaky bucket
// with THROTTLED errors.
//
// Shops are addressed by path: point SHOPIFY_ADMIN_BASE_URL at
// "<server URL>/store/{shop}" and requests arrive at /store/{shop}/admin/....
//
// It is not a GraphQL engine: a query is routed by its first root field to a
// handler registered with HandleGraphQL, and the handler's value is returned
// as that field whatever the selection set asks for.
package devstore

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/relance/relance/internal/shopify"
)

// Options configure the stand-in. Zero values take the defaults noted.
type Options struct {
	APIKey, APISecret string
	AccessTokenTTL    time.Duration    // default 1h
	RefreshTokenTTL   time.Duration    // default 90*24h
	Bucket            int              // leaky bucket size in cost points, default 2000
	RestoreRate       int              // points restored per second, default 100
	Now               func() time.Time // default time.Now
	// Scopes granted when the authorization request names none (managed
	// installation, token exchange); default DefaultScopes.
	Scopes []string
}

// DefaultScopes are granted when neither Options.Scopes nor the
// authorization request name any.
var DefaultScopes = []string{
	"read_customers", "write_customers", "read_orders", "read_products",
	"write_discounts", "write_pixels", "read_customer_events",
}

// RecordedRequest is one request the stand-in answered. Bodies are never
// recorded: they carry client secrets and tokens.
type RecordedRequest struct {
	Method string
	Path   string
	Shop   string
	Time   time.Time
	Status int
}

const (
	codeTTL           = 10 * time.Minute
	invalidTokenError = "[API] Invalid API key or access token (unrecognized login or wrong password)"
)

// Server is the stand-in; it is an http.Handler.
type Server struct {
	o Options

	mu       sync.Mutex
	shops    map[string]*shop
	codes    map[string]*authCode
	access   map[string]*grant // access token -> grant
	handlers map[string]gqlHandler
	faults   []*fault
	requests []RecordedRequest
	nextID   int

	discounts *discountStore // discounts.go
	customers *customerStore // customers.go
	pixels    *pixelStore    // pixels.go
}

type shop struct {
	id                                int
	domain, name, email, tz, currency string
	scopes                            []string
	bucket                            float64
	bucketAt                          time.Time
	current                           *grant // the refreshable grant
	previous                          *grant // rotated away, usable until current's access token is used
}

// grant is one issued access token with its refresh token.
type grant struct {
	shop       string
	access     string
	accessExp  time.Time // zero for a non-expiring token
	accessUsed bool
	revoked    bool
	refresh    string
	refreshExp time.Time
}

type authCode struct {
	shop    string
	scopes  []string
	expires time.Time
	used    bool
}

type gqlHandler struct {
	cost int
	fn   func(shop string, variables map[string]any) (any, error)
}

type fault struct {
	suffix    string
	status    int
	remaining int
}

// New creates a stand-in with no shops.
func New(o Options) *Server {
	if o.AccessTokenTTL <= 0 {
		o.AccessTokenTTL = time.Hour
	}
	if o.RefreshTokenTTL <= 0 {
		o.RefreshTokenTTL = 90 * 24 * time.Hour
	}
	if o.Bucket <= 0 {
		o.Bucket = 2000
	}
	if o.RestoreRate <= 0 {
		o.RestoreRate = 100
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.Scopes) == 0 {
		o.Scopes = DefaultScopes
	}
	s := &Server{
		o:        o,
		shops:    map[string]*shop{},
		codes:    map[string]*authCode{},
		access:   map[string]*grant{},
		handlers: map[string]gqlHandler{},
	}
	s.HandleGraphQL("shop", 1, s.shopField)
	s.registerDiscounts()
	s.registerCustomers()
	s.registerPixels()
	return s
}

// AddShop registers a shop (e.g. "dev-shop.myshopify.com"); shops must be
// added before the app installs on them. Adding an existing shop updates
// its details.
func (s *Server) AddShop(domain, name, email, timezone, currency string) {
	domain = strings.ToLower(domain)
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh, ok := s.shops[domain]; ok {
		sh.name, sh.email, sh.tz, sh.currency = name, email, timezone, currency
		return
	}
	s.nextID++
	s.shops[domain] = &shop{
		id: s.nextID, domain: domain, name: name, email: email, tz: timezone, currency: currency,
		bucket: float64(s.o.Bucket), bucketAt: s.o.Now(),
	}
}

// HandleGraphQL registers a root field handler: the stand-in picks the
// handler whose name is the first root field of the query (e.g. "shop",
// "discountCodeBasicCreate") and charges cost points from the shop's bucket.
// The handler's value becomes data.<field>; an error becomes a top-level
// GraphQL error with a null field. Handlers run without the server's lock.
func (s *Server) HandleGraphQL(rootField string, cost int, h func(shop string, variables map[string]any) (any, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[rootField] = gqlHandler{cost: cost, fn: h}
}

// FailNext makes the next n requests whose path ends with path fail with
// status, before any other processing (fault injection for tests).
func (s *Server) FailNext(path string, status int, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{suffix: path, status: status, remaining: n})
}

// Requests returns the requests answered so far, oldest first.
func (s *Server) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RecordedRequest(nil), s.requests...)
}

// RevokeAccessTokens makes every access token issued for shop invalid, as if
// they had expired; refresh tokens keep working.
func (s *Server) RevokeAccessTokens(shop string) {
	shop = strings.ToLower(shop)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.access {
		if g.shop == shop {
			g.revoked = true
		}
	}
}

// IssueToken installs the app on shop without an OAuth round trip and
// returns an expiring offline token, as token exchange would. For tests and
// the dev shop.
func (s *Server) IssueToken(shopDomain string) (*shopify.Token, error) {
	shopDomain = strings.ToLower(shopDomain)
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.shops[shopDomain]
	if !ok {
		return nil, fmt.Errorf("devstore: issuing token: unknown shop %q", shopDomain)
	}
	now := s.o.Now()
	g := s.newGrantLocked(sh, s.o.Scopes, true, now)
	return &shopify.Token{
		AccessToken: g.access, Scopes: sh.scopes, ExpiresAt: g.accessExp,
		RefreshToken: g.refresh, RefreshExpiresAt: g.refreshExp,
	}, nil
}

// statusRecorder keeps the status for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// ServeHTTP routes /store/{shop}/admin/... requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	shopDomain, rest := splitStorePath(r.URL.Path)
	start := s.o.Now()
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, RecordedRequest{
			Method: r.Method, Path: r.URL.Path, Shop: shopDomain, Time: start, Status: rec.status,
		})
		s.mu.Unlock()
	}()

	if status, ok := s.takeFault(r.URL.Path); ok {
		if status == http.StatusTooManyRequests {
			rec.Header().Set("Retry-After", "1")
		}
		writeJSON(rec, status, map[string]any{"errors": http.StatusText(status)})
		return
	}
	if shopDomain == "" {
		writeJSON(rec, http.StatusNotFound, map[string]any{"errors": "Not Found"})
		return
	}
	s.mu.Lock()
	_, known := s.shops[shopDomain]
	s.mu.Unlock()
	if !known {
		writeJSON(rec, http.StatusNotFound, map[string]any{"errors": "Not Found"})
		return
	}

	switch {
	case rest == "/admin/oauth/authorize":
		if r.Method != http.MethodGet {
			writeJSON(rec, http.StatusMethodNotAllowed, map[string]any{"errors": "Method Not Allowed"})
			return
		}
		s.authorize(rec, r, shopDomain)
	case rest == "/admin/oauth/access_token":
		if r.Method != http.MethodPost {
			writeJSON(rec, http.StatusMethodNotAllowed, map[string]any{"errors": "Method Not Allowed"})
			return
		}
		s.accessToken(rec, r, shopDomain)
	case rest == "/admin/api/"+shopify.APIVersion+"/graphql.json":
		if r.Method != http.MethodPost {
			writeJSON(rec, http.StatusMethodNotAllowed, map[string]any{"errors": "Method Not Allowed"})
			return
		}
		s.graphql(rec, r, shopDomain)
	default:
		writeJSON(rec, http.StatusNotFound, map[string]any{"errors": "Not Found"})
	}
}

// splitStorePath splits "/store/{shop}/rest" into the lowercased shop and "/rest".
func splitStorePath(p string) (string, string) {
	after, ok := strings.CutPrefix(p, "/store/")
	if !ok {
		return "", ""
	}
	shopDomain, rest, _ := strings.Cut(after, "/")
	shopDomain = strings.ToLower(shopDomain)
	if !shopify.ValidShopDomain(shopDomain) {
		return "", ""
	}
	return shopDomain, "/" + rest
}

func (s *Server) takeFault(path string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.remaining > 0 && strings.HasSuffix(path, f.suffix) {
			f.remaining--
			if f.remaining == 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			return f.status, true
		}
	}
	return 0, false
}

// authorize auto-approves the authorization request and redirects back to
// the app the way Shopify does after the merchant clicks "Install".
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, shopDomain string) {
	q := r.URL.Query()
	if q.Get("client_id") != s.o.APIKey || s.o.APIKey == "" {
		writeJSON(w, http.StatusBadRequest, oauthErr("invalid_request", "The client_id is invalid"))
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if q.Get("redirect_uri") == "" || err != nil || !redirect.IsAbs() || (redirect.Scheme != "http" && redirect.Scheme != "https") {
		writeJSON(w, http.StatusBadRequest, oauthErr("invalid_request", "The redirect_uri is missing or invalid"))
		return
	}
	scopes := splitScopes(q.Get("scope"))
	if len(scopes) == 0 {
		scopes = s.o.Scopes
	}
	code := randomHex(16)
	now := s.o.Now()
	s.mu.Lock()
	s.codes[code] = &authCode{shop: shopDomain, scopes: scopes, expires: now.Add(codeTTL)}
	s.mu.Unlock()

	back := url.Values{}
	back.Set("code", code)
	back.Set("host", base64.RawStdEncoding.EncodeToString([]byte("admin.shopify.com/store/"+strings.TrimSuffix(shopDomain, ".myshopify.com"))))
	back.Set("shop", shopDomain)
	back.Set("state", q.Get("state"))
	back.Set("timestamp", strconv.FormatInt(now.Unix(), 10))
	back.Set("hmac", shopify.SignQuery(s.o.APISecret, back))
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func oauthErr(code, description string) map[string]any {
	return map[string]any{"error": code, "error_description": description}
}

// tokenParams reads a JSON or form body into strings (JSON numbers such as
// expiring: 1 become "1").
func tokenParams(r *http.Request) (map[string]string, error) {
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	out := map[string]string{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]any
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, err
		}
		for k, v := range m {
			switch v := v.(type) {
			case string:
				out[k] = v
			case json.Number:
				out[k] = v.String()
			case bool:
				out[k] = strconv.FormatBool(v)
			}
		}
		return out, nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	for k := range r.PostForm {
		out[k] = r.PostForm.Get(k)
	}
	return out, nil
}

func (s *Server) accessToken(w http.ResponseWriter, r *http.Request, shopDomain string) {
	p, err := tokenParams(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, oauthErr("invalid_request", "The request body could not be parsed"))
		return
	}
	if p["client_id"] == "" || p["client_secret"] == "" {
		writeJSON(w, http.StatusBadRequest, oauthErr("invalid_request", "client_id and client_secret are required"))
		return
	}
	idOK := subtle.ConstantTimeCompare([]byte(p["client_id"]), []byte(s.o.APIKey)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(p["client_secret"]), []byte(s.o.APISecret)) == 1
	if !idOK || !secretOK {
		writeJSON(w, http.StatusUnauthorized, oauthErr("invalid_client", "Client authentication failed"))
		return
	}
	expiring := p["expiring"] == "1" || p["expiring"] == "true"
	now := s.o.Now()

	switch grantType := p["grant_type"]; {
	case grantType == "" || grantType == "authorization_code":
		s.codeGrant(w, p, shopDomain, expiring, now)
	case grantType == shopify.GrantTypeTokenExchange:
		s.tokenExchange(w, p, shopDomain, expiring, now)
	case grantType == "refresh_token":
		s.refreshGrant(w, p, shopDomain, now)
	default:
		writeJSON(w, http.StatusBadRequest, oauthErr("unsupported_grant_type", "The grant_type is not supported"))
	}
}

func (s *Server) codeGrant(w http.ResponseWriter, p map[string]string, shopDomain string, expiring bool, now time.Time) {
	if p["code"] == "" {
		writeJSON(w, http.StatusBadRequest, oauthErr("invalid_request", "code is required"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[p["code"]]
	if !ok || c.used || c.shop != shopDomain || now.After(c.expires) {
		writeJSON(w, http.StatusBadRequest, oauthErr("invalid_grant", "The authorization code was not found or was already used"))
		return
	}
	c.used = true
	g := s.newGrantLocked(s.shops[shopDomain], c.scopes, expiring, now)
	writeJSON(w, http.StatusOK, s.tokenJSON(g, now))
}

func (s *Server) tokenExchange(w http.ResponseWriter, p map[string]string, shopDomain string, expiring bool, now time.Time) {
	if p["subject_token"] == "" || p["subject_token_type"] != shopify.TokenTypeIDToken {
		writeJSON(w, http.StatusBadRequest, oauthErr("invalid_request", "subject_token and an id_token subject_token_type are required"))
		return
	}
	if rt := p["requested_token_type"]; rt != "" && rt != shopify.TokenTypeOfflineAccess {
		writeJSON(w, http.StatusBadRequest, oauthErr("invalid_request", "Only offline access tokens are supported by this stand-in"))
		return
	}
	v := shopify.SessionVerifier{APIKey: s.o.APIKey, Secrets: shopify.Secrets{Current: s.o.APISecret}, Now: s.o.Now}
	claims, err := v.Verify(p["subject_token"])
	if err != nil || claims.Shop != shopDomain {
		writeJSON(w, http.StatusBadRequest, oauthErr("invalid_subject_token", "The session token could not be verified"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shops[shopDomain]
	scopes := sh.scopes
	if len(scopes) == 0 {
		scopes = s.o.Scopes
	}
	g := s.newGrantLocked(sh, scopes, expiring, now)
	writeJSON(w, http.StatusOK, s.tokenJSON(g, now))
}

// refreshGrant rotates the refresh token. Like Shopify since 2026-08-28, the
// refresh token just rotated away stays usable until the access token that
// replaced it is first used, so a lost response can be retried.
func (s *Server) refreshGrant(w http.ResponseWriter, p map[string]string, shopDomain string, now time.Time) {
	rt := p["refresh_token"]
	if rt == "" {
		writeJSON(w, http.StatusBadRequest, oauthErr("invalid_request", "refresh_token is required"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shops[shopDomain]
	usable := func(g *grant) bool {
		return g != nil && g.refresh != "" && subtle.ConstantTimeCompare([]byte(g.refresh), []byte(rt)) == 1 && now.Before(g.refreshExp)
	}
	switch {
	case usable(sh.current):
		sh.previous = sh.current
	case usable(sh.previous) && sh.current != nil && !sh.current.accessUsed:
		// Retry after a lost response: previous stays the fallback.
	default:
		writeJSON(w, http.StatusBadRequest, oauthErr("invalid_grant", "The refresh token is invalid, expired or was already used"))
		return
	}
	prev := sh.previous
	g := s.issueLocked(sh, true, now)
	sh.current, sh.previous = g, prev
	writeJSON(w, http.StatusOK, s.tokenJSON(g, now))
}

// newGrantLocked issues a fresh grant from an installation (code or token
// exchange): it replaces the shop's refreshable grant, killing older
// refresh tokens at once, while older access tokens live until they expire.
func (s *Server) newGrantLocked(sh *shop, scopes []string, expiring bool, now time.Time) *grant {
	sh.scopes = append([]string(nil), scopes...)
	g := s.issueLocked(sh, expiring, now)
	if expiring {
		sh.current, sh.previous = g, nil
	}
	return g
}

func (s *Server) issueLocked(sh *shop, expiring bool, now time.Time) *grant {
	g := &grant{shop: sh.domain, access: "shpat_" + randomHex(16)}
	if expiring {
		g.accessExp = now.Add(s.o.AccessTokenTTL)
		g.refresh = "shprt_" + randomHex(16)
		g.refreshExp = now.Add(s.o.RefreshTokenTTL)
	}
	s.access[g.access] = g
	return g
}

func (s *Server) tokenJSON(g *grant, now time.Time) map[string]any {
	out := map[string]any{
		"access_token": g.access,
		"scope":        strings.Join(s.shops[g.shop].scopes, ","),
	}
	if !g.accessExp.IsZero() {
		out["expires_in"] = int(g.accessExp.Sub(now) / time.Second)
		out["refresh_token"] = g.refresh
		out["refresh_token_expires_in"] = int(g.refreshExp.Sub(now) / time.Second)
	}
	return out
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

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
