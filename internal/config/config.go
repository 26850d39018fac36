// Package config turns the process environment into a typed, validated Config.
//
// Every variable of DESIGN.md §4 is read here and nowhere else. A missing or
// malformed value is reported with the variable's name so an operator can fix
// it without reading code.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the whole runtime configuration of a relance process.
type Config struct {
	ShopifyAPIKey            string
	ShopifyAPISecret         string
	ShopifyAPISecretPrevious string // accepted during a secret rotation; empty when none
	ShopifyAppURL            *url.URL
	ShopifyScopes            []string
	// ShopifyAdminBaseURL, when set, replaces https://{shop} for every OAuth and
	// Admin API call (the dev store and the tests point it at a local stand-in).
	ShopifyAdminBaseURL *url.URL

	DatabaseURL string
	RedisURL    string

	ResendAPIKey        string // empty: emails go to the outbox
	ResendWebhookSecret string
	ResendBaseURL       *url.URL
	// MailFrom is the address shopper emails are sent from (MAIL_FROM;
	// default hello@<host of SHOPIFY_APP_URL>). Its domain must be verified
	// with Resend; the display name is the shop's.
	MailFrom string

	EncryptionKey []byte // 32 bytes, AES-256-GCM key for tokens at rest
	Port          int
	// TimeScale compresses every flow delay and scan (2 = twice as fast).
	TimeScale float64
}

// Need says which variables a mode of the binary cannot run without.
type Need int

const (
	// NeedDatabase is for `relance migrate`.
	NeedDatabase Need = 1 << iota
	// NeedRedis is for processes that enqueue or run tasks.
	NeedRedis
	// NeedShopify is for processes that talk to Shopify or verify its signatures.
	NeedShopify
	// NeedAll is serve, worker and all.
	NeedAll = NeedDatabase | NeedRedis | NeedShopify
)

// FieldError names the variable at fault.
type FieldError struct {
	Var    string
	Reason string
}

func (e *FieldError) Error() string { return e.Var + ": " + e.Reason }

// Load reads the environment through getenv (os.Getenv in production) and
// checks that every variable the mode needs is present and well formed. All
// problems are reported at once, joined.
func Load(getenv func(string) string, need Need) (*Config, error) {
	c := &Config{Port: 8080, TimeScale: 1}
	var errs []error
	fail := func(v, format string, args ...any) {
		errs = append(errs, &FieldError{Var: v, Reason: fmt.Sprintf(format, args...)})
	}
	required := func(v string, n Need) string {
		s := strings.TrimSpace(getenv(v))
		if s == "" && need&n != 0 {
			fail(v, "is required")
		}
		return s
	}

	c.ShopifyAPIKey = required("SHOPIFY_API_KEY", NeedShopify)
	c.ShopifyAPISecret = required("SHOPIFY_API_SECRET", NeedShopify)
	c.ShopifyAPISecretPrevious = strings.TrimSpace(getenv("SHOPIFY_API_SECRET_PREVIOUS"))
	if s := required("SHOPIFY_APP_URL", NeedShopify); s != "" {
		u, err := parseBaseURL(s)
		if err != nil {
			fail("SHOPIFY_APP_URL", "%v", err)
		}
		c.ShopifyAppURL = u
	}
	if s := required("SHOPIFY_SCOPES", NeedShopify); s != "" {
		for _, sc := range strings.Split(s, ",") {
			sc = strings.TrimSpace(sc)
			if sc == "" {
				continue
			}
			if strings.ContainsAny(sc, " \t/") {
				fail("SHOPIFY_SCOPES", "scope %q is malformed", sc)
				continue
			}
			c.ShopifyScopes = append(c.ShopifyScopes, sc)
		}
		if len(c.ShopifyScopes) == 0 {
			fail("SHOPIFY_SCOPES", "lists no scope")
		}
	}
	if s := strings.TrimSpace(getenv("SHOPIFY_ADMIN_BASE_URL")); s != "" {
		u, err := parseBaseURL(s)
		if err != nil {
			fail("SHOPIFY_ADMIN_BASE_URL", "%v", err)
		}
		c.ShopifyAdminBaseURL = u
	}

	if s := required("DATABASE_URL", NeedDatabase); s != "" {
		if u, err := url.Parse(s); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			fail("DATABASE_URL", "must be a postgres:// URL")
		}
		c.DatabaseURL = s
	}
	if s := required("REDIS_URL", NeedRedis); s != "" {
		if u, err := url.Parse(s); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			fail("REDIS_URL", "must be a redis:// or rediss:// URL")
		}
		c.RedisURL = s
	}

	c.ResendAPIKey = strings.TrimSpace(getenv("RESEND_API_KEY"))
	c.ResendWebhookSecret = strings.TrimSpace(getenv("RESEND_WEBHOOK_SECRET"))
	if c.ResendAPIKey != "" && c.ResendWebhookSecret == "" && need&NeedShopify != 0 {
		fail("RESEND_WEBHOOK_SECRET", "is required when RESEND_API_KEY is set")
	}
	if s := strings.TrimSpace(getenv("RESEND_BASE_URL")); s != "" {
		u, err := parseBaseURL(s)
		if err != nil {
			fail("RESEND_BASE_URL", "%v", err)
		}
		c.ResendBaseURL = u
	}

	if s := strings.TrimSpace(getenv("MAIL_FROM")); s != "" {
		a, err := mail.ParseAddress(s)
		if err != nil || a.Name != "" || a.Address != s {
			fail("MAIL_FROM", "must be a bare email address (the display name is the shop's), got %q", s)
		}
		c.MailFrom = s
	} else if c.ShopifyAppURL != nil {
		c.MailFrom = "hello@" + c.ShopifyAppURL.Hostname()
	}

	if s := required("ENCRYPTION_KEY", NeedShopify); s != "" {
		k, err := base64.StdEncoding.DecodeString(s)
		switch {
		case err != nil:
			fail("ENCRYPTION_KEY", "must be base64")
		case len(k) != 32:
			fail("ENCRYPTION_KEY", "must decode to 32 bytes, got %d", len(k))
		default:
			c.EncryptionKey = k
		}
	}
	if s := strings.TrimSpace(getenv("PORT")); s != "" {
		p, err := strconv.Atoi(s)
		if err != nil || p < 0 || p > 65535 {
			fail("PORT", "must be a port number, got %q", s)
		}
		c.Port = p
	}
	if s := strings.TrimSpace(getenv("TIME_SCALE")); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 1 || f > 100000 {
			fail("TIME_SCALE", "must be a number between 1 and 100000, got %q", s)
		}
		c.TimeScale = f
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// Scale shortens a real-world delay by TIME_SCALE.
func (c *Config) Scale(d time.Duration) time.Duration {
	if c.TimeScale <= 1 {
		return d
	}
	return time.Duration(float64(d) / c.TimeScale)
}

func parseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("must be an absolute http(s) URL")
	}
	return u, nil
}
