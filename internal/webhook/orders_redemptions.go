package webhook

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Redemptions records which of our discount codes an order used (for
// attribution and to keep redeemed codes out of the cleanup).
type Redemptions interface {
	RecordRedemption(ctx context.Context, shopID, orderID int64, codes []string, at time.Time) error
}

// RegisterRedemptions adds, beside the order handler of orders.go, the
// reading of orders/create `discount_codes`. Codes that are not ours are
// ignored by the recorder, and recording twice is harmless.
func RegisterRedemptions(r *Registry, shops ShopFinder, rec Redemptions) {
	h := &commerce{shops: shops}
	r.Handle("orders/create", func(ctx context.Context, d Delivery) error {
		var p struct {
			ID            int64  `json:"id"`
			CreatedAt     string `json:"created_at"`
			DiscountCodes []struct {
				Code string `json:"code"`
			} `json:"discount_codes"`
		}
		if err := decode(d, &p); err != nil {
			return err
		}
		codes := make([]string, 0, len(p.DiscountCodes))
		for _, c := range p.DiscountCodes {
			if c := strings.TrimSpace(c.Code); c != "" {
				codes = append(codes, c)
			}
		}
		if len(codes) == 0 || p.ID == 0 {
			return nil
		}
		shopID, ok, err := h.shopID(ctx, d)
		if err != nil || !ok {
			return err
		}
		at, err := time.Parse(time.RFC3339, p.CreatedAt)
		if err != nil {
			at = d.TriggeredAt
		}
		if err := rec.RecordRedemption(ctx, shopID, p.ID, codes, at); err != nil {
			return fmt.Errorf("webhook: orders/create: record discount redemption: %w", err)
		}
		return nil
	})
}
