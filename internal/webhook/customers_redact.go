package webhook

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/relance/relance/internal/shop"
)

// handleCustomerRedact answers customers/redact: the customer's personal
// data is erased from every holder in one transaction, this delivery's own
// payload included, so a retry after a failure starts over from intact data
// and a retry after success finds the stub and stops.
func handleCustomerRedact(p *shop.Privacy) Handler {
	return func(ctx context.Context, d Delivery) error {
		if payloadRedacted(d.Payload) {
			return nil
		}
		pl, err := decodeCompliance(d)
		if err != nil {
			return err
		}
		c := pl.customerRef(pl.OrdersToRedact)
		if c.Empty() {
			return fmt.Errorf("webhook: customers/redact: no customer identifier: %w", ErrPermanent)
		}
		if err := p.RedactCustomer(ctx, d.ShopDomain, c); err != nil {
			return fmt.Errorf("webhook: customers/redact: %w", err)
		}
		slog.InfoContext(ctx, "customer redacted", "shop", d.ShopDomain, "webhook_id", d.WebhookID)
		return nil
	}
}
