package analytics

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// The KPIs are pre-aggregated (migrations/0051_metrics_rollup.sql): triggers
// on journey_messages, journey_decisions, analytics_attributions and
// contact_orders append signed changes to metrics_deltas in the writer's
// transaction; RollUp folds them into metrics_hourly; reads add the rows of
// both, so they cost what the period's hours cost, not what its messages do.

// rollUpBatch bounds one fold's transaction, so the rows of metrics_hourly it
// updates stay locked for milliseconds.
const rollUpBatch = 5000

// RollUpInterval is how often the worker should call RollUp. Figures do not
// wait for it (reads add pending deltas); it only keeps their number small.
const RollUpInterval = 10 * time.Second

// RollUp folds pending deltas into metrics_hourly and metrics_shop_hourly,
// a batch per transaction, until none is left, and returns how many it
// folded. A batch deletes its deltas and adds them to the hourly rows in one
// statement, so a delta is counted once whatever fails. One fold runs at a
// time across workers (a transaction-level advisory lock; a caller that
// finds it taken returns 0 at once: the holder drains what is pending).
// Writers only insert deltas: a fold never blocks them, nor they it.
func (s *Service) RollUp(ctx context.Context) (int64, error) {
	var total int64
	for {
		n, err := s.rollUpOnce(ctx, rollUpBatch)
		total += n
		if err != nil {
			return total, err
		}
		if n < rollUpBatch {
			return total, nil
		}
	}
}

// rollUpLock is the advisory lock key of the fold (0051: this migration).
const rollUpLock = 5_100_051

func (s *Service) rollUpOnce(ctx context.Context, limit int) (int64, error) {
	var folded int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var locked bool
		if err := tx.Raw(`SELECT pg_try_advisory_xact_lock(?)`, rollUpLock).Scan(&locked).Error; err != nil {
			return err
		}
		if !locked {
			return nil
		}
		return tx.Raw(`
WITH batch AS (
	SELECT id FROM metrics_deltas ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED
), d AS (
	DELETE FROM metrics_deltas x USING batch b WHERE x.id = b.id
	RETURNING x.shop_id, x.hour, x.flow_key, x.step_key, x.sent, x.skipped, x.reached, x.orders, x.revenue,
		x.recovered_orders, x.recovered_revenue, x.shop_orders, x.shop_revenue
), live AS (
	-- Deltas of an erased shop are dropped with the batch.
	SELECT * FROM d WHERE EXISTS (SELECT 1 FROM shops s WHERE s.id = d.shop_id)
), keyed AS (
	INSERT INTO metrics_hourly AS m (shop_id, hour, flow_key, step_key, sent, skipped, reached, orders, revenue,
		recovered_orders, recovered_revenue, shop_orders, shop_revenue)
	SELECT shop_id, hour, flow_key, step_key, sum(sent), sum(skipped), sum(reached), sum(orders), sum(revenue),
		sum(recovered_orders), sum(recovered_revenue), sum(shop_orders), sum(shop_revenue)
	FROM live
	GROUP BY shop_id, hour, flow_key, step_key
	ORDER BY shop_id, hour, flow_key, step_key
	ON CONFLICT (shop_id, hour, flow_key, step_key) DO UPDATE SET
		sent              = m.sent + EXCLUDED.sent,
		skipped           = m.skipped + EXCLUDED.skipped,
		reached           = m.reached + EXCLUDED.reached,
		orders            = m.orders + EXCLUDED.orders,
		revenue           = m.revenue + EXCLUDED.revenue,
		recovered_orders  = m.recovered_orders + EXCLUDED.recovered_orders,
		recovered_revenue = m.recovered_revenue + EXCLUDED.recovered_revenue,
		shop_orders       = m.shop_orders + EXCLUDED.shop_orders,
		shop_revenue      = m.shop_revenue + EXCLUDED.shop_revenue
), totals AS (
	INSERT INTO metrics_shop_hourly AS m (shop_id, hour, sent, skipped, reached, orders, revenue,
		recovered_orders, recovered_revenue, shop_orders, shop_revenue)
	SELECT shop_id, hour, sum(sent), sum(skipped), sum(reached), sum(orders), sum(revenue),
		sum(recovered_orders), sum(recovered_revenue), sum(shop_orders), sum(shop_revenue)
	FROM live
	GROUP BY shop_id, hour
	ORDER BY shop_id, hour
	ON CONFLICT (shop_id, hour) DO UPDATE SET
		sent              = m.sent + EXCLUDED.sent,
		skipped           = m.skipped + EXCLUDED.skipped,
		reached           = m.reached + EXCLUDED.reached,
		orders            = m.orders + EXCLUDED.orders,
		revenue           = m.revenue + EXCLUDED.revenue,
		recovered_orders  = m.recovered_orders + EXCLUDED.recovered_orders,
		recovered_revenue = m.recovered_revenue + EXCLUDED.recovered_revenue,
		shop_orders       = m.shop_orders + EXCLUDED.shop_orders,
		shop_revenue      = m.shop_revenue + EXCLUDED.shop_revenue
)
SELECT count(*) FROM d`, limit).Scan(&folded).Error
	})
	if err != nil {
		return 0, fmt.Errorf("analytics: roll up metrics deltas: %w", err)
	}
	return folded, nil
}

