package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
)

// ShopFinder resolves a delivery's shop (*shop.Store implements it).
type ShopFinder interface {
	Get(ctx context.Context, domain string) (*shop.Shop, error)
}

// Journey is what the commerce topics ask of the sequence engine
// (*journey.Engine implements it).
type Journey interface {
	Trigger(ctx context.Context, ev journey.Event) error
	OrderFulfilled(ctx context.Context, shopID, orderID int64, at time.Time) error
	ExitContact(ctx context.Context, shopID, contactID int64, reason string, keys ...flow.Key) error
	ExitSubject(ctx context.Context, shopID int64, key flow.Key, subject, reason string) error
	ExitOrder(ctx context.Context, shopID, orderID int64, reason string) error
	ExitCheckout(ctx context.Context, shopID, checkoutID int64, cartToken string) error
}

// RegisterCustomers wires customers/create|update|delete and
// customers_email_marketing_consent/update: profiles, identity and consent
// of contacts; a subscription starts the welcome flow, an unsubscribe stops
// everything. A customers/create|update payload without consent (API
// 2025-01 and later) has it read through consents; nil reads nothing.
func RegisterCustomers(r *Registry, shops ShopFinder, contacts *contact.Store, engine Journey, consents ConsentReader) {
	h := &commerce{shops: shops, contacts: contacts, engine: engine}
	c := &customers{commerce: h, consents: consents}
	r.Handle("customers/create", c.customer)
	r.Handle("customers/update", c.customer)
	r.Handle("customers/delete", h.customerDelete)
	r.Handle("customers_email_marketing_consent/update", h.consent)
}

// commerce holds what every commerce topic handler uses.
type commerce struct {
	shops    ShopFinder
	contacts *contact.Store
	engine   Journey
}

// shopID resolves the delivery's shop. ok=false (with a log line) for an
// unknown or uninstalled shop: the delivery is acknowledged, nothing is sent.
func (h *commerce) shopID(ctx context.Context, d Delivery) (int64, bool, error) {
	s, err := h.shops.Get(ctx, d.ShopDomain)
	if errors.Is(err, shop.ErrNotFound) {
		slog.WarnContext(ctx, "webhook: delivery for an unknown shop ignored", "shop", d.ShopDomain, "topic", d.Topic, "webhook_id", d.WebhookID)
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("webhook: %s: find shop: %w", d.Topic, err)
	}
	if s.UninstalledAt != nil {
		slog.InfoContext(ctx, "webhook: delivery for an uninstalled shop ignored", "shop", d.ShopDomain, "topic", d.Topic, "webhook_id", d.WebhookID)
		return 0, false, nil
	}
	return s.ID, true, nil
}

// decode reads a payload; malformed JSON (or an id that is not an integer)
// can never be processed.
func decode(d Delivery, v any) error {
	if err := json.Unmarshal(d.Payload, v); err != nil {
		return fmt.Errorf("webhook: %s: malformed payload (%v): %w", d.Topic, err, ErrPermanent)
	}
	return nil
}

// when is the first parseable timestamp among the payload's (updated_at,
// created_at…), else X-Shopify-Triggered-At; ok=false when there is none.
func when(d Delivery, candidates ...*string) (time.Time, bool) {
	for _, c := range candidates {
		if c == nil {
			continue
		}
		if t, err := time.Parse(time.RFC3339, strings.TrimSpace(*c)); err == nil {
			return t.UTC(), true
		}
	}
	if !d.TriggeredAt.IsZero() {
		return d.TriggeredAt.UTC(), true
	}
	return time.Time{}, false
}

func noTime(d Delivery) error {
	return fmt.Errorf("webhook: %s: no updated_at and no X-Shopify-Triggered-At, cannot order it: %w", d.Topic, ErrPermanent)
}

// customerPayload is the customer resource (customers/*, and nested in
// checkouts and orders). email_marketing_consent exists up to API 2024-10.
type customerPayload struct {
	ID                    int64           `json:"id"`
	Email                 *string         `json:"email"`
	FirstName             *string         `json:"first_name"`
	LastName              *string         `json:"last_name"`
	Locale                *string         `json:"locale"`
	CreatedAt             *string         `json:"created_at"`
	UpdatedAt             *string         `json:"updated_at"`
	EmailMarketingConsent *consentPayload `json:"email_marketing_consent"`
}

