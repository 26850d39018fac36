package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/relance/relance/internal/config"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/platform"
	"github.com/relance/relance/internal/platform/localstack"
	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/shopify/devstore"
)

// The simulated dev store of `relance dev`.
const (
	devShop         = "relance-dev.myshopify.com"
	devShopName     = "Relance Dev Store"
	devShopEmail    = "owner@relance-dev.example"
	devShopTimezone = "Europe/Paris"
	devShopCurrency = "EUR"
	devStoreAddr    = "127.0.0.1:8081"

	devDataDir   = ".data"
	devEnvFile   = ".data/dev.env" // values generated once and kept across restarts
	devDatabase  = "relance"
	appTOMLFile  = "shopify.app.toml"
	devAPIKey    = "relance-dev-key"
	devAPISecret = "relance-dev-secret"
)

// runDev is `relance dev`: a working app on a laptop with nothing but the
// binaries of `make deps`.
//
//   - Without DATABASE_URL/REDIS_URL it starts throwaway PostgreSQL and Redis
//     under .data/ (dev ports 15432/16379), creates the "relance" database
//     and migrates it.
//   - Without SHOPIFY_API_KEY it simulates Shopify: a local stand-in for OAuth
//     and the Admin API on 127.0.0.1:8081 with one dev shop, installed
//     through the real OAuth flow once the app listens. With real
//     credentials (as `shopify app dev` passes them through
//     web/shopify.web.toml) it talks to Shopify itself.
//   - Unset variables get dev defaults; ENCRYPTION_KEY is generated once and
//     kept in .data/dev.env so access tokens stay readable across restarts.
//
// It serves and runs the worker in one process until ctx ends, then shuts
// down the app gracefully, the stand-in, and the servers it started.
func runDev(ctx context.Context, getenv func(string) string) error {
	env := newDevEnv(getenv)
	env.mapShopifyCLI()

	// Real credentials mean a real Shopify (the CLI's dev store); otherwise
	// the local stand-in, unless the caller points elsewhere explicitly.
	simulated := env.get("SHOPIFY_API_KEY") == ""
	standIn := simulated && env.get("SHOPIFY_ADMIN_BASE_URL") == ""

	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		cleanups = nil
	}
	defer cleanup()

	if env.get("DATABASE_URL") == "" || env.get("REDIS_URL") == "" {
		stack, err := localstack.Start(ctx, localstack.Options{Dir: devDataDir, PGPort: devPGPort, RedisPort: devRedisPort})
		if err != nil {
			return fmt.Errorf("dev: start local PostgreSQL and Redis: %w", err)
		}
		cleanups = append(cleanups, func() {
			if err := stack.Stop(); err != nil {
				slog.Error("dev: stop local PostgreSQL and Redis", "err", err)
			} else {
				slog.Info("dev: local PostgreSQL and Redis stopped")
			}
		})
		if env.get("DATABASE_URL") == "" {
			dsn, err := ensureDatabase(ctx, stack.DatabaseURL, devDatabase)
			if err != nil {
				return err
			}
			env.setDefault("DATABASE_URL", dsn)
		}
		env.setDefault("REDIS_URL", stack.RedisURL)
		slog.Info("dev: local services up", "postgres", env.get("DATABASE_URL"), "redis", env.get("REDIS_URL"))
	}
	if err := migrate(ctx, env.get("DATABASE_URL")); err != nil {
		return fmt.Errorf("dev: %w", err)
	}

	if simulated {
		env.setDefault("SHOPIFY_API_KEY", devAPIKey)
		env.setDefault("SHOPIFY_API_SECRET", devAPISecret)
	}
	if standIn {
		env.setDefault("SHOPIFY_ADMIN_BASE_URL", "http://"+devStoreAddr+"/store/{shop}")
	}
	port := env.get("PORT")
	if port == "" {
		port = "8080"
	}
	env.setDefault("SHOPIFY_APP_URL", "http://localhost:"+port)
	if env.get("SHOPIFY_SCOPES") == "" {
		scopes, err := appTOMLScopes(appTOMLFile)
		if err != nil {
			return fmt.Errorf("dev: SHOPIFY_SCOPES is unset and %w", err)
		}
		env.setDefault("SHOPIFY_SCOPES", scopes)
	}
	if env.get("ENCRYPTION_KEY") == "" {
		key, err := persistentDevValue(devEnvFile, "ENCRYPTION_KEY", newEncryptionKey)
		if err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		env.setDefault("ENCRYPTION_KEY", key)
	}

	cfg, err := config.Load(env.get, config.NeedAll)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if len(env.defaulted) > 0 {
		slog.Info("dev: defaults filled in", "vars", strings.Join(env.defaultedNames(), ","))
	}

	if standIn {
		stop, err := startDevStore(cfg)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, stop)
	}

	m := NewMain(cfg, modeServe|modeWorker)
	m.DevMode = standIn
	cleanups = append(cleanups, func() {
		slog.Info("dev: shutting down the app")
		if err := m.Close(); err != nil {
			slog.Error("dev: shut down the app", "err", err)
		}
	})
	if err := m.Run(ctx); err != nil {
		return err
	}

	admin := strings.TrimRight(cfg.ShopifyAppURL.String(), "/")
	if standIn {
		if err := installDevShop(ctx, cfg, devShop, time.Now()); err != nil {
			return fmt.Errorf("dev: install %s through OAuth: %w", devShop, err)
		}
		slog.Info("dev: shop installed through OAuth", "shop", devShop)
		if err := m.enableDefaultFlows(ctx, devShop); err != nil {
			return fmt.Errorf("dev: enable the default flows of %s: %w", devShop, err)
		}
		slog.Info("dev: default flows enabled; emails go to the outbox unless RESEND_API_KEY is set", "shop", devShop)
		slog.Info("Relance dev: admin at " + admin + "/?shop=" + devShop)
	} else {
		slog.Info("Relance dev: serving " + admin + " for Shopify (install the app on your development store from the Shopify CLI)")
	}

	<-ctx.Done()
	slog.Info("dev: interrupted, shutting down")
	return nil
}

