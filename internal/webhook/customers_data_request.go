package webhook

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/relance/relance/internal/shop"
)

// handleDataRequest answers customers/data_request: every holder's data
// about the customer goes into one export the merchant downloads from the
// admin (Shopify expects the merchant to receive it, within 30 days).
func handleDataRequest(p *shop.Privacy) Handler {
	return func(ctx context.Context, d Delivery) error {
		if payloadRedacted(d.Payload) {
			// The customer was redacted since: nothing is left to export.
			return nil
		}
		pl, err := decodeCompliance(d)
		if err != nil {
			return err
		}
		if pl.DataRequest == nil || pl.DataRequest.ID <= 0 {
			return fmt.Errorf("webhook: customers/data_request: no data_request.id: %w", ErrPermanent)
		}
		c := pl.customerRef(pl.OrdersRequested)
		if c.Empty() {
			return fmt.Errorf("webhook: customers/data_request: no customer identifier: %w", ErrPermanent)
		}
		e, err := p.DataRequest(ctx, d.ShopDomain, int64(pl.DataRequest.ID), c)
		if err != nil {
			return fmt.Errorf("webhook: customers/data_request: %w", err)
		}
		slog.InfoContext(ctx, "customer data export ready", "shop", d.ShopDomain,
			"data_request_id", e.DataRequestID, "export_id", e.ID)
		return nil
	}
}
