package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/labstack/echo/v4"

	"github.com/relance/relance/internal/config"
	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/shopify/devstore"
	"github.com/relance/relance/internal/web"
	"github.com/relance/relance/internal/webhook"
)

// The files the Shopify CLI reads must agree with the code: every topic the
// inbox knows is subscribed, at the API version the client is pinned to, and
// every subscription points at the file that handles it.

const repoRoot = ".."

type appConfigFile struct {
	Name           string   `toml:"name"`
	ClientID       *string  `toml:"client_id"`
	ApplicationURL string   `toml:"application_url"`
	Embedded       *bool    `toml:"embedded"`
	Handle         string   `toml:"handle"`
	WebDirectories []string `toml:"web_directories"`
	AccessScopes   struct {
		Scopes string `toml:"scopes"`
	} `toml:"access_scopes"`
	Auth struct {
		RedirectURLs []string `toml:"redirect_urls"`
	} `toml:"auth"`
	Webhooks struct {
		APIVersion    string `toml:"api_version"`
		Subscriptions []struct {
			Topics           []string `toml:"topics"`
			ComplianceTopics []string `toml:"compliance_topics"`
			URI              string   `toml:"uri"`
		} `toml:"subscriptions"`
	} `toml:"webhooks"`
	AppProxy struct {
		URL     string `toml:"url"`
		Subpath string `toml:"subpath"`
		Prefix  string `toml:"prefix"`
	} `toml:"app_proxy"`
	POS struct {
		Embedded *bool `toml:"embedded"`
	} `toml:"pos"`
	Build struct {
		AutomaticallyUpdateURLsOnDev *bool `toml:"automatically_update_urls_on_dev"`
	} `toml:"build"`
}

