package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/relance/relance/internal/shop"
)

// handleShopRedact answers shop/redact (sent 48 hours after an uninstall):
// everything Relance keeps for the shop is deleted, this delivery's inbox
// row included. Repeating it is harmless.
func handleShopRedact(p *shop.Privacy) Handler {
	return func(ctx context.Context, d Delivery) error {
		if _, err := decodeCompliance(d); err != nil {
			return err
		}
		err := p.EraseShop(ctx, d.ShopDomain)
		if errors.Is(err, shop.ErrShopInstalled) {
			// The merchant reinstalled: erasing would wipe a live install.
			// Recorded as failed so someone looks at it.
			return fmt.Errorf("webhook: shop/redact: %w", errors.Join(err, ErrPermanent))
		}
		if err != nil {
			return fmt.Errorf("webhook: shop/redact: %w", err)
		}
		slog.InfoContext(ctx, "shop erased", "shop", d.ShopDomain)
		return nil
	}
}
