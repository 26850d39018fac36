package shopify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Doer is the part of Client that typed mutation helpers need.
type Doer interface {
	Do(ctx context.Context, shop, query string, variables map[string]any, out any) error
}

// Email marketing states accepted by customerEmailMarketingConsentUpdate
// (NOT_SUBSCRIBED, REDACTED and INVALID are read-only).
const (
	ConsentSubscribed   = "SUBSCRIBED"
	ConsentUnsubscribed = "UNSUBSCRIBED"
)

// EmailConsentInput is the emailMarketingConsent input of Shopify's
// customer mutations (customerCreate, customerEmailMarketingConsentUpdate):
// single opt-in, stamped with when the shopper chose.
func EmailConsentInput(state string, at time.Time) map[string]any {
	return map[string]any{
		"marketingState":      state,
		"marketingOptInLevel": "SINGLE_OPT_IN",
		"consentUpdatedAt":    at.UTC().Format(time.RFC3339),
	}
}

const consentUpdateMutation = `mutation customerEmailMarketingConsentUpdate($input: CustomerEmailMarketingConsentUpdateInput!) {
  customerEmailMarketingConsentUpdate(input: $input) {
    customer { id }
    userErrors { field message code }
  }
}`

// UpdateEmailConsent writes a customer's email marketing consent to Shopify
// so the merchant's other tools see it. userErrors come back as UserErrors.
func UpdateEmailConsent(ctx context.Context, gql Doer, shop string, customerID int64, state string, at time.Time) error {
	vars := map[string]any{"input": map[string]any{
		"customerId":            "gid://shopify/Customer/" + strconv.FormatInt(customerID, 10),
		"emailMarketingConsent": EmailConsentInput(state, at),
	}}
	var out struct {
		Update *struct {
			UserErrors []UserError `json:"userErrors"`
		} `json:"customerEmailMarketingConsentUpdate"`
	}
	if err := gql.Do(ctx, shop, consentUpdateMutation, vars, &out); err != nil {
		return fmt.Errorf("shopify: update email consent: %w", err)
	}
	if out.Update == nil {
		return errors.New("shopify: update email consent: empty customerEmailMarketingConsentUpdate result")
	}
	return CheckUserErrors(out.Update.UserErrors)
}
