package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/shop"
)

// Bounds of a usable life, in days (the journey_product_life check).
const (
	minUsableLifeDays = 1
	maxUsableLifeDays = 3650
)

// ProductLifeJSON is one per-product replenishment override: the product
// runs out days after it is ordered, instead of the shop's default
// (replenishment_days in /api/settings). Title is the product's title as
// last seen in an order ("" when never ordered).
type ProductLifeJSON struct {
	ProductID int64  `json:"product_id"`
	Title     string `json:"title"`
	Days      int    `json:"days"`
}

func productLifeJSON(pl journey.ProductLife) ProductLifeJSON {
	return ProductLifeJSON{ProductID: pl.ProductID, Title: pl.Title, Days: pl.Days}
}

// productTarget reads the session shop and :id, a Shopify product id;
// anything else is a 422 on product_id, answered here (ok is then false).
func productTarget(c echo.Context) (s *shop.Shop, id int64, ok bool, err error) {
	if s, err = sessionShop(c); err != nil {
		return nil, 0, false, err
	}
	id, perr := strconv.ParseInt(c.Param("id"), 10, 64)
	if perr != nil || id <= 0 {
		return nil, 0, false, invalid(c, fieldErrors{"product_id": "must be a Shopify product id (a positive whole number)"})
	}
	return s, id, true, nil
}

// listProductLives answers GET /api/replenishment/products?limit=&cursor=:
// the overrides by product id; the cursor is a product id.
func (a *admin) listProductLives(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	rows, err := a.Engine.ProductLives(c.Request().Context(), s.ID, limit+1, cursor)
	if err != nil {
		return err
	}
	items := make([]ProductLifeJSON, len(rows))
	for i, r := range rows {
		items[i] = productLifeJSON(r)
	}
	return c.JSON(http.StatusOK, newPage(items, limit, func(p ProductLifeJSON) int64 { return p.ProductID }))
}

// putProductLife answers PUT /api/replenishment/products/:id {"days": n}.
func (a *admin) putProductLife(c echo.Context) error {
	s, id, ok, err := productTarget(c)
	if !ok {
		return err
	}
	var in struct {
		Days *int `json:"days"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	switch {
	case in.Days == nil:
		return invalid(c, fieldErrors{"days": "is required"})
	case *in.Days < minUsableLifeDays || *in.Days > maxUsableLifeDays:
		return invalid(c, fieldErrors{"days": "must be between 1 and 3650"})
	}
	ctx := c.Request().Context()
	if err := a.Engine.SetProductLife(ctx, s.ID, id, *in.Days); err != nil {
		return err
	}
	pl, _, err := a.Engine.ProductLife(ctx, s.ID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, productLifeJSON(pl))
}

// deleteProductLife answers DELETE /api/replenishment/products/:id: the
// product follows the shop's default again.
func (a *admin) deleteProductLife(c echo.Context) error {
	s, id, ok, err := productTarget(c)
	if !ok {
		return err
	}
	deleted, err := a.Engine.DeleteProductLife(c.Request().Context(), s.ID, id)
	if err != nil {
		return err
	}
	if !deleted {
		return notFound("product override")
	}
	return c.NoContent(http.StatusNoContent)
}
