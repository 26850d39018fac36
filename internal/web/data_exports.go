package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/relance/relance/internal/shop"
)

// DataExports serves the answers to customers/data_request to the merchant,
// who passes them on to the customer. Every query is scoped to the session's
// shop.
type DataExports struct {
	Privacy *shop.Privacy
}

// DataExportRoutes registers the export endpoints on the /api group (behind
// RequireSession).
func DataExportRoutes(api *echo.Group, p *shop.Privacy) {
	h := &DataExports{Privacy: p}
	api.GET("/data-exports", h.List)
	api.GET("/data-exports/:id", h.Get)
}

// defaultExportPage is the page size when the client names none.
const defaultExportPage = 20

// DataExportList is the JSON of GET /api/data-exports. NextBefore, when
// set, is the `before` query value of the next (older) page.
type DataExportList struct {
	Exports    []shop.DataExport `json:"exports"`
	NextBefore *int64            `json:"next_before"`
}

// List answers GET /api/data-exports?limit=&before=: the shop's exports,
// newest first, without their content.
func (h *DataExports) List(c echo.Context) error {
	s := ShopFrom(c)
	if s == nil {
		return echo.NewHTTPError(http.StatusUnauthorized, "invalid session")
	}
	limit, err := exportQueryInt(c, "limit", defaultExportPage)
	if err != nil || limit < 1 || limit > shop.MaxExportPage {
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("limit must be between 1 and %d", shop.MaxExportPage))
	}
	before, err := exportQueryInt(c, "before", 0)
	if err != nil || before < 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "before must be an export id")
	}
	exports, next, err := h.Privacy.ListExports(c.Request().Context(), s.Domain, int(limit), before)
	if err != nil {
		return fmt.Errorf("web: list data exports: %w", err)
	}
	out := DataExportList{Exports: exports}
	if next > 0 {
		out.NextBefore = &next
	}
	// Personal data: never kept by a browser or proxy cache.
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

// Get answers GET /api/data-exports/:id with the export document. Another
// shop's export is a 404, indistinguishable from a missing one.
func (h *DataExports) Get(c echo.Context) error {
	s := ShopFrom(c)
	if s == nil {
		return echo.NewHTTPError(http.StatusUnauthorized, "invalid session")
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return echo.NewHTTPError(http.StatusNotFound, "data export not found")
	}
	e, err := h.Privacy.GetExport(c.Request().Context(), s.Domain, id)
	if errors.Is(err, shop.ErrExportNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "data export not found")
	}
	if err != nil {
		return fmt.Errorf("web: get data export: %w", err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set(echo.HeaderContentDisposition,
		fmt.Sprintf(`attachment; filename="data-request-%d.json"`, e.DataRequestID))
	return c.JSONBlob(http.StatusOK, e.Content)
}

func exportQueryInt(c echo.Context, name string, def int64) (int64, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	return strconv.ParseInt(v, 10, 64)
}
