package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
)

// EmbeddedApp serves the admin SPA for GET / and its client-side paths.
//
// Shopify loads the app document with ?shop=..&host=..&id_token=..: the id
// token is verified, and when the shop has no usable offline token (first
// load after a managed install, after an uninstall, or once the refresh
// token died) it is exchanged for one (token exchange) and the install is
// recorded. The response may be framed only by that shop's admin.
func (a *Auth) EmbeddedApp(spa http.Handler) echo.HandlerFunc {
	return func(c echo.Context) error {
		q := c.QueryParams()
		domain := ""
		if raw := q.Get("shop"); raw != "" {
			if d, err := shopify.NormalizeShopDomain(raw); err == nil {
				domain = d
			}
		}
		setFrameAncestors(c, domain)
		if idToken := q.Get("id_token"); idToken != "" && domain != "" {
			claims, err := a.verifier().Verify(idToken)
			if err != nil {
				return a.rejectSession(c, "id_token invalid", err)
			}
			if claims.Shop != domain {
				return a.rejectSession(c, "id_token is for another shop", nil)
			}
			if _, err := a.ensureInstalled(c.Request().Context(), domain, idToken); err != nil {
				if errors.Is(err, shopify.ErrInvalidGrant) {
					return a.rejectSession(c, "token exchange refused", err)
				}
				return err
			}
		}
		spa.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}

// ensureInstalled exchanges a verified session token for an offline token
// unless the shop already holds a usable one.
func (a *Auth) ensureInstalled(ctx context.Context, domain, idToken string) (*shop.Shop, error) {
	now := a.now()
	return a.install(ctx, domain, func(ctx context.Context) (*shopify.Token, error) {
		tok, err := a.OAuth.ExchangeSessionToken(ctx, domain, idToken)
		if err != nil {
			return nil, fmt.Errorf("token exchange: %w", err)
		}
		if missing := shop.Scopes(tok.Scopes).Missing(a.Scopes); len(missing) > 0 {
			// Managed install grants what the app's TOML declares; a gap means
			// the deployed config is behind this build. Work with what we have.
			a.log().Warn("granted scopes lack required ones", "shop", domain, "missing", missing)
		}
		return tok, nil
	}, func(s *shop.Shop) bool { return s.HasUsableToken(now) })
}

// DevSession answers GET /dev/session-token?shop=<dev shop> with a freshly
// signed session token, as App Bridge would mint inside the admin, so the
// admin runs at http://localhost:8080 without Shopify around it. It also
// installs the shop through token exchange against the dev store when
// needed. Register it only in `relance dev`.
func (a *Auth) DevSession(c echo.Context) error {
	domain, err := shopify.NormalizeShopDomain(c.QueryParam("shop"))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "invalid shop")
	}
	sid, err := randomHex(16)
	if err != nil {
		return err
	}
	jti, err := randomHex(16)
	if err != nil {
		return err
	}
	now := a.now()
	tok := shopify.SignSessionToken(a.Secrets.Current, shopify.SessionClaims{
		Shop:      domain,
		UserID:    "1",
		SessionID: sid,
		Issuer:    "https://" + domain + "/admin",
		Dest:      "https://" + domain,
		Audience:  a.APIKey,
		ExpiresAt: now.Add(time.Minute),
		NotBefore: now,
		IssuedAt:  now,
		ID:        jti,
	})
	if _, err := a.ensureInstalled(c.Request().Context(), domain, tok); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]string{"token": tok})
}
