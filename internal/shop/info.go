package shop

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// GraphQL runs an Admin API query for a shop (shopify.Client satisfies it).
type GraphQL interface {
	Do(ctx context.Context, shop, query string, variables map[string]any, out any) error
}

const infoQuery = `query ShopInfo { shop { id name email myshopifyDomain ianaTimezone currencyCode } }`

// FetchInfo reads the shop's identity, contact, time zone and currency from
// the Admin API.
func FetchInfo(ctx context.Context, gql GraphQL, domain string) (Info, error) {
	var out struct {
		Shop struct {
			ID              string `json:"id"`
			Name            string `json:"name"`
			Email           string `json:"email"`
			MyshopifyDomain string `json:"myshopifyDomain"`
			IanaTimezone    string `json:"ianaTimezone"`
			CurrencyCode    string `json:"currencyCode"`
		} `json:"shop"`
	}
	if err := gql.Do(ctx, domain, infoQuery, nil, &out); err != nil {
		return Info{}, fmt.Errorf("shop: fetch info of %s: %w", domain, err)
	}
	s := out.Shop
	if s.MyshopifyDomain != "" && !strings.EqualFold(s.MyshopifyDomain, domain) {
		return Info{}, fmt.Errorf("shop: fetch info of %s: Admin API answered for %s", domain, s.MyshopifyDomain)
	}
	return Info{
		ShopifyID: gidNumber(s.ID),
		Name:      s.Name,
		Email:     s.Email,
		Timezone:  s.IanaTimezone,
		Currency:  s.CurrencyCode,
	}, nil
}

// gidNumber extracts 123 from "gid://shopify/Shop/123"; 0 when absent.
func gidNumber(gid string) int64 {
	n, err := strconv.ParseInt(gid[strings.LastIndexByte(gid, '/')+1:], 10, 64)
	if err != nil {
		return 0
	}
	return n
}
