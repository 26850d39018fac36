package analytics

import (
	"context"
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
	// AbandonmentsReached is the number of abandonment enrollments whose
	// first email was sent in the period (each counts once, whatever the
	// period); RecoveryRate is RecoveredOrders over it.
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

// Summary reads the KPIs of a shop over the hours starting in [from, to)
// (the figures are kept per UTC hour: bounds inside an hour take it whole
// when it starts at or after from, and before to). Cancelled orders are
// left out. See sums for the cost.
func (s *Service) Summary(ctx context.Context, shopID int64, from, to time.Time) (*Summary, error) {
	rows, err := s.sums(ctx, shopID, from, to, byNothing)
	if err != nil {
		return nil, err
	}
	var f figures
	for _, r := range rows {
		f.add(r)
	}
	return summarize(f, from, to), nil
}

// summarize derives the KPIs from a period's sums.
func summarize(f figures, from, to time.Time) *Summary {
	out := &Summary{From: from, To: to, Sent: f.Sent, Orders: f.Orders, RecoveredOrders: f.RecoveredOrders,
		AbandonmentsReached: f.Reached, Revenue: round2(f.Revenue), RecoveredRevenue: round2(f.RecoveredRevenue)}
	if f.RecoveredOrders > 0 {
		out.AOVRecovered = round2(f.RecoveredRevenue / float64(f.RecoveredOrders))
	}
	if f.ShopOrders > 0 {
		out.AOVOverall = round2(f.ShopRevenue / float64(f.ShopOrders))
	}
	out.RecoveryRate = ratio(out.RecoveredOrders, out.AbandonmentsReached)
	out.ConversionPerEmail = ratio(out.Orders, out.Sent)
	if out.Sent > 0 {
		out.RevenuePerEmail = round2(out.Revenue / float64(out.Sent))
	}
	return out
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
// over the hours starting in [from, to), ordered by flow and step.
func (s *Service) Steps(ctx context.Context, shopID int64, from, to time.Time) ([]StepStats, error) {
	rows, err := s.sums(ctx, shopID, from, to, byStep)
	if err != nil {
		return nil, err
	}
	var out []StepStats
	for _, r := range rows {
		// Shop-wide rows (orders of the shop) and skips belong to no step;
		// a step whose figures cancelled out (sent, then redacted) is none.
		if r.FlowKey == "" || r.StepKey == "" || (r.Sent == 0 && r.Orders == 0) {
			continue
		}
		out = append(out, StepStats{FlowKey: r.FlowKey, StepKey: r.StepKey, Sent: r.Sent, Orders: r.Orders,
			Revenue: round2(r.Revenue), Conversion: ratio(r.Orders, r.Sent)})
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
