package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
)

// RetryInvalidSessionHeader on a 401 tells App Bridge to fetch a fresh
// session token and retry the request once.
const RetryInvalidSessionHeader = "X-Shopify-Retry-Invalid-Session-Request"

const shopContextKey = "relance.shop"

func (a *Auth) verifier() *shopify.SessionVerifier {
	return &shopify.SessionVerifier{APIKey: a.APIKey, Secrets: a.Secrets, Leeway: sessionLeeway, Now: a.now}
}

// RequireSession authenticates /api requests by their App Bridge session
// token (Authorization: Bearer <jwt>) and scopes them to the token's shop,
// which must be installed. Handlers read it with ShopFrom; nothing under
// /api may take a shop from anywhere else.
func (a *Auth) RequireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		raw, ok := bearer(c.Request().Header.Get(echo.HeaderAuthorization))
		if !ok {
			return a.rejectSession(c, "no bearer token", nil)
		}
		claims, err := a.verifier().Verify(raw)
		if err != nil {
			return a.rejectSession(c, "session token invalid", err)
		}
		s, err := a.Store.Installed(c.Request().Context(), claims.Shop)
		if errors.Is(err, shop.ErrNotInstalled) {
			return a.rejectSession(c, "shop not installed", err)
		}
		if err != nil {
			return err
		}
		c.Set(shopContextKey, s)
		return next(c)
	}
}

// rejectSession answers 401 with the App Bridge retry header; the reason is
// logged, the token never is.
func (a *Auth) rejectSession(c echo.Context, reason string, err error) error {
	c.Response().Header().Set(RetryInvalidSessionHeader, "1")
	args := []any{"path", c.Request().URL.Path, "reason", reason}
	if err != nil {
		args = append(args, "err", err)
	}
	a.log().Warn("session rejected", args...)
	return echo.NewHTTPError(http.StatusUnauthorized, "invalid session")
}

func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// ShopFrom returns the shop RequireSession authenticated; nil outside /api.
func ShopFrom(c echo.Context) *shop.Shop {
	s, _ := c.Get(shopContextKey).(*shop.Shop)
	return s
}
