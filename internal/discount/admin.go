package discount

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
)

// GraphQL is what the package needs from the Admin API client
// (*shopify.Client satisfies it).
type GraphQL interface {
	Do(ctx context.Context, shop, query string, variables map[string]any, out any) error
}

// ErrRejected matches every RejectedError: Shopify refused the input
// (userErrors); retrying the same request cannot succeed.
var ErrRejected = errors.New("discount: rejected by Shopify")

// RejectedError carries the userErrors of a discount mutation.
type RejectedError struct {
	Op     string
	Errors shopify.UserErrors
}

func (e *RejectedError) Error() string {
	return "discount: " + e.Op + " rejected: " + e.Errors.Error()
}

// Is makes errors.Is(err, ErrRejected) true.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// Unwrap exposes the userErrors (errors.As into shopify.UserErrors).
func (e *RejectedError) Unwrap() error { return e.Errors }

// Permanent reports whether retrying the operation that returned err is
// pointless: Shopify refused the input, the table or request is invalid,
// the reservation expired, or the shop cannot be reached with the stored
// grant. Throttling, 5xx, network errors and ErrBusy are not permanent.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrBusy) || errors.Is(err, shopify.ErrThrottled) {
		return false
	}
	var ge *shopify.GraphQLError
	if errors.As(err, &ge) {
		for _, c := range ge.Codes {
			if c == "INTERNAL_SERVER_ERROR" || c == "SERVICE_UNAVAILABLE" || c == "TIMEOUT" {
				return false
			}
		}
		return true
	}
	return errors.Is(err, ErrRejected) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrBadRequest) ||
		errors.Is(err, ErrExpired) || errors.Is(err, ErrCurrencyMismatch) || errors.Is(err, ErrBadAmount) ||
		errors.Is(err, shop.ErrNotInstalled) || errors.Is(err, shop.ErrReauthorize) || errors.Is(err, shop.ErrNotFound) ||
		errors.Is(err, shopify.ErrUnauthorized) || errors.Is(err, shopify.ErrShopUnavailable) ||
		errors.Is(err, shopify.ErrInvalidShop)
}

const createBasicMutation = `mutation discountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}`

const createFreeShippingMutation = `mutation discountCodeFreeShippingCreate($freeShippingCodeDiscount: DiscountCodeFreeShippingInput!) {
  discountCodeFreeShippingCreate(freeShippingCodeDiscount: $freeShippingCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}`

const lookupQuery = `query codeDiscountNodeByCode($code: String!) {
  codeDiscountNodeByCode(code: $code) {
    id
    codeDiscount {
      __typename
      ... on DiscountCodeBasic { title }
      ... on DiscountCodeFreeShipping { title }
    }
  }
}`

const deleteMutation = `mutation discountCodeDelete($id: ID!) {
  discountCodeDelete(id: $id) {
    deletedCodeDiscountId
    userErrors { field code message }
  }
}`

type createPayload struct {
	CodeDiscountNode *struct {
		ID string `json:"id"`
	} `json:"codeDiscountNode"`
	UserErrors []shopify.UserError `json:"userErrors"`
}

// shopifyTime writes a DateTime the way the Admin API reads it.
func shopifyTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// percentageValue turns 15 into the 0..1 decimal Shopify expects ("0.15"),
// written as a JSON number without going through a float.
func percentageValue(p int) jsonNumber {
	if p >= 100 {
		return "1.0"
	}
	return jsonNumber(fmt.Sprintf("0.%02d", p))
}

// jsonNumber is a decimal written verbatim as a JSON number.
type jsonNumber string

func (n jsonNumber) MarshalJSON() ([]byte, error) { return []byte(n), nil }

