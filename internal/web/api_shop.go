package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// ShopRoutes registers the shop endpoints on the /api group (behind
// RequireSession).
func ShopRoutes(api *echo.Group) {
	api.GET("/shop", GetShop)
}

// ShopResponse is the JSON of GET /api/shop.
type ShopResponse struct {
	Domain      string    `json:"domain"`
	Name        string    `json:"name"`
	Email       string    `json:"email"`
	Timezone    string    `json:"timezone"`
	Currency    string    `json:"currency"`
	Scopes      []string  `json:"scopes"`
	InstalledAt time.Time `json:"installed_at"`
}

// GetShop answers GET /api/shop: the shop of the session token.
func GetShop(c echo.Context) error {
	s := ShopFrom(c)
	if s == nil {
		return echo.NewHTTPError(http.StatusUnauthorized, "invalid session")
	}
	scopes := []string(s.Scopes)
	if scopes == nil {
		scopes = []string{}
	}
	return c.JSON(http.StatusOK, ShopResponse{
		Domain: s.Domain, Name: s.Name, Email: s.Email, Timezone: s.Timezone, Currency: s.Currency,
		Scopes: scopes, InstalledAt: s.InstalledAt.UTC(),
	})
}
