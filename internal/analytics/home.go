package analytics

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/relance/relance/internal/flow"
)

// Home is what the admin's Home page shows for its last Days days.
type Home struct {
	Summary
	Days int
	// Zone is the shop's time zone the days are cut in.
	Zone string
	// Series has one entry per day of the period, oldest first.
	Series []Day
}

// Day is one day of the Home series, in the shop's time zone.
type Day struct {
	Day     string // YYYY-MM-DD
	Sent    int64
	Revenue float64 // attributed to an email, any flow
}

// Home reads the Home page's figures of the last days days (today, in the
// shop's time zone, and the days-1 before it), with their daily series. A
// day is the UTC hours starting in it: exact in zones a whole number of
// hours from UTC; in the others (India, Nepal…) days are cut at the UTC hour
// that starts within the local hour after midnight.
func (s *Service) Home(ctx context.Context, shopID int64, days int, now time.Time) (*Home, error) {
	if days < 1 || days > 366 {
		return nil, fmt.Errorf("analytics: home of shop %d over %d days: must be 1 to 366", shopID, days)
	}
	loc, zone, err := s.shopLocation(ctx, shopID)
	if err != nil {
		return nil, err
	}
	local := now.In(loc)
	// bounds[i] is the local midnight starting day i; bounds[days] ends the
	// period. time.Date normalises the day, and DST days have 23 or 25 hours.
	bounds := make([]time.Time, days+1)
	for i := range bounds {
		bounds[i] = time.Date(local.Year(), local.Month(), local.Day()-(days-1)+i, 0, 0, 0, 0, loc)
	}
	rows, err := s.daily(ctx, shopID, bounds)
	if err != nil {
		return nil, err
	}
	h := &Home{Days: days, Zone: zone, Series: make([]Day, days)}
	for i := range h.Series {
		h.Series[i].Day = bounds[i].Format(time.DateOnly)
	}
	var total figures
	for _, r := range rows {
		total.add(r)
		if r.Bucket >= 1 && r.Bucket <= days {
			h.Series[r.Bucket-1].Sent = r.Sent
			h.Series[r.Bucket-1].Revenue = round2(r.Revenue)
		}
	}
	h.Summary = *summarize(total, bounds[0], bounds[days])
	return h, nil
}

// daily sums a shop's figures per day, days being [bounds[i], bounds[i+1]):
// the per-shop hourly rows and pending deltas of the period, bucketed in
// PostgreSQL (width_bucket) so a 90-day period returns 90 rows, not 2,160.
// One statement: see sums for why.
func (s *Service) daily(ctx context.Context, shopID int64, bounds []time.Time) ([]figures, error) {
	// An array literal: gorm would expand a slice argument into a list.
	lit := make([]string, len(bounds))
	for i, b := range bounds {
		lit[i] = `"` + b.UTC().Format(time.RFC3339Nano) + `"`
	}
	var out []figures
	err := s.db.WithContext(ctx).Raw(`
SELECT width_bucket(hour, ?::timestamptz[]) AS bucket,
	COALESCE(sum(sent), 0)::int8 AS sent, COALESCE(sum(skipped), 0)::int8 AS skipped,
	COALESCE(sum(reached), 0)::int8 AS reached, COALESCE(sum(orders), 0)::int8 AS orders,
	COALESCE(sum(revenue), 0)::float8 AS revenue, COALESCE(sum(recovered_orders), 0)::int8 AS recovered_orders,
	COALESCE(sum(recovered_revenue), 0)::float8 AS recovered_revenue, COALESCE(sum(shop_orders), 0)::int8 AS shop_orders,
	COALESCE(sum(shop_revenue), 0)::float8 AS shop_revenue
FROM (
	SELECT hour, sent, skipped, reached, orders, revenue, recovered_orders, recovered_revenue, shop_orders, shop_revenue
	FROM metrics_shop_hourly WHERE shop_id = ? AND hour >= ? AND hour < ?
	UNION ALL
	SELECT hour, sent, skipped, reached, orders, revenue, recovered_orders, recovered_revenue, shop_orders, shop_revenue
	FROM metrics_deltas WHERE shop_id = ? AND hour >= ? AND hour < ?
) r
GROUP BY 1 ORDER BY 1`, "{"+strings.Join(lit, ",")+"}",
		shopID, bounds[0], bounds[len(bounds)-1], shopID, bounds[0], bounds[len(bounds)-1]).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("analytics: daily metrics of shop %d: %w", shopID, err)
	}
	return out, nil
}

// FlowActivity is a flow's emails sent and steps skipped over a period.
type FlowActivity struct {
	Sent    int64
	Skipped int64
}

// FlowActivity returns, for every flow of the shop with any, the emails
// sent and steps skipped in the hours starting in [from, to) (for the
// admin's list of sequences).
func (s *Service) FlowActivity(ctx context.Context, shopID int64, from, to time.Time) (map[flow.Key]FlowActivity, error) {
	rows, err := s.sums(ctx, shopID, from, to, byFlow)
	if err != nil {
		return nil, err
	}
	out := map[flow.Key]FlowActivity{}
	for _, r := range rows {
		if r.FlowKey == "" || (r.Sent == 0 && r.Skipped == 0) {
			continue
		}
		out[flow.Key(r.FlowKey)] = FlowActivity{Sent: r.Sent, Skipped: r.Skipped}
	}
	return out, nil
}

// shopZoneSQL is the shop's effective time zone, as the engine reads it:
// the merchant's choice in the admin (shop_settings), else Shopify's.
const shopZoneSQL = `SELECT coalesce(nullif(ss.timezone, ''), s.timezone) FROM shops s
	LEFT JOIN shop_settings ss ON ss.shop_id = s.id WHERE s.id = ?`

// zoneTTL is how long a shop's time zone is remembered: the Home page
// saves a round trip per request; a zone changed in Settings applies
// within it.
const zoneTTL = 10 * time.Second

type shopZone struct {
	loc *time.Location
	at  time.Time
}

// shopLocation returns the shop's time zone (UTC when unknown or invalid).
func (s *Service) shopLocation(ctx context.Context, shopID int64) (*time.Location, string, error) {
	if z, ok := s.shopZones.Load(shopID); ok && time.Since(z.(shopZone).at) < zoneTTL {
		return z.(shopZone).loc, z.(shopZone).loc.String(), nil
	}
	var zones []string
	if err := s.db.WithContext(ctx).Raw(shopZoneSQL, shopID).Scan(&zones).Error; err != nil {
		return nil, "", fmt.Errorf("analytics: time zone of shop %d: %w", shopID, err)
	}
	loc := time.UTC
	if len(zones) > 0 && zones[0] != "" {
		if l, ok := s.zones.Load(zones[0]); ok {
			loc = l.(*time.Location)
		} else {
			l, err := time.LoadLocation(zones[0])
			if err != nil {
				slog.Warn("analytics: unknown shop time zone, using UTC", "shop", shopID, "zone", zones[0])
				l = time.UTC
			}
			s.zones.Store(zones[0], l)
			loc = l
		}
	}
	s.shopZones.Store(shopID, shopZone{loc: loc, at: time.Now()})
	return loc, loc.String(), nil
}