func loadAppConfigFile(t *testing.T) appConfigFile {
	t.Helper()
	var c appConfigFile
	md, err := toml.DecodeFile(filepath.Join(repoRoot, "shopify.app.toml"), &c)
	if err != nil {
		t.Fatalf("parse shopify.app.toml: %v", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Fatalf("shopify.app.toml has keys this test does not know (add them to appConfigFile): %v", und)
	}
	return c
}

func TestShopifyAppTOMLWebhooks(t *testing.T) {
	c := loadAppConfigFile(t)

	if c.Webhooks.APIVersion != shopify.APIVersion {
		t.Errorf("webhooks.api_version = %q, want shopify.APIVersion %q", c.Webhooks.APIVersion, shopify.APIVersion)
	}

	subscribed := map[string]int{}
	compliance := map[string]bool{}
	for i, s := range c.Webhooks.Subscriptions {
		if s.URI != "/webhooks/shopify" {
			t.Errorf("subscription %d: uri = %q, want /webhooks/shopify (one route; the topic header decides)", i, s.URI)
		}
		if len(s.Topics)+len(s.ComplianceTopics) == 0 {
			t.Errorf("subscription %d subscribes to nothing", i)
		}
		for _, topic := range s.Topics {
			subscribed[topic]++
		}
		for _, topic := range s.ComplianceTopics {
			subscribed[topic]++
			compliance[topic] = true
		}
	}
	for topic, n := range subscribed {
		if n > 1 {
			t.Errorf("topic %s is subscribed %d times", topic, n)
		}
		if !webhook.KnownTopics[topic] {
			t.Errorf("topic %s is subscribed but not in webhook.KnownTopics: its deliveries would be ignored", topic)
		}
	}
	for _, topic := range sortedTopics(webhook.KnownTopics) {
		if subscribed[topic] == 0 {
			t.Errorf("webhook.KnownTopics has %s but shopify.app.toml does not subscribe to it", topic)
		}
	}
	for _, topic := range []string{"customers/data_request", "customers/redact", "shop/redact"} {
		if !webhook.ComplianceTopics[topic] {
			t.Errorf("webhook.ComplianceTopics lacks mandatory topic %s", topic)
		}
		if !compliance[topic] {
			t.Errorf("mandatory compliance topic %s is not under compliance_topics", topic)
		}
	}
	for topic := range webhook.ComplianceTopics {
		if !compliance[topic] {
			t.Errorf("compliance topic %s must be declared under compliance_topics", topic)
		}
	}
}

// handledBy matches the pointer comment above a subscription.
var handledBy = regexp.MustCompile(`^#\s*Handled by:\s*(\S+)(.*)$`)

func TestShopifyAppTOMLHandlerComments(t *testing.T) {
	c := loadAppConfigFile(t)
	f, err := os.Open(filepath.Join(repoRoot, "shopify.app.toml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	n := 0
	for i, line := range lines {
		if line != "[[webhooks.subscriptions]]" {
			continue
		}
		n++
		// The comment block right above the table header.
		var pointer []string
		for j := i - 1; j >= 0 && strings.HasPrefix(lines[j], "#"); j-- {
			if m := handledBy.FindStringSubmatch(lines[j]); m != nil {
				pointer = m
			}
		}
		if pointer == nil {
			t.Errorf("line %d: subscription without a '# Handled by: <file>' comment right above it", i+1)
			continue
		}
		path, rest := pointer[1], pointer[2]
		if !strings.HasPrefix(path, "internal/webhook/") || !strings.HasSuffix(path, ".go") {
			t.Errorf("line %d: handler %q is not a file of internal/webhook", i+1, path)
			continue
		}
		if _, err := os.Stat(filepath.Join(repoRoot, path)); err == nil {
			continue
		}
		if !strings.Contains(rest, "comes with") {
			t.Errorf("line %d: handler %s does not exist (say which issue brings it: '(comes with the … issue)')", i+1, path)
		}
	}
	if n != len(c.Webhooks.Subscriptions) {
		t.Errorf("found %d [[webhooks.subscriptions]] headers but decoded %d subscriptions (use the plain header form)", n, len(c.Webhooks.Subscriptions))
	}
}

func TestShopifyAppTOMLApp(t *testing.T) {
	c := loadAppConfigFile(t)
	if c.Name != "Relance" || c.Handle == "" {
		t.Errorf("name = %q, handle = %q", c.Name, c.Handle)
	}
	if c.ClientID == nil {
		t.Error("client_id is missing (the CLI requires the key; `shopify app config link` fills it)")
	}
	if c.Embedded == nil || !*c.Embedded {
		t.Error("embedded must be true")
	}
	app, err := url.Parse(c.ApplicationURL)
	if err != nil || app.Scheme != "https" || app.Host == "" {
		t.Errorf("application_url = %q, want an https URL", c.ApplicationURL)
	}
	if len(c.Auth.RedirectURLs) == 0 {
		t.Error("auth.redirect_urls is empty")
	}
	for _, r := range c.Auth.RedirectURLs {
		u, err := url.Parse(r)
		if err != nil || u.Path != "/auth/callback" {
			t.Errorf("redirect URL %q does not point at /auth/callback", r)
		}
	}
	want := []string{"read_orders", "read_customers", "write_customers", "read_products", "write_discounts", "write_pixels", "read_customer_events", "write_app_proxy"}
	if got := strings.Split(c.AccessScopes.Scopes, ","); !slices.Equal(got, want) {
		t.Errorf("access_scopes.scopes = %v, want %v", got, want)
	}
	scopes, err := appTOMLScopes(filepath.Join(repoRoot, "shopify.app.toml"))
	if err != nil || scopes != c.AccessScopes.Scopes {
		t.Errorf("appTOMLScopes = %q, %v; want %q", scopes, err, c.AccessScopes.Scopes)
	}
	if c.AppProxy.URL != "/proxy" || c.AppProxy.Subpath != "relance" || c.AppProxy.Prefix != "apps" {
		t.Errorf("app_proxy = %+v", c.AppProxy)
	}
	if c.POS.Embedded == nil || *c.POS.Embedded {
		t.Error("pos.embedded must be false")
	}
	if c.Build.AutomaticallyUpdateURLsOnDev == nil || !*c.Build.AutomaticallyUpdateURLsOnDev {
		t.Error("build.automatically_update_urls_on_dev must be true")
	}
	if !slices.Equal(c.WebDirectories, []string{"web"}) {
		t.Errorf("web_directories = %v, want [web]", c.WebDirectories)
	}
}

// The Shopify CLI schema of a web: roles (or the legacy type), commands.dev
// required, run in the web's directory without a shell.
func TestShopifyWebTOML(t *testing.T) {
	var w struct {
		Name             string   `toml:"name"`
		Roles            []string `toml:"roles"`
		WebhooksPath     string   `toml:"webhooks_path"`
		AuthCallbackPath string   `toml:"auth_callback_path"`
		Commands         struct {
			Dev   string `toml:"dev"`
			Build string `toml:"build"`
		} `toml:"commands"`
	}
	md, err := toml.DecodeFile(filepath.Join(repoRoot, "web", "shopify.web.toml"), &w)
	if err != nil {
		t.Fatalf("parse web/shopify.web.toml: %v", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Errorf("unknown keys: %v", und)
	}
	roles := slices.Clone(w.Roles)
	sort.Strings(roles)
	if !slices.Equal(roles, []string{"backend", "frontend"}) {
		t.Errorf("roles = %v, want backend and frontend (one Go process serves API and UI)", w.Roles)
	}
	if w.WebhooksPath != "/webhooks/shopify" || w.AuthCallbackPath != "/auth/callback" {
		t.Errorf("webhooks_path = %q, auth_callback_path = %q", w.WebhooksPath, w.AuthCallbackPath)
	}
	if w.Commands.Dev != "make -C .. run" {
		t.Errorf("commands.dev = %q, want make -C .. run", w.Commands.Dev)
	}
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^run:`).Match(mk) {
		t.Error("the Makefile has no run target for commands.dev")
	}
}

func TestDevEnvMapsShopifyCLIVariables(t *testing.T) {
	cases := []struct {
		desc      string
		env       map[string]string
		wantURL   string
		wantScope string
	}{
		{
			desc:      "CLI variables fill the unset ones",
			env:       map[string]string{"SCOPES": "read_orders", "APP_URL": "https://abc.trycloudflare.com", "HOST": "https://abc.trycloudflare.com"},
			wantURL:   "https://abc.trycloudflare.com",
			wantScope: "read_orders",
		},
		{
			desc:    "HOST alone, without a scheme",
			env:     map[string]string{"HOST": "abc.trycloudflare.com"},
			wantURL: "https://abc.trycloudflare.com",
		},
		{
			desc:      "explicit variables win",
			env:       map[string]string{"SCOPES": "read_orders", "SHOPIFY_SCOPES": "write_discounts", "HOST": "https://a.example", "SHOPIFY_APP_URL": "https://b.example"},
			wantURL:   "https://b.example",
			wantScope: "write_discounts",
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			e := newDevEnv(func(k string) string { return tc.env[k] })
			e.mapShopifyCLI()
			if got := e.get("SHOPIFY_APP_URL"); got != tc.wantURL {
				t.Errorf("SHOPIFY_APP_URL = %q, want %q", got, tc.wantURL)
			}
			if got := e.get("SHOPIFY_SCOPES"); got != tc.wantScope {
				t.Errorf("SHOPIFY_SCOPES = %q, want %q", got, tc.wantScope)
			}
		})
	}
}

func TestPersistentDevValueIsGeneratedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dev.env")
	calls := 0
	gen := func() (string, error) { calls++; return newEncryptionKey() }
	first, err := persistentDevValue(path, "ENCRYPTION_KEY", gen)
	if err != nil {
		t.Fatal(err)
	}
	second, err := persistentDevValue(path, "ENCRYPTION_KEY", gen)
	if err != nil {
		t.Fatal(err)
	}
	if first != second || calls != 1 {
		t.Errorf("values %q then %q after %d generations; want one value kept", first, second, calls)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, st.Mode().Perm())
	}
	other, err := persistentDevValue(path, "OTHER", func() (string, error) { return "x", nil })
	if err != nil || other != "x" {
		t.Fatalf("OTHER = %q, %v", other, err)
	}
	again, _ := persistentDevValue(path, "ENCRYPTION_KEY", gen)
	if again != first {
		t.Errorf("ENCRYPTION_KEY changed after another value was added")
	}
}

// installDevShop drives the real OAuth routes against the Shopify stand-in,
// as `relance dev` does at start, and fails loudly when the flow breaks.
func TestInstallDevShopThroughOAuth(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)
	store := devstore.New(devstore.Options{APIKey: devAPIKey, APISecret: devAPISecret})
	store.AddShop(devShop, devShopName, devShopEmail, devShopTimezone, devShopCurrency)
	standIn := httptest.NewServer(store)
	t.Cleanup(standIn.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	key, err := newEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"SHOPIFY_API_KEY":        devAPIKey,
		"SHOPIFY_API_SECRET":     devAPISecret,
		"SHOPIFY_APP_URL":        "http://" + ln.Addr().String(),
		"SHOPIFY_SCOPES":         "read_orders,write_discounts",
		"SHOPIFY_ADMIN_BASE_URL": standIn.URL + "/store/{shop}",
		"DATABASE_URL":           "postgres://unused/unused",
		"REDIS_URL":              "redis://unused:1/0",
		"ENCRYPTION_KEY":         key,
	}
	cfg, err := config.Load(func(k string) string { return env[k] }, config.NeedAll)
	if err != nil {
		t.Fatal(err)
	}
	shops, err := shop.NewStore(db, cfg.EncryptionKey)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	web.NewAuth(cfg, shops, web.NewOAuth(cfg, http.DefaultClient)).Routes(e.Group("/auth"))
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	if err := installDevShop(context.Background(), cfg, devShop, time.Now()); err != nil {
		t.Fatalf("installDevShop: %v", err)
	}
	var got struct {
		Name      string
		HasToken  bool
		Installed bool
	}
	if err := db.Raw(`SELECT name, access_token_enc IS NOT NULL AS has_token, uninstalled_at IS NULL AS installed
		FROM shops WHERE domain = ?`, devShop).Scan(&got).Error; err != nil {
		t.Fatal(err)
	}
	if got.Name != devShopName || !got.HasToken || !got.Installed {
		t.Errorf("after install: %+v, want the dev shop installed with a token", got)
	}

	bad := *cfg
	bad.ShopifyAPISecret = "not-the-secret"
	if err := installDevShop(context.Background(), &bad, devShop, time.Now()); err == nil {
		t.Error("installDevShop with a wrong secret succeeded")
	}
}

func sortedTopics(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
