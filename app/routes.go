package main

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/relance/relance/frontend"
	"github.com/relance/relance/internal/quiz"
	"github.com/relance/relance/internal/web"
)

// routes is the whole HTTP surface of Relance, grouped by who calls it and
// how they authenticate (DESIGN.md §4).
func (m *Main) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = httpErrorHandler
	e.Use(middleware.Recover())

	// Public: load balancer and monitoring.
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	e.GET("/readyz", m.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.Handler()))

	// Shopify: OAuth (query HMAC + state nonce) and webhooks (body HMAC). The
	// topic header routes a delivery, so every subscription path lands on the
	// same handler; fixed routes such as /webhooks/resend win over :group.
	m.c.auth.Routes(e.Group("/auth"))
	e.POST("/webhooks/shopify", m.c.ingest.Handle)
	e.POST("/webhooks/:group", m.c.ingest.Handle)

	// Resend delivery webhooks (Svix signature). Without a secret nothing
	// can be verified, so the route does not exist.
	if m.c.mailWebhooks != nil {
		e.POST("/webhooks/resend", m.c.mailWebhooks.Handle)
	}

	// Shoppers: unsubscribe page, RFC 8058 one-click, "not interested"
	// (signed token).
	m.c.unsubscribe.Routes(e)

	// Storefront through the app proxy (/apps/relance/* → /proxy/*): every
	// route verifies the app proxy signature.
	quiz.Routes(e.Group("/proxy"), m.c.quiz)

	// Embedded admin JSON API: App Bridge session token → one shop. Its
	// description is public (no shop data in it).
	e.GET("/api/openapi.yaml", web.OpenAPI)
	api := e.Group("/api", m.c.auth.RequireSession)
	web.ShopRoutes(api)
	web.DataExportRoutes(api, m.c.privacy)
	web.QuizRoutes(api, m.c.quiz)
	web.AdminRoutes(api, web.AdminDeps{DB: m.DB, Flows: m.c.engine.Flows(), Engine: m.c.engine,
		Contacts: m.c.engine.Contacts(), Sender: m.c.mailSender, Outbox: m.c.outbox,
		AppURL: m.Config.ShopifyAppURL, FromEmail: m.Config.MailFrom,
		Analytics: m.c.analytics, Discounts: m.c.discounts})

	// Storefront: the web pixel's event batches (public, rate-limited) and
	// tracked email clicks (signed token; never an open redirect).
	m.c.pixel.Routes(e)
	m.c.clicks.Routes(e)

	if m.DevMode {
		e.GET("/dev/session-token", m.c.auth.DevSession)
	}

	// The admin SPA, last so every route above wins over its fallback.
	spa := m.c.auth.EmbeddedApp(web.SPA(frontend.Dist, m.Config.ShopifyAPIKey))
	e.GET("/", spa)
	e.GET("/*", spa)
	return e
}

// readyz answers 200 only when PostgreSQL and Redis both answer.
func (m *Main) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	status := map[string]string{"postgres": "ok", "redis": "ok"}
	code := http.StatusOK
	if sqlDB, err := m.DB.DB(); err != nil || sqlDB.PingContext(ctx) != nil {
		status["postgres"], code = "unavailable", http.StatusServiceUnavailable
	}
	if m.ping.Ping(ctx).Err() != nil {
		status["redis"], code = "unavailable", http.StatusServiceUnavailable
	}
	return c.JSON(code, status)
}
