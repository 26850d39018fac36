package web

import (
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// MetricsJSON is GET /api/metrics. Amounts are in the shop's currency.
type MetricsJSON struct {
	Days               int             `json:"days"`
	Currency           string          `json:"currency"`
	Sent               int64           `json:"sent"`
	RecoveredOrders    int64           `json:"recovered_orders"`
	RecoveryRate       float64         `json:"recovery_rate"`
	Revenue            float64         `json:"revenue"`
	RevenuePerEmail    float64         `json:"revenue_per_email"`
	ConversionPerEmail float64         `json:"conversion_per_email"`
	AOVRecovered       float64         `json:"aov_recovered"`
	AOVOverall         float64         `json:"aov_overall"`
	Series             []DayMetricJSON `json:"series"`
}

// DayMetricJSON is one day of the series, in the shop's time zone.
type DayMetricJSON struct {
	Day     string  `json:"day"`
	Sent    int64   `json:"sent"`
	Revenue float64 `json:"revenue"`
}

// metrics answers GET /api/metrics?days=7|30|90 (30 when absent): the
// last days days, today included, cut in the shop's time zone. The figures
// are analytics' (orders attributed to the email whose code was used, else
// the last one clicked), read from its hourly roll-up.
func (a *admin) metrics(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	days := 30
	switch c.QueryParam("days") {
	case "", "30":
	case "7":
		days = 7
	case "90":
		days = 90
	default:
		return invalid(c, fieldErrors{"days": "must be 7, 30 or 90"})
	}
	if a.Analytics == nil {
		return errors.New("web: metrics: no analytics service")
	}
	m, err := a.Analytics.Home(c.Request().Context(), s.ID, days, time.Now())
	if err != nil {
		return err
	}
	out := MetricsJSON{Days: days, Currency: s.Currency, Sent: m.Sent, RecoveredOrders: m.RecoveredOrders,
		RecoveryRate: round(m.RecoveryRate, 4), Revenue: round(m.Revenue, 2), RevenuePerEmail: round(m.RevenuePerEmail, 2),
		ConversionPerEmail: round(m.ConversionPerEmail, 4), AOVRecovered: round(m.AOVRecovered, 2), AOVOverall: round(m.AOVOverall, 2),
		Series: make([]DayMetricJSON, len(m.Series))}
	for i, d := range m.Series {
		out.Series[i] = DayMetricJSON{Day: d.Day, Sent: d.Sent, Revenue: round(d.Revenue, 2)}
	}
	return c.JSON(http.StatusOK, out)
}

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}
