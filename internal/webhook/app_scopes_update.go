package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
)

// handleScopesUpdate records the scopes the merchant now grants. Deliveries
// arrive out of order, so the store applies only one newer than what it has.
func handleScopesUpdate(shops ShopLifecycle) Handler {
	return func(ctx context.Context, d Delivery) error {
		var p struct {
			Current *[]string `json:"current"`
		}
		if err := json.Unmarshal(d.Payload, &p); err != nil {
			return fmt.Errorf("webhook: app/scopes_update: malformed payload: %w", ErrPermanent)
		}
		if p.Current == nil {
			return fmt.Errorf("webhook: app/scopes_update: no current scopes: %w", ErrPermanent)
		}
		at, err := lifecycleTime(d)
		if err != nil {
			return err
		}
		scopes := normalizeScopes(*p.Current)
		changed, err := shops.UpdateScopes(ctx, d.ShopDomain, scopes, at)
		if err != nil {
			return fmt.Errorf("webhook: app/scopes_update: %w", err)
		}
		if !changed {
			slog.InfoContext(ctx, "app/scopes_update not newer than the stored scopes (or unknown shop), ignored",
				"shop", d.ShopDomain, "triggered_at", at)
			return nil
		}
		slog.InfoContext(ctx, "shop scopes updated", "shop", d.ShopDomain, "scopes", scopes, "triggered_at", at)
		return nil
	}
}

// normalizeScopes trims, deduplicates and sorts.
func normalizeScopes(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