// figures are sums of metrics rows over some grouping; money as float8.
type figures struct {
	Bucket           int // daily: 1 + the day's index
	FlowKey          string
	StepKey          string
	Sent             int64
	Skipped          int64
	Reached          int64
	Orders           int64
	Revenue          float64
	RecoveredOrders  int64
	RecoveredRevenue float64
	ShopOrders       int64
	ShopRevenue      float64
}

func (f *figures) add(g figures) {
	f.Sent += g.Sent
	f.Skipped += g.Skipped
	f.Reached += g.Reached
	f.Orders += g.Orders
	f.Revenue += g.Revenue
	f.RecoveredOrders += g.RecoveredOrders
	f.RecoveredRevenue += g.RecoveredRevenue
	f.ShopOrders += g.ShopOrders
	f.ShopRevenue += g.ShopRevenue
}

// Groupings of sums.
const (
	byNothing = ""
	byStep    = "flow_key, step_key"
	byFlow    = "flow_key"
)

// sums adds a shop's hourly rows and pending deltas of the hours starting in
// [from, to), grouped by one of the groupings above. One statement, hence
// one snapshot: a concurrent fold moves rows from deltas to hourly without
// the reader seeing them twice or not at all. Both parts are range scans of
// (shop_id, hour) indexes.
func (s *Service) sums(ctx context.Context, shopID int64, from, to time.Time, groupBy string) ([]figures, error) {
	cols, group := "", ""
	switch groupBy {
	case byNothing:
	case byStep:
		cols, group = "flow_key, step_key,", "GROUP BY flow_key, step_key ORDER BY flow_key, step_key"
	case byFlow:
		cols, group = "flow_key,", "GROUP BY flow_key ORDER BY flow_key"
	default:
		return nil, fmt.Errorf("analytics: unknown grouping %q", groupBy)
	}
	// Sums over every flow and step come from the per-shop hourly rows (one
	// an hour), the others from the per-step ones.
	source := `SELECT hour, '' AS flow_key, '' AS step_key, sent, skipped, reached, orders, revenue, recovered_orders, recovered_revenue,
		shop_orders, shop_revenue FROM metrics_shop_hourly`
	if groupBy == byStep || groupBy == byFlow {
		source = `SELECT hour, flow_key, step_key, sent, skipped, reached, orders, revenue, recovered_orders, recovered_revenue,
		shop_orders, shop_revenue FROM metrics_hourly`
	}
	var out []figures
	err := s.db.WithContext(ctx).Raw(`
SELECT `+cols+` COALESCE(sum(sent), 0)::int8 AS sent, COALESCE(sum(skipped), 0)::int8 AS skipped,
	COALESCE(sum(reached), 0)::int8 AS reached, COALESCE(sum(orders), 0)::int8 AS orders,
	COALESCE(sum(revenue), 0)::float8 AS revenue, COALESCE(sum(recovered_orders), 0)::int8 AS recovered_orders,
	COALESCE(sum(recovered_revenue), 0)::float8 AS recovered_revenue, COALESCE(sum(shop_orders), 0)::int8 AS shop_orders,
	COALESCE(sum(shop_revenue), 0)::float8 AS shop_revenue
FROM (
	`+source+` WHERE shop_id = @shop AND hour >= @from AND hour < @to
	UNION ALL
	SELECT hour, flow_key, step_key, sent, skipped, reached, orders, revenue, recovered_orders, recovered_revenue, shop_orders, shop_revenue
	FROM metrics_deltas WHERE shop_id = @shop AND hour >= @from AND hour < @to
) r
`+group, map[string]any{"shop": shopID, "from": from, "to": to}).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("analytics: metrics of shop %d: %w", shopID, err)
	}
	return out, nil
}