// createInput builds the mutation and its variables for a reserved row.
func createInput(r *codeRow) (query, field string, vars map[string]any) {
	input := map[string]any{
		"title":                  r.Title,
		"code":                   r.Code,
		"startsAt":               shopifyTime(r.StartsAt),
		"endsAt":                 shopifyTime(r.EndsAt),
		"usageLimit":             1,
		"appliesOncePerCustomer": true,
	}
	if r.CustomerGID != "" {
		input["context"] = map[string]any{"customers": map[string]any{"add": []string{r.CustomerGID}}}
	} else {
		input["context"] = map[string]any{"all": "ALL"}
	}
	if !r.Minimum.IsZero() {
		input["minimumRequirement"] = map[string]any{
			"subtotal": map[string]any{"greaterThanOrEqualToSubtotal": r.Minimum.String()},
		}
	}
	switch Kind(r.Kind) {
	case KindFreeShipping:
		input["destination"] = map[string]any{"all": true}
		// Stacks with product sales, never with another order discount.
		input["combinesWith"] = map[string]any{"orderDiscounts": false, "productDiscounts": true, "shippingDiscounts": false}
		return createFreeShippingMutation, "discountCodeFreeShippingCreate", map[string]any{"freeShippingCodeDiscount": input}
	case KindFixedAmount:
		input["customerGets"] = map[string]any{
			"value": map[string]any{"discountAmount": map[string]any{"amount": r.Amount.String(), "appliesOnEachItem": false}},
			"items": map[string]any{"all": true},
		}
	default:
		input["customerGets"] = map[string]any{
			"value": map[string]any{"percentage": percentageValue(r.Percent)},
			"items": map[string]any{"all": true},
		}
	}
	// An order discount: the shop's own free shipping still applies, no
	// other order or product discount stacks on it.
	input["combinesWith"] = map[string]any{"orderDiscounts": false, "productDiscounts": false, "shippingDiscounts": true}
	return createBasicMutation, "discountCodeBasicCreate", map[string]any{"basicCodeDiscount": input}
}

// errCodeTaken is the outcome of a create whose code already exists.
var errCodeTaken = errors.New("discount: code taken")

// create calls the create mutation for a reserved row and returns the
// DiscountCodeNode id; errCodeTaken when Shopify already has the code.
func (s *Service) create(ctx context.Context, r *codeRow) (string, error) {
	query, field, vars := createInput(r)
	var out map[string]createPayload
	if err := s.api.Do(ctx, r.ShopDomain, query, vars, &out); err != nil {
		return "", err
	}
	p, ok := out[field]
	if !ok {
		return "", fmt.Errorf("%s: empty response", field)
	}
	if len(p.UserErrors) > 0 {
		for _, ue := range p.UserErrors {
			if ue.Code == "TAKEN" && fieldEndsWith(ue.Field, "code") {
				return "", errCodeTaken
			}
		}
		return "", &RejectedError{Op: field, Errors: p.UserErrors}
	}
	if p.CodeDiscountNode == nil || p.CodeDiscountNode.ID == "" {
		return "", fmt.Errorf("%s: no codeDiscountNode and no userErrors", field)
	}
	return p.CodeDiscountNode.ID, nil
}

func fieldEndsWith(path []string, name string) bool {
	return len(path) > 0 && path[len(path)-1] == name
}

// remoteCode is a code discount as the lookup returns it.
type remoteCode struct {
	ID    string
	Title string
}

// lookup finds a code discount by its code; nil when the shop has none.
func (s *Service) lookup(ctx context.Context, shopDomain, code string) (*remoteCode, error) {
	var out struct {
		Node *struct {
			ID           string `json:"id"`
			CodeDiscount *struct {
				Title string `json:"title"`
			} `json:"codeDiscount"`
		} `json:"codeDiscountNodeByCode"`
	}
	if err := s.api.Do(ctx, shopDomain, lookupQuery, map[string]any{"code": code}, &out); err != nil {
		return nil, err
	}
	if out.Node == nil || out.Node.ID == "" {
		return nil, nil
	}
	rc := &remoteCode{ID: out.Node.ID}
	if out.Node.CodeDiscount != nil {
		rc.Title = out.Node.CodeDiscount.Title
	}
	return rc, nil
}

// remove deletes a code discount. A discount that no longer exists counts
// as removed.
func (s *Service) remove(ctx context.Context, shopDomain, id string) error {
	var out struct {
		Delete *struct {
			Deleted    *string             `json:"deletedCodeDiscountId"`
			UserErrors []shopify.UserError `json:"userErrors"`
		} `json:"discountCodeDelete"`
	}
	if err := s.api.Do(ctx, shopDomain, deleteMutation, map[string]any{"id": id}, &out); err != nil {
		return err
	}
	if out.Delete == nil {
		return errors.New("discountCodeDelete: empty response")
	}
	if len(out.Delete.UserErrors) > 0 {
		for _, ue := range out.Delete.UserErrors {
			if fieldEndsWith(ue.Field, "id") && (ue.Code == "INVALID" || strings.Contains(strings.ToLower(ue.Message), "not exist") ||
				strings.Contains(strings.ToLower(ue.Message), "not found")) {
				return nil
			}
		}
		return &RejectedError{Op: "discountCodeDelete", Errors: out.Delete.UserErrors}
	}
	return nil
}
