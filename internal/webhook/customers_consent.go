package webhook

import (
	"context"
	"fmt"
	"time"

	"github.com/relance/relance/internal/shopify"
)

// CustomerConsent is a customer's email marketing consent as the Admin API
// reports it (Customer.emailMarketingConsent).
type CustomerConsent struct {
	State      string     // marketingState: SUBSCRIBED, NOT_SUBSCRIBED, UNSUBSCRIBED, PENDING…
	OptInLevel string     // marketingOptInLevel, "" when null
	UpdatedAt  *time.Time // consentUpdatedAt, nil when null
}

// ConsentReader reads a customer's email marketing consent, for the
// customers/* payloads that no longer carry it (API 2025-01 and later).
// It returns nil, nil for a customer the shop does not have or one with no
// consent, an error wrapping shopify.ErrShopUnavailable for a shop that
// cannot be reached any more (uninstalled, frozen), and any other error for
// a failure worth retrying (throttled, 5xx).
type ConsentReader interface {
	CustomerConsent(ctx context.Context, shop string, customerID int64) (*CustomerConsent, error)
}

// AdminConsent is a ConsentReader over the GraphQL Admin API.
type AdminConsent struct {
	Admin *shopify.Client
}

const customerConsentQuery = `query($id: ID!) { customer(id: $id) { emailMarketingConsent { marketingState marketingOptInLevel consentUpdatedAt } } }`

// CustomerConsent implements ConsentReader.
func (a AdminConsent) CustomerConsent(ctx context.Context, shop string, customerID int64) (*CustomerConsent, error) {
	var out struct {
		Customer *struct {
			EmailMarketingConsent *struct {
				MarketingState      string     `json:"marketingState"`
				MarketingOptInLevel *string    `json:"marketingOptInLevel"`
				ConsentUpdatedAt    *time.Time `json:"consentUpdatedAt"`
			} `json:"emailMarketingConsent"`
		} `json:"customer"`
	}
	gid := fmt.Sprintf("gid://shopify/Customer/%d", customerID)
	if err := a.Admin.Do(ctx, shop, customerConsentQuery, map[string]any{"id": gid}, &out); err != nil {
		return nil, fmt.Errorf("reading consent of %s: %w", gid, err)
	}
	if out.Customer == nil || out.Customer.EmailMarketingConsent == nil || out.Customer.EmailMarketingConsent.MarketingState == "" {
		return nil, nil
	}
	c := out.Customer.EmailMarketingConsent
	return &CustomerConsent{State: c.MarketingState, OptInLevel: str(c.MarketingOptInLevel), UpdatedAt: c.ConsentUpdatedAt}, nil
}