type consentPayload struct {
	State            string  `json:"state"`
	OptInLevel       *string `json:"opt_in_level"`
	ConsentUpdatedAt *string `json:"consent_updated_at"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// customers handles customers/create|update: commerce plus the Admin API
// read of a consent the payload lacks.
type customers struct {
	*commerce
	consents ConsentReader
}

func (h *customers) customer(ctx context.Context, d Delivery) error {
	var p customerPayload
	if err := decode(d, &p); err != nil {
		return err
	}
	if p.ID == 0 {
		return fmt.Errorf("webhook: %s: no customer id: %w", d.Topic, ErrPermanent)
	}
	shopID, ok, err := h.shopID(ctx, d)
	if !ok || err != nil {
		return err
	}
	at, ok := when(d, p.UpdatedAt, p.CreatedAt)
	if !ok {
		return noTime(d)
	}
	// Read before writing anything, so a delivery retried for a throttled
	// read starts over cleanly.
	var read *CustomerConsent
	if p.EmailMarketingConsent == nil && h.consents != nil {
		read, err = h.consents.CustomerConsent(ctx, d.ShopDomain, p.ID)
		switch {
		case errors.Is(err, shopify.ErrShopUnavailable):
			slog.InfoContext(ctx, "webhook: consent not read, shop unavailable", "shop", d.ShopDomain, "topic", d.Topic, "webhook_id", d.WebhookID, "err", err)
			read = nil
		case err != nil:
			return fmt.Errorf("webhook: %s: %w", d.Topic, err)
		}
	}
	c, err := h.contacts.Upsert(ctx, shopID, contact.Profile{Email: str(p.Email), CustomerID: p.ID, FirstName: str(p.FirstName),
		LastName: str(p.LastName), Locale: str(p.Locale), UpdatedAt: &at})
	if err != nil {
		return fmt.Errorf("webhook: %s: %w", d.Topic, err)
	}
	if p.EmailMarketingConsent != nil {
		consentAt, _ := when(d, p.EmailMarketingConsent.ConsentUpdatedAt, p.UpdatedAt)
		return h.applyConsent(ctx, d, shopID, c.ID, p.EmailMarketingConsent.State, consentAt, "shopify")
	}
	if read != nil {
		// Ordered like a consent webhook: consentUpdatedAt, else the
		// delivery time, else the customer's own timestamp.
		consentAt := at
		switch {
		case read.UpdatedAt != nil:
			consentAt = read.UpdatedAt.UTC()
		case !d.TriggeredAt.IsZero():
			consentAt = d.TriggeredAt.UTC()
		}
		return h.applyConsent(ctx, d, shopID, c.ID, read.State, consentAt, "shopify")
	}
	return nil
}

// customerDelete forgets the Shopify customer id and stops the contact's
// flows: the merchant removed that customer. The email stays known so an
// unsubscribe or suppression keeps protecting it.
func (h *commerce) customerDelete(ctx context.Context, d Delivery) error {
	var p struct {
		ID int64 `json:"id"`
	}
	if err := decode(d, &p); err != nil {
		return err
	}
	if p.ID == 0 {
		return fmt.Errorf("webhook: %s: no customer id: %w", d.Topic, ErrPermanent)
	}
	shopID, ok, err := h.shopID(ctx, d)
	if !ok || err != nil {
		return err
	}
	contactID, err := h.contacts.DetachCustomer(ctx, shopID, p.ID)
	if err != nil {
		return fmt.Errorf("webhook: %s: %w", d.Topic, err)
	}
	if contactID == 0 {
		return nil
	}
	if err := h.engine.ExitContact(ctx, shopID, contactID, journey.ReasonDeleted); err != nil {
		return fmt.Errorf("webhook: %s: %w", d.Topic, err)
	}
	return nil
}

func (h *commerce) consent(ctx context.Context, d Delivery) error {
	var p struct {
		CustomerID            int64           `json:"customer_id"`
		EmailAddress          *string         `json:"email_address"`
		EmailMarketingConsent *consentPayload `json:"email_marketing_consent"`
	}
	if err := decode(d, &p); err != nil {
		return err
	}
	if p.EmailMarketingConsent == nil {
		return fmt.Errorf("webhook: %s: no email_marketing_consent: %w", d.Topic, ErrPermanent)
	}
	shopID, ok, err := h.shopID(ctx, d)
	if !ok || err != nil {
		return err
	}
	at, ok := when(d, p.EmailMarketingConsent.ConsentUpdatedAt)
	if !ok {
		return noTime(d)
	}
	c, err := h.contacts.Upsert(ctx, shopID, contact.Profile{Email: str(p.EmailAddress), CustomerID: p.CustomerID})
	if errors.Is(err, contact.ErrNoIdentity) {
		slog.WarnContext(ctx, "webhook: consent update naming nobody ignored", "shop", d.ShopDomain, "webhook_id", d.WebhookID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("webhook: %s: %w", d.Topic, err)
	}
	return h.applyConsent(ctx, d, shopID, c.ID, p.EmailMarketingConsent.State, at, "shopify")
}

// applyConsent records a consent state in timestamp order; a newly applied
// subscription starts welcome (which is once ever), an unsubscribe ends every
// flow at once.
func (h *commerce) applyConsent(ctx context.Context, d Delivery, shopID, contactID int64, state string, at time.Time, source string) error {
	consent, ok := contact.ParseConsent(state)
	if !ok {
		return fmt.Errorf("webhook: %s: unknown consent state %q: %w", d.Topic, state, ErrPermanent)
	}
	if at.IsZero() {
		return noTime(d)
	}
	applied, err := h.contacts.SetConsent(ctx, shopID, contactID, consent, at, source)
	if err != nil {
		return fmt.Errorf("webhook: %s: %w", d.Topic, err)
	}
	if !applied {
		slog.InfoContext(ctx, "webhook: consent older than the one held, ignored", "shop", d.ShopDomain, "webhook_id", d.WebhookID)
		return nil
	}
	switch consent {
	case contact.Subscribed:
		err = h.engine.Trigger(ctx, journey.Event{ShopID: shopID, ContactID: contactID, Trigger: flow.Subscribed, At: at})
	case contact.Unsubscribed:
		err = h.engine.ExitContact(ctx, shopID, contactID, journey.ReasonUnsubscribed)
	}
	if err != nil {
		return fmt.Errorf("webhook: %s: %w", d.Topic, err)
	}
	return nil
}
