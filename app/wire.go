package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relance/relance/internal/analytics"
	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/courier"
	"github.com/relance/relance/internal/discount"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/mail"
	"github.com/relance/relance/internal/pixel"
	"github.com/relance/relance/internal/quiz"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/unsubscribe"
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

	// The sequence engine and the mail side.
	engine       *journey.Engine
	outbox       *mail.Outbox // nil when sending through Resend
	mailSender   mail.Sender  // Resend or the outbox: the admin's test emails
	links        *mail.LinkSigner
	unsubscribe  *unsubscribe.Service
	mailWebhooks *mail.Webhooks // nil without RESEND_WEBHOOK_SECRET
	discounts    *discount.Service
	quiz         *quiz.Service

	// The storefront side: pixel events, tracked clicks, attribution.
	pixel     *pixel.Endpoint
	pixels    *pixel.Activator // the shops' web pixel records
	clicks    *analytics.Clicks
	analytics *analytics.Service
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
	// The web pixel is activated at install; the worker re-checks it.
	c.pixels = pixel.NewActivator(c.admin, cfg.ShopifyAppURL.String(), m.DB)
	c.auth.InstallHooks = append(c.auth.InstallHooks, func(ctx context.Context, s *shop.Shop) error {
		return c.pixels.Ensure(ctx, s)
	})

	if err := m.wireEngine(); err != nil {
		return err
	}

	// Every package that copies shopper data registers its holder, in
	// dependency order, so GDPR requests reach every copy (erased in
	// reverse: mail rows, then contacts with their enrollments).
	c.privacy = shop.NewPrivacy(m.DB)
	c.privacy.Register(contact.PrivacyHolder{})
	c.privacy.Register(mail.PrivacyHolder{})
	// Erased before contacts: finding an anonymous shopper's codes reads
	// enrollments and contacts.
	c.privacy.Register(discount.PrivacyHolder{})
	c.registry = webhook.NewRegistry()
	webhook.RegisterLifecycle(c.registry, c.shops, c.engine)
	webhook.RegisterCompliance(c.registry, c.privacy)
	contacts := c.engine.Contacts()
	webhook.RegisterCheckouts(c.registry, c.shops, contacts, c.engine)
	webhook.RegisterCarts(c.registry, c.shops, contacts, c.engine)
	webhook.RegisterOrders(c.registry, c.shops, contacts, c.engine)
	webhook.RegisterCustomers(c.registry, c.shops, contacts, c.engine, webhook.AdminConsent{Admin: c.admin})
	webhook.RegisterRedemptions(c.registry, c.shops, redemptionRecorder{c.discounts})
	// After RegisterOrders: attribution reads the order's contact it writes.
	c.analytics = analytics.New(m.DB, c.discounts)
	webhook.RegisterAttribution(c.registry, c.shops, c.analytics)
	pixel.NewProcessor(m.DB, c.shops, contacts, c.engine, c.links).Register(c.registry)
	if c.clicks, err = analytics.NewClicks(m.DB, c.links, contacts); err != nil {
		return err
	}

	secrets := shopify.Secrets{Current: cfg.ShopifyAPISecret, Previous: cfg.ShopifyAPISecretPrevious}
	if c.quiz, err = quiz.New(quiz.Options{DB: m.DB, Secrets: secrets, Shops: c.shops, Contacts: c.engine.Contacts(),
		Engine: c.engine, Queue: m.Queue, Admin: c.admin}); err != nil {
		return err
	}
	if c.ingest, err = webhook.NewIngest(m.DB, m.Queue, webhook.IngestConfig{Secrets: secrets}); err != nil {
		return fmt.Errorf("webhook ingest: %w", err)
	}
	// Registered before the HTTP server's shutdown, so it runs after it:
	// requests finish, then every accepted delivery is flushed.
	m.onClose(c.ingest.Close)
	pixelRedis, ok := m.Redis.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return errors.New("pixel: REDIS_URL does not give a go-redis client for the rate limiter")
	}
	m.onClose(func(context.Context) error { return pixelRedis.Close() })
	if c.pixel, err = pixel.NewEndpoint(pixel.Options{Inbox: c.ingest, Redis: pixelRedis}); err != nil {
		return fmt.Errorf("pixel endpoint: %w", err)
	}
	if c.dispatcher, err = webhook.NewDispatcher(m.DB, c.registry, webhook.DispatcherConfig{
		Defer: func(ctx context.Context) (context.Context, webhook.TriggerBatch) { return c.engine.Defer(ctx) },
	}); err != nil {
		return fmt.Errorf("webhook dispatcher: %w", err)
	}
	if c.reconciler, err = webhook.NewReconciler(m.DB, m.Queue, webhook.ReconcilerConfig{}); err != nil {
		return fmt.Errorf("webhook reconciler: %w", err)
	}
	return nil
}

