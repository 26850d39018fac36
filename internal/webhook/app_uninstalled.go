package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/relance/relance/internal/shop"
)

// ShopLifecycle is what the lifecycle topics need from the shop store
// (*shop.Store implements it).
type ShopLifecycle interface {
	Get(ctx context.Context, domain string) (*shop.Shop, error)
	// MarkUninstalled ignores an uninstall triggered before the current install.
	MarkUninstalled(ctx context.Context, domain string, triggeredAt time.Time) (bool, error)
	// UpdateScopes ignores an update older than the stored scopes.
	UpdateScopes(ctx context.Context, domain string, scopes []string, triggeredAt time.Time) (bool, error)
}

// ShopWorkCanceller drops a shop's queued and scheduled work (sends, steps,
// syncs) once it is uninstalled. Packages that queue work per shop implement
// it; it must be idempotent, since an uninstall can be delivered twice.
type ShopWorkCanceller interface {
	CancelShopWork(ctx context.Context, shopDomain string) error
}

// RegisterLifecycle wires app/uninstalled and app/scopes_update. Every
// canceller runs when a shop is uninstalled.
func RegisterLifecycle(r *Registry, shops ShopLifecycle, cancellers ...ShopWorkCanceller) {
	r.Handle("app/uninstalled", handleUninstalled(shops, cancellers))
	r.Handle("app/scopes_update", handleScopesUpdate(shops))
}

// handleUninstalled marks the shop uninstalled (its tokens are dead) and
// cancels its work. The shop's data stays until shop/redact.
func handleUninstalled(shops ShopLifecycle, cancellers []ShopWorkCanceller) Handler {
	return func(ctx context.Context, d Delivery) error {
		at, err := lifecycleTime(d)
		if err != nil {
			return err
		}
		if _, err := shops.MarkUninstalled(ctx, d.ShopDomain, at); err != nil {
			return fmt.Errorf("webhook: app/uninstalled: %w", err)
		}
		// Decide on the stored state, not on whether this call changed it: a
		// retry after a failed cancel must cancel again.
		s, err := shops.Get(ctx, d.ShopDomain)
		switch {
		case errors.Is(err, shop.ErrNotFound):
		case err != nil:
			return fmt.Errorf("webhook: app/uninstalled: %w", err)
		case s.UninstalledAt == nil:
			slog.InfoContext(ctx, "app/uninstalled older than the current install, ignored",
				"shop", d.ShopDomain, "triggered_at", at, "installed_at", s.InstalledAt)
			return nil
		}
		var errs []error
		for _, c := range cancellers {
			if err := c.CancelShopWork(ctx, d.ShopDomain); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("webhook: app/uninstalled: cancel shop work: %w", err)
		}
		slog.InfoContext(ctx, "shop uninstalled", "shop", d.ShopDomain, "triggered_at", at)
		return nil
	}
}

// lifecycleTime is when the event happened: X-Shopify-Triggered-At, else
// the payload's updated_at. Without either, ordering against a reinstall
// would be a guess, so the delivery fails for a human to look at.
func lifecycleTime(d Delivery) (time.Time, error) {
	if !d.TriggeredAt.IsZero() {
		return d.TriggeredAt.UTC(), nil
	}
	var p struct {
		UpdatedAt *string `json:"updated_at"`
	}
	if err := json.Unmarshal(d.Payload, &p); err != nil {
		return time.Time{}, fmt.Errorf("webhook: %s: malformed payload: %w", d.Topic, ErrPermanent)
	}
	if p.UpdatedAt == nil || strings.TrimSpace(*p.UpdatedAt) == "" {
		return time.Time{}, fmt.Errorf("webhook: %s: neither X-Shopify-Triggered-At nor updated_at: %w", d.Topic, ErrPermanent)
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(*p.UpdatedAt))
	if err != nil {
		return time.Time{}, fmt.Errorf("webhook: %s: invalid updated_at: %w", d.Topic, ErrPermanent)
	}
	return t.UTC(), nil
}
