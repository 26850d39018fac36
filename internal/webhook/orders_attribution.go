package webhook

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/relance/relance/internal/analytics"
)

// Attributor credits orders to Relance emails (*analytics.Service).
type Attributor interface {
	AttributeOrder(ctx context.Context, o analytics.OrderFacts) (*analytics.Attribution, error)
	OrderCancelled(ctx context.Context, shopID, orderID int64, at time.Time) error
}

// RegisterAttribution adds, after the order handler of orders.go (which
// records the order with its contact, so it must be registered first), the
// attribution of orders/create to the email whose code it used or that the
// shopper last clicked, and takes cancelled orders out of the figures.
func RegisterAttribution(r *Registry, shops ShopFinder, a Attributor) {
	h := &commerce{shops: shops}
	r.Handle("orders/create", func(ctx context.Context, d Delivery) error {
		var p struct {
			ID            int64   `json:"id"`
			CreatedAt     *string `json:"created_at"`
			ProcessedAt   *string `json:"processed_at"`
			TotalPrice    *string `json:"total_price"`
			Currency      *string `json:"currency"`
			DiscountCodes []struct {
				Code string `json:"code"`
			} `json:"discount_codes"`
		}
		if err := decode(d, &p); err != nil {
			return err
		}
		if p.ID == 0 {
			return nil // orders.go fails the delivery for it
		}
		shopID, ok, err := h.shopID(ctx, d)
		if err != nil || !ok {
			return err
		}
		at, ok := when(d, p.ProcessedAt, p.CreatedAt)
		if !ok {
			return noTime(d)
		}
		var codes []string
		for _, c := range p.DiscountCodes {
			if c := strings.TrimSpace(c.Code); c != "" {
				codes = append(codes, c)
			}
		}
		if _, err := a.AttributeOrder(ctx, analytics.OrderFacts{ShopID: shopID, OrderID: p.ID, Codes: codes,
			Total: str(p.TotalPrice), Currency: str(p.Currency), OrderedAt: at}); err != nil {
			return fmt.Errorf("webhook: orders/create: attribution: %w", err)
		}
		return nil
	})
	r.Handle("orders/cancelled", func(ctx context.Context, d Delivery) error {
		var p struct {
			ID          int64   `json:"id"`
			CancelledAt *string `json:"cancelled_at"`
		}
		if err := decode(d, &p); err != nil || p.ID == 0 {
			return err
		}
		shopID, ok, err := h.shopID(ctx, d)
		if err != nil || !ok {
			return err
		}
		at, _ := when(d, p.CancelledAt)
		if at.IsZero() {
			at = d.TriggeredAt
		}
		return a.OrderCancelled(ctx, shopID, p.ID, at)
	})
}