// devEnv is the environment of the dev process: the real one, with defaults
// for what it leaves unset.
type devEnv struct {
	getenv    func(string) string
	defaulted map[string]string
}

func newDevEnv(getenv func(string) string) *devEnv {
	return &devEnv{getenv: getenv, defaulted: map[string]string{}}
}

func (e *devEnv) get(name string) string {
	if v := strings.TrimSpace(e.getenv(name)); v != "" {
		return v
	}
	return e.defaulted[name]
}

// setDefault sets name unless the environment (or an earlier default) has it.
func (e *devEnv) setDefault(name, value string) {
	if e.get(name) == "" {
		e.defaulted[name] = value
	}
}

func (e *devEnv) defaultedNames() []string {
	names := make([]string, 0, len(e.defaulted))
	for k := range e.defaulted {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// mapShopifyCLI translates what `shopify app dev` passes to a web process
// (SCOPES; HOST and APP_URL, the tunnel URL) into Relance's variables, when
// those are not set themselves.
func (e *devEnv) mapShopifyCLI() {
	if s := e.get("SCOPES"); s != "" {
		e.setDefault("SHOPIFY_SCOPES", s)
	}
	for _, name := range []string{"APP_URL", "HOST"} {
		v := e.get(name)
		if v == "" {
			continue
		}
		if !strings.Contains(v, "://") {
			v = "https://" + v
		}
		e.setDefault("SHOPIFY_APP_URL", v)
	}
}

// ensureDatabase creates database name on the server of maintenanceURL if
// it does not exist, and returns its URL.
func ensureDatabase(ctx context.Context, maintenanceURL, name string) (string, error) {
	u, err := url.Parse(maintenanceURL)
	if err != nil {
		return "", fmt.Errorf("dev: parse database URL: %w", err)
	}
	db, err := platform.OpenDB(ctx, maintenanceURL)
	if err != nil {
		return "", fmt.Errorf("dev: connect to PostgreSQL: %w", err)
	}
	defer platform.CloseDB(db)
	var exists bool
	if err := db.WithContext(ctx).Raw(`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = ?)`, name).Scan(&exists).Error; err != nil {
		return "", fmt.Errorf("dev: look up database %s: %w", name, err)
	}
	if !exists {
		if err := db.WithContext(ctx).Exec(fmt.Sprintf(`CREATE DATABASE %q`, name)).Error; err != nil {
			return "", fmt.Errorf("dev: create database %s: %w", name, err)
		}
		slog.Info("dev: database created", "name", name)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// appTOML is the part of shopify.app.toml the dev command reads.
type appTOML struct {
	AccessScopes struct {
		Scopes string `toml:"scopes"`
	} `toml:"access_scopes"`
}

// appTOMLScopes returns access_scopes.scopes of the app configuration file.
func appTOMLScopes(path string) (string, error) {
	var c appTOML
	if _, err := toml.DecodeFile(path, &c); err != nil {
		return "", fmt.Errorf("cannot read the scopes of %s (run relance dev from the repository root, or set SHOPIFY_SCOPES): %w", path, err)
	}
	if strings.TrimSpace(c.AccessScopes.Scopes) == "" {
		return "", fmt.Errorf("%s declares no access_scopes.scopes", path)
	}
	return c.AccessScopes.Scopes, nil
}

func newEncryptionKey() (string, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

// persistentDevValue returns name from the KEY=VALUE file at path, creating
// the value with gen and appending it to the file (mode 0600) the first
// time.
func persistentDevValue(path, name string, gen func() (string, error)) (string, error) {
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == name && strings.TrimSpace(v) != "" {
				_ = f.Close()
				return strings.TrimSpace(v), nil
			}
		}
		err := sc.Err()
		_ = f.Close()
		if err != nil {
			return "", fmt.Errorf("read %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	v, err := gen()
	if err != nil {
		return "", fmt.Errorf("generate %s: %w", name, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := fmt.Fprintf(f, "%s=%s\n", name, v); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	slog.Info("dev: generated a value and kept it for the next runs", "var", name, "file", path)
	return v, nil
}

// startDevStore serves the Shopify stand-in with the dev shop on
// devStoreAddr and returns its shutdown.
func startDevStore(cfg *config.Config) (func(), error) {
	store := devstore.New(devstore.Options{APIKey: cfg.ShopifyAPIKey, APISecret: cfg.ShopifyAPISecret})
	store.AddShop(devShop, devShopName, devShopEmail, devShopTimezone, devShopCurrency)
	handleConsentUpdates(store)
	ln, err := net.Listen("tcp", devStoreAddr)
	if err != nil {
		return nil, fmt.Errorf("dev: Shopify stand-in: listen %s: %w", devStoreAddr, err)
	}
	srv := &http.Server{Handler: store, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("dev: Shopify stand-in stopped", "err", err)
		}
	}()
	slog.Info("dev: Shopify stand-in listening", "addr", "http://"+devStoreAddr, "shop", devShop)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// installDevShop installs shop the way a merchant does: a signed install
// request to the app, Shopify's authorize page (the stand-in approves at
// once), then the app's OAuth callback. The cookie jar carries the state
// cookie from /auth/install to /auth/callback. Redirects after the callback
// (into the admin) are not followed.
func installDevShop(ctx context.Context, cfg *config.Config, shop string, now time.Time) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	callbackPath := "/auth/callback"
	client := &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("too many redirects")
			}
			if via[len(via)-1].URL.Path == callbackPath {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	q := url.Values{}
	q.Set("shop", shop)
	q.Set("timestamp", strconv.FormatInt(now.Unix(), 10))
	q.Set("hmac", shopify.SignQuery(cfg.ShopifyAPISecret, q))
	start := strings.TrimRight(cfg.ShopifyAppURL.String(), "/") + "/auth/install?" + q.Encode()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, start, nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	last := res.Request.URL
	if last.Path != callbackPath {
		return fmt.Errorf("the flow stopped at %s://%s%s with status %d before reaching %s", last.Scheme, last.Host, last.Path, res.StatusCode, callbackPath)
	}
	if res.StatusCode >= 400 {
		return fmt.Errorf("%s answered %d", callbackPath, res.StatusCode)
	}
	return nil
}

// enableDefaultFlows gives an installed shop the nine default flows and
// switches them all on, so a newcomer sees sequences run.
func (m *Main) enableDefaultFlows(ctx context.Context, domain string) error {
	sh, err := m.c.shops.Get(ctx, domain)
	if err != nil {
		return err
	}
	flows := m.c.engine.Flows()
	if err := flows.EnsureDefaults(ctx, sh.ID); err != nil {
		return err
	}
	for _, key := range flow.Keys {
		if err := flows.SetEnabled(ctx, sh.ID, key, true); err != nil {
			return err
		}
	}
	return nil
}

// handleConsentUpdates makes the stand-in accept the consent write-back of
// unsubscribes (customerEmailMarketingConsentUpdate), as Shopify does for a
// customer with an email.
func handleConsentUpdates(store *devstore.Server) {
	store.HandleGraphQL("customerEmailMarketingConsentUpdate", 10, func(_ string, vars map[string]any) (any, error) {
		input, _ := vars["input"].(map[string]any)
		id, _ := input["customerId"].(string)
		consent, _ := input["emailMarketingConsent"].(map[string]any)
		if id == "" || consent == nil {
			return map[string]any{"customer": nil, "userErrors": []any{map[string]any{
				"field": []string{"input"}, "message": "customerId and emailMarketingConsent are required", "code": "INVALID"}}}, nil
		}
		return map[string]any{
			"customer": map[string]any{"id": id, "emailMarketingConsent": map[string]any{
				"marketingState": consent["marketingState"], "marketingOptInLevel": consent["marketingOptInLevel"],
				"consentUpdatedAt": consent["consentUpdatedAt"]}},
			"userErrors": []any{},
		}, nil
	})
}
