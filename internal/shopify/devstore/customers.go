package devstore

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The customer part of the Admin API, built in: the `customer(id:)` root
// field, answering the customer's id and emailMarketingConsent
// {marketingState, marketingOptInLevel, consentUpdatedAt}. Like Shopify it
// returns null for a customer the shop does not have and a top-level error
// for an id that is not a customer gid. The customers it knows are those
// given a consent with SetCustomerConsent, and those declared with
// AddCustomer (which have no consent: emailMarketingConsent is null).

type customerConsent struct {
	state string    // SUBSCRIBED, NOT_SUBSCRIBED, UNSUBSCRIBED, PENDING, ...
	at    time.Time // zero: consentUpdatedAt is null
}

type customerStore struct {
	mu      sync.Mutex
	consent map[string]map[int64]customerConsent // shop -> customer id
}

// registerCustomers installs the customer root field (called by New).
func (s *Server) registerCustomers() {
	c := &customerStore{consent: map[string]map[int64]customerConsent{}}
	s.customers = c
	s.HandleGraphQL("customer", 1, func(shop string, vars map[string]any) (any, error) {
		return s.customerField(c, shop, vars)
	})
}

// SetCustomerConsent gives shop a customer (its numeric id) with this email
// marketing consent state (e.g. "SUBSCRIBED", "NOT_SUBSCRIBED"; any case) as
// of at (zero: consentUpdatedAt is null). It replaces an earlier one.
func (s *Server) SetCustomerConsent(shop string, customerID int64, state string, at time.Time) {
	c := s.customers
	shop = strings.ToLower(shop)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.consent[shop] == nil {
		c.consent[shop] = map[int64]customerConsent{}
	}
	c.consent[shop][customerID] = customerConsent{state: strings.ToUpper(strings.TrimSpace(state)), at: at}
}

func (s *Server) customerField(c *customerStore, shop string, vars map[string]any) (any, error) {
	gid, _ := vars["id"].(string)
	if !customerGID.MatchString(gid) {
		return nil, fmt.Errorf("Invalid global id '%v'", vars["id"])
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(gid, "gid://shopify/Customer/"), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("Invalid global id '%v'", vars["id"])
	}
	c.mu.Lock()
	consent, ok := c.consent[shop][id]
	c.mu.Unlock()
	if !ok {
		d := s.discounts
		d.mu.Lock()
		declared := d.customers[shop][gid]
		d.mu.Unlock()
		if !declared {
			return nil, nil
		}
		return map[string]any{"id": gid, "emailMarketingConsent": nil}, nil
	}
	var level, updated any
	if consent.state == "SUBSCRIBED" {
		level = "SINGLE_OPT_IN"
	}
	if !consent.at.IsZero() {
		updated = consent.at.UTC().Format(time.RFC3339)
	}
	return map[string]any{"id": gid, "emailMarketingConsent": map[string]any{
		"marketingState": consent.state, "marketingOptInLevel": level, "consentUpdatedAt": updated,
	}}, nil
}
