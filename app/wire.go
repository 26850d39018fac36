package main

import (
	"fmt"

	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/web"
	"github.com/relance/relance/internal/webhook"
)

// components are the domain services of one process, built once by wire.
type components struct {
	shops    *shop.Store
	auth     *web.Auth
	admin    *shopify.Client
	privacy  *shop.Privacy
	registry *webhook.Registry

	ingest     *webhook.Ingest
	dispatcher *webhook.Dispatcher
	reconciler *webhook.Reconciler
}

// wire builds the domain components from the configuration, DB and queue.
// Each domain package owns its constructor; this only connects them.
func (m *Main) wire() error {
	cfg := m.Config
	c := &m.c
	var err error
	if c.shops, err = shop.NewStore(m.DB, cfg.EncryptionKey); err != nil {
		return err
	}
	oauth := web.NewOAuth(cfg, nil)
	c.admin = &shopify.Client{AdminBase: cfg.ShopifyAdminBaseURL, Tokens: shop.NewTokens(c.shops, oauth)}
	c.auth = web.NewAuth(cfg, c.shops, oauth)

	// Every package that copies shopper data registers its holder, in
	// dependency order, so GDPR requests reach every copy.
	c.privacy = shop.NewPrivacy(m.DB)
	c.registry = webhook.NewRegistry()
	webhook.RegisterLifecycle(c.registry, c.shops)
	webhook.RegisterCompliance(c.registry, c.privacy)

	secrets := shopify.Secrets{Current: cfg.ShopifyAPISecret, Previous: cfg.ShopifyAPISecretPrevious}
	if c.ingest, err = webhook.NewIngest(m.DB, m.Queue, webhook.IngestConfig{Secrets: secrets}); err != nil {
		return fmt.Errorf("webhook ingest: %w", err)
	}
	// Registered before the HTTP server's shutdown, so it runs after it:
	// requests finish, then every accepted delivery is flushed.
	m.onClose(c.ingest.Close)
	if c.dispatcher, err = webhook.NewDispatcher(m.DB, c.registry, webhook.DispatcherConfig{}); err != nil {
		return fmt.Errorf("webhook dispatcher: %w", err)
	}
	if c.reconciler, err = webhook.NewReconciler(m.DB, m.Queue, webhook.ReconcilerConfig{}); err != nil {
		return fmt.Errorf("webhook reconciler: %w", err)
	}
	return nil
}
