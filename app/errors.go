package main

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
)

// httpErrorHandler is the one place errors become HTTP responses. Handlers
// return echo.HTTPError for client mistakes; anything else is a 500 whose
// detail is logged, never shown.
func httpErrorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := http.StatusInternalServerError, "internal error"
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
		if s, ok := he.Message.(string); ok {
			msg = s
		} else {
			msg = http.StatusText(code)
		}
	}
	req := c.Request()
	if code >= 500 {
		slog.Error("request failed", "method", req.Method, "path", req.URL.Path, "status", code, "err", err)
	} else {
		slog.Warn("request rejected", "method", req.Method, "path", req.URL.Path, "status", code, "reason", msg)
	}
	if req.Method == http.MethodHead {
		_ = c.NoContent(code)
		return
	}
	_ = c.JSON(code, map[string]string{"error": msg})
}
