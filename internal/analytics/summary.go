package analytics

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Summary is the shop's email performance over [From, To). Money is in the
// shop's currency (orders in other currencies are summed as they are).
type Summary struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Sent is the number of emails sent in the period.
	Sent int64 `json:"sent"`
	// Orders attributed to an email (any flow); RecoveredOrders those
	// credited to an abandonment flow (checkout, cart, browse).
	Orders          int64 `json:"orders"`
	RecoveredOrders int64 `json:"recovered_orders"`
	// AbandonmentsReached is the number of abandonment enrollments that got
	// at least one email in the period; RecoveryRate is RecoveredOrders over it.
	AbandonmentsReached int64   `json:"abandonments_reached"`
	RecoveryRate        float64 `json:"recovery_rate"`
	// Revenue attributed (all flows) and recovered (abandonment flows).
	Revenue          float64 `json:"revenue"`
	RecoveredRevenue float64 `json:"recovered_revenue"`
	RevenuePerEmail  float64 `json:"revenue_per_email"`
	// ConversionPerEmail is attributed orders per email sent.
	ConversionPerEmail float64 `json:"conversion_per_email"`
	// Average order value of recovered orders and of every order of the shop.
	AOVRecovered float64 `json:"aov_recovered"`
	AOVOverall   float64 `json:"aov_overall"`
}

// Summary reads the KPIs of a shop over [from, to); every figure is an
// indexed read (sends by (shop_id, sent_at), attributions and orders by
// (shop_id, ordered_at)). Cancelled orders are left out.
func (s *Service) Summary(ctx context.Context, shopID int64, from, to time.Time) (*Summary, error) {
	out := &Summary{From: from, To: to}
	db := s.db.WithContext(ctx)
	var sends []struct {
		Sent    int64
		Reached int64
	}
	if err := db.Raw(`SELECT count(*) AS sent, count(DISTINCT enrollment_id) FILTER (WHERE flow_key IN ?) AS reached
		FROM journey_messages WHERE shop_id = ? AND status = 'sent' AND sent_at >= ? AND sent_at < ?`,
		abandonment, shopID, from, to).Scan(&sends).Error; err != nil {
		return nil, fmt.Errorf("analytics: sends of shop %d: %w", shopID, err)
	}
	var attr []struct {
		Orders, Recovered         int64
		Revenue, RecoveredRevenue float64
	}
	if err := db.Raw(`SELECT count(*) AS orders, count(*) FILTER (WHERE recovered) AS recovered,
		COALESCE(sum(revenue), 0)::float8 AS revenue, COALESCE(sum(revenue) FILTER (WHERE recovered), 0)::float8 AS recovered_revenue
		FROM analytics_attributions WHERE shop_id = ? AND cancelled_at IS NULL AND ordered_at >= ? AND ordered_at < ?`,
		shopID, from, to).Scan(&attr).Error; err != nil {
		return nil, fmt.Errorf("analytics: attributions of shop %d: %w", shopID, err)
	}
	var all []struct{ AOV float64 }
	if err := db.Raw(`SELECT COALESCE(avg(total_price), 0)::float8 AS aov FROM contact_orders
		WHERE shop_id = ? AND cancelled_at IS NULL AND ordered_at >= ? AND ordered_at < ?`, shopID, from, to).Scan(&all).Error; err != nil {
		return nil, fmt.Errorf("analytics: orders of shop %d: %w", shopID, err)
	}
	if len(sends) == 1 {
		out.Sent, out.AbandonmentsReached = sends[0].Sent, sends[0].Reached
	}
	if len(attr) == 1 {
		a := attr[0]
		out.Orders, out.RecoveredOrders, out.Revenue, out.RecoveredRevenue = a.Orders, a.Recovered, round2(a.Revenue), round2(a.RecoveredRevenue)
		if a.Recovered > 0 {
			out.AOVRecovered = round2(a.RecoveredRevenue / float64(a.Recovered))
		}
	}
	if len(all) == 1 {
		out.AOVOverall = round2(all[0].AOV)
	}
	out.RecoveryRate = ratio(out.RecoveredOrders, out.AbandonmentsReached)
	out.ConversionPerEmail = ratio(out.Orders, out.Sent)
	if out.Sent > 0 {
		out.RevenuePerEmail = round2(out.Revenue / float64(out.Sent))
	}
	return out, nil
}

// StepStats is one flow step's performance over a period.
type StepStats struct {
	FlowKey    string  `json:"flow"`
	StepKey    string  `json:"step"`
	Sent       int64   `json:"sent"`
	Orders     int64   `json:"orders"`
	Revenue    float64 `json:"revenue"`
	Conversion float64 `json:"conversion"`
}

// Steps reads per-step sends, attributed orders, revenue and conversion
// over [from, to), ordered by flow and step.
func (s *Service) Steps(ctx context.Context, shopID int64, from, to time.Time) ([]StepStats, error) {
	var out []StepStats
	err := s.db.WithContext(ctx).Raw(`
WITH sent AS (
	SELECT flow_key, step_key, count(*) AS sent FROM journey_messages
	WHERE shop_id = ? AND status = 'sent' AND sent_at >= ? AND sent_at < ? GROUP BY 1, 2
), won AS (
	SELECT flow_key, step_key, count(*) AS orders, sum(revenue)::float8 AS revenue FROM analytics_attributions
	WHERE shop_id = ? AND cancelled_at IS NULL AND ordered_at >= ? AND ordered_at < ? GROUP BY 1, 2
)
SELECT COALESCE(sent.flow_key, won.flow_key) AS flow_key, COALESCE(sent.step_key, won.step_key) AS step_key,
	COALESCE(sent.sent, 0) AS sent, COALESCE(won.orders, 0) AS orders, COALESCE(won.revenue, 0) AS revenue
FROM sent FULL JOIN won ON won.flow_key = sent.flow_key AND won.step_key = sent.step_key
ORDER BY 1, 2`, shopID, from, to, shopID, from, to).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("analytics: steps of shop %d: %w", shopID, err)
	}
	for i := range out {
		out[i].Revenue = round2(out[i].Revenue)
		out[i].Conversion = ratio(out[i].Orders, out[i].Sent)
	}
	return out, nil
}

func ratio(n, d int64) float64 {
	if d == 0 {
		return 0
	}
	return math.Round(float64(n)/float64(d)*10000) / 10000
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }
