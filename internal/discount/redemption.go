package discount

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Redemption is one of our codes used by an order.
type Redemption struct {
	CodeID       int64     `json:"-"`
	Code         string    `json:"code"`
	EnrollmentID int64     `json:"enrollment_id"`
	Step         string    `json:"step"`
	OrderID      int64     `json:"order_id"`
	RedeemedAt   time.Time `json:"redeemed_at"`
}

// RecordRedemption records that order orderID of the shop used codes (the
// orders/create payload's discount_codes[].code, any case) at at. Codes
// that are not Relance's are ignored. It is idempotent: a redelivered
// webhook records nothing new. It returns the shop's codes the order used,
// for attribution (empty when none).
func (s *Service) RecordRedemption(ctx context.Context, shopID, orderID int64, codes []string, at time.Time) ([]Redemption, error) {
	if shopID <= 0 || orderID <= 0 {
		return nil, fmt.Errorf("discount: record redemption of order %d: %w: shop %d", orderID, ErrBadRequest, shopID)
	}
	upper := make([]string, 0, len(codes))
	for _, c := range codes {
		if c = strings.ToUpper(strings.TrimSpace(c)); c != "" {
			upper = append(upper, c)
		}
	}
	if len(upper) == 0 {
		return nil, nil
	}
	at = at.UTC()
	var out []Redemption
	err := s.db.WithContext(ctx).Raw(`
WITH used AS (
    SELECT id, code, enrollment_id, step FROM discount_codes
    WHERE shop_id = ? AND upper(code) IN ? AND status <> 'failed'
), ins AS (
    INSERT INTO discount_redemptions (code_id, shop_id, order_id, redeemed_at)
    SELECT id, ?, ?, ? FROM used
    ON CONFLICT (code_id, order_id) DO NOTHING
), upd AS (
    UPDATE discount_codes d SET status = ?, redeemed_at = LEAST(COALESCE(d.redeemed_at, ?), ?), updated_at = now()
    FROM used WHERE d.id = used.id
)
SELECT used.id AS code_id, used.code, used.enrollment_id, used.step, ?::bigint AS order_id, ?::timestamptz AS redeemed_at
FROM used ORDER BY used.id`,
		shopID, upper, shopID, orderID, at, StatusRedeemed, at, at, orderID, at).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("discount: record redemption of order %d: %w", orderID, err)
	}
	return out, nil
}

// Redemptions lists the orders that used a code of the enrollment.
func (s *Service) Redemptions(ctx context.Context, shopID, enrollmentID int64) ([]Redemption, error) {
	var out []Redemption
	err := s.db.WithContext(ctx).Raw(`
SELECT d.id AS code_id, d.code, d.enrollment_id, d.step, r.order_id, r.redeemed_at
FROM discount_redemptions r JOIN discount_codes d ON d.id = r.code_id
WHERE r.shop_id = ? AND d.enrollment_id = ? ORDER BY r.redeemed_at, r.order_id`, shopID, enrollmentID).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("discount: list redemptions of enrollment %d: %w", enrollmentID, err)
	}
	return out, nil
}
