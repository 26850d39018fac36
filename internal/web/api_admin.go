package web

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/analytics"
	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/discount"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/mail"
	"github.com/relance/relance/internal/shop"
)

// AdminDeps are what the admin API needs. Outbox is nil when emails go
// through Resend (the outbox routes then answer 404).
type AdminDeps struct {
	DB       *gorm.DB
	Flows    *flow.Store
	Engine   *journey.Engine
	Contacts *contact.Store
	// Sender delivers test emails (the same mail.Sender the courier uses).
	Sender mail.Sender
	Outbox *mail.Outbox
	// AppURL is SHOPIFY_APP_URL (a test email's stand-in unsubscribe
	// link); FromEmail is MAIL_FROM.
	AppURL    *url.URL
	FromEmail string
	// Domains registers shops' sending domains; nil: derived from Sender
	// (through Resend when Sender is the Resend sender, else read-only).
	Domains *mail.Domains
	// Analytics reads the Home page's KPIs and per-step figures.
	Analytics *analytics.Service
	// Discounts keeps the merchant's tier table of each offer step.
	Discounts *discount.Service
}

// admin holds the handlers of the admin API.
type admin struct{ AdminDeps }

// AdminRoutes registers the embedded admin's JSON API on the /api group
// (behind RequireSession). Every handler scopes every query to the shop of
// the session token. GET /api/openapi.yaml (OpenAPI) is registered apart,
// without authentication.
func AdminRoutes(api *echo.Group, deps AdminDeps) {
	a := &admin{deps}
	api.GET("/settings", a.getSettings)
	api.PUT("/settings", a.putSettings)
	api.GET("/sending-domain", a.getSendingDomain)
	api.POST("/sending-domain", a.addSendingDomain)
	api.POST("/sending-domain/verify", a.verifySendingDomain)

	api.GET("/flows", a.listFlows)
	api.GET("/flows/:key", a.getFlow)
	api.POST("/flows/:key/enabled", a.setFlowEnabled)
	api.PUT("/flows/:key/draft", a.saveDraft)
	api.POST("/flows/:key/publish", a.publish)
	api.GET("/flows/:key/versions", a.versions)
	api.GET("/flows/:key/steps/:step/discount", a.getDiscount)
	api.PUT("/flows/:key/steps/:step/discount", a.putDiscount)
	api.DELETE("/flows/:key/steps/:step/discount", a.deleteDiscount)

	api.GET("/replenishment/products", a.listProductLives)
	api.PUT("/replenishment/products/:id", a.putProductLife)
	api.DELETE("/replenishment/products/:id", a.deleteProductLife)

	api.POST("/preview", a.preview)
	api.POST("/test-email", a.testEmail)

	api.GET("/activity", a.activity)
	api.GET("/contacts/:id/timeline", a.timeline)

	api.GET("/outbox", a.listOutbox)
	api.GET("/outbox/:id", a.getOutbox)

	api.GET("/metrics", a.metrics)
}

//go:embed openapi.yaml
var openAPISpec []byte

// OpenAPI serves the admin API's OpenAPI 3.1 description (GET
// /api/openapi.yaml, no authentication: it holds no shop data).
func OpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", openAPISpec)
}

// fieldErrors maps a field path ("steps.1.body") to what is wrong with it.
type fieldErrors map[string]string

// apiError is the JSON of every error the admin API answers itself.
type apiError struct {
	Error  string      `json:"error"`
	Fields fieldErrors `json:"fields,omitempty"`
}

// invalid answers 422 with field-level errors.
func invalid(c echo.Context, fields fieldErrors) error {
	return c.JSON(http.StatusUnprocessableEntity, apiError{Error: "validation failed", Fields: fields})
}

// sessionShop is the shop of the verified session token.
func sessionShop(c echo.Context) (*shop.Shop, error) {
	s := ShopFrom(c)
	if s == nil {
		return nil, echo.NewHTTPError(http.StatusUnauthorized, "invalid session")
	}
	return s, nil
}

// bind decodes a JSON body strictly (unknown fields refused) and caps it.
func bind(c echo.Context, v any) error {
	r := http.MaxBytesReader(c.Response(), c.Request().Body, 1<<20)
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "request body too large")
		}
		return echo.NewHTTPError(http.StatusBadRequest, "malformed JSON: "+err.Error())
	}
	return nil
}

const (
	defaultPage = 50
	maxPage     = 200
)

// pageParams reads ?limit= and ?cursor= (an opaque id; empty for the first
// page).
func pageParams(c echo.Context) (limit int, cursor int64, err error) {
	limit = defaultPage
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			return 0, 0, echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("limit must be between 1 and %d", maxPage))
		}
		limit = n
	}
	if v := c.QueryParam("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, echo.NewHTTPError(http.StatusBadRequest, "invalid cursor")
		}
		cursor = n
	}
	return limit, cursor, nil
}

// page is the JSON of every list: the items and the cursor of the next
// page (null on the last).
type page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// newPage builds a page of items fetched with limit+1 rows: the extra row
// only says there is a next page, whose cursor is the id of the last item
// kept.
func newPage[T any](items []T, limit int, id func(T) int64) page[T] {
	p := page[T]{Items: items}
	if len(items) > limit {
		p.Items = items[:limit]
		next := strconv.FormatInt(id(p.Items[limit-1]), 10)
		p.NextCursor = &next
	}
	if p.Items == nil {
		p.Items = []T{}
	}
	return p
}

func notFound(what string) error { return echo.NewHTTPError(http.StatusNotFound, what+" not found") }

// noStore keeps shopper data out of browser and proxy caches.
func noStore(c echo.Context) {
	c.Response().Header().Set("Cache-Control", "no-store")
}