// wireEngine builds the mail sender (the outbox without RESEND_API_KEY,
// else Resend paced through Redis), the courier that renders the engine's
// decisions, the engine, the shopper links and Resend's webhooks.
func (m *Main) wireEngine() error {
	cfg := m.Config
	c := &m.c
	var err error
	if c.links, err = mail.NewLinkSigner(cfg.ShopifyAPISecret, cfg.ShopifyAPISecretPrevious); err != nil {
		return err
	}
	var sender mail.Sender
	if cfg.ResendAPIKey == "" {
		c.outbox = mail.NewOutbox(m.DB)
		sender = c.outbox
	} else {
		rdb, ok := m.Redis.MakeRedisClient().(redis.UniversalClient)
		if !ok {
			return errors.New("mail: REDIS_URL does not give a go-redis client for the Resend pacer")
		}
		// Registered before the worker starts, so closed after it stops.
		m.onClose(func(context.Context) error { return rdb.Close() })
		if sender, err = mail.NewResend(mail.ResendOptions{DB: m.DB, APIKey: cfg.ResendAPIKey, BaseURL: cfg.ResendBaseURL,
			Pacer: mail.NewPacer(rdb, "")}); err != nil {
			return err
		}
	}
	c.mailSender = sender
	contacts := contact.NewStore(m.DB)
	c.discounts = discount.New(m.DB, c.admin)
	cour, err := courier.New(courier.Options{DB: m.DB, Flows: flow.NewStore(m.DB), Contacts: contacts, Sender: sender, Links: c.links,
		AppURL: cfg.ShopifyAppURL, FromEmail: cfg.MailFrom, Discounts: c.discounts})
	if err != nil {
		return err
	}
	c.engine = journey.New(journey.Options{DB: m.DB, Queue: m.Queue, Sender: cour, Scale: cfg.Scale})
	if c.unsubscribe, err = unsubscribe.New(unsubscribe.Options{DB: m.DB, Links: c.links, Contacts: c.engine.Contacts(), Engine: c.engine,
		Queue: m.Queue, Admin: c.admin}); err != nil {
		return err
	}
	if cfg.ResendWebhookSecret != "" {
		if c.mailWebhooks, err = mail.NewWebhooks(mail.WebhookOptions{DB: m.DB, Secret: cfg.ResendWebhookSecret,
			Suppressor: mailSuppressor{contacts: c.engine.Contacts(), engine: c.engine, clock: journey.SystemClock{}},
			Engagement: mailEngagement{contacts: c.engine.Contacts()}}); err != nil {
			return err
		}
	}
	return nil
}

// redemptionRecorder adapts the discount service to the webhook handler,
// which needs only whether recording worked.
type redemptionRecorder struct{ s *discount.Service }

func (r redemptionRecorder) RecordRedemption(ctx context.Context, shopID, orderID int64, codes []string, at time.Time) error {
	_, err := r.s.RecordRedemption(ctx, shopID, orderID, codes, at)
	return err
}
