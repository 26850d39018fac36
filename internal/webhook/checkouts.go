package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
)

// RegisterCheckouts wires checkouts/create|update (checkout abandonment
// starts once the checkout has an email) and checkouts/delete.
func RegisterCheckouts(r *Registry, shops ShopFinder, contacts *contact.Store, engine Journey) {
	h := &commerce{shops: shops, contacts: contacts, engine: engine}
	r.Handle("checkouts/create", h.checkout)
	r.Handle("checkouts/update", h.checkout)
	r.Handle("checkouts/delete", h.checkoutDelete)
}

type checkoutPayload struct {
	ID                    int64            `json:"id"` // absent from the 2026-04 sample; token is the key
	Token                 string           `json:"token"`
	CartToken             *string          `json:"cart_token"`
	Email                 *string          `json:"email"`
	BuyerAcceptsMarketing bool             `json:"buyer_accepts_marketing"`
	CreatedAt             *string          `json:"created_at"`
	UpdatedAt             *string          `json:"updated_at"`
	CompletedAt           *string          `json:"completed_at"`
	AbandonedCheckoutURL  *string          `json:"abandoned_checkout_url"`
	CustomerLocale        *string          `json:"customer_locale"`
	Currency              *string          `json:"presentment_currency"`
	TotalPrice            *string          `json:"total_price"`
	LineItems             []lineItem       `json:"line_items"`
	Customer              *customerPayload `json:"customer"`
}

type lineItem struct {
	ProductID    *int64  `json:"product_id"` // null for custom items
	VariantID    *int64  `json:"variant_id"`
	Quantity     int     `json:"quantity"`
	Title        *string `json:"title"`
	VariantTitle *string `json:"variant_title"`
	Price        *string `json:"price"`
}

// price is a decimal unit price, "" when the payload has none.
func price(p *string) string {
	if p == nil {
		return ""
	}
	return contact.Decimal(*p)
}

// activityLines are the lines a reminder email shows.
func activityLines(items []lineItem) []journey.ActivityLine {
	out := make([]journey.ActivityLine, 0, len(items))
	for _, it := range items {
		out = append(out, journey.ActivityLine{Title: str(it.Title), Variant: str(it.VariantTitle), Quantity: it.Quantity,
			Price: price(it.Price)})
	}
	return journey.ActivityLines(out)
}

func itemCount(items []lineItem) int {
	n := 0
	for _, it := range items {
		n += max(it.Quantity, 0)
	}
	return n
}

func (h *commerce) checkout(ctx context.Context, d Delivery) error {
	var p checkoutPayload
	if err := decode(d, &p); err != nil {
		return err
	}
	p.Token = strings.TrimSpace(p.Token)
	if p.Token == "" {
		slog.WarnContext(ctx, "webhook: checkout without token ignored", "shop", d.ShopDomain, "webhook_id", d.WebhookID)
		return nil
	}
	shopID, ok, err := h.shopID(ctx, d)
	if !ok || err != nil {
		return err
	}
	at, ok := when(d, p.UpdatedAt, p.CreatedAt)
	if !ok {
		return noTime(d)
	}
	activity := journey.ActivityData{Items: itemCount(p.LineItems), Total: contact.Decimal(str(p.TotalPrice)),
		Lines: activityLines(p.LineItems)}.Encode()
	// Touch first: it tells whether this update is older than one we hold.
	owner, fresh, err := h.contacts.Touch(ctx, shopID, contact.Checkout, p.Token, at, activity)
	if err != nil {
		return fmt.Errorf("webhook: %s: %w", d.Topic, err)
	}
	if !fresh {
		slog.InfoContext(ctx, "webhook: checkout update older than the one held, ignored", "shop", d.ShopDomain, "webhook_id", d.WebhookID)
		return nil
	}

	email := str(p.Email)
	var customerID int64
	var first, last string
	if p.Customer != nil {
		customerID, first, last = p.Customer.ID, str(p.Customer.FirstName), str(p.Customer.LastName)
		if contact.NormalizeEmail(email) == "" {
			email = str(p.Customer.Email)
		}
	}
	var c *contact.Contact
	if contact.NormalizeEmail(email) != "" || customerID != 0 {
		c, err = h.contacts.Upsert(ctx, shopID, contact.Profile{Email: email, CustomerID: customerID, FirstName: first, LastName: last,
			Locale: str(p.CustomerLocale)})
		if err != nil {
			return fmt.Errorf("webhook: %s: %w", d.Topic, err)
		}
	} else if owner != 0 {
		if c, err = h.contacts.Get(ctx, shopID, owner); err != nil {
			return fmt.Errorf("webhook: %s: %w", d.Topic, err)
		}
	}
	if c == nil {
		// No email yet: kept anonymously, picked up by a later update.
		slog.DebugContext(ctx, "webhook: checkout without identity, tracked anonymously", "shop", d.ShopDomain)
		return nil
	}
	if err := h.link(ctx, shopID, c.ID, p.Token, strings.TrimSpace(str(p.CartToken))); err != nil {
		return fmt.Errorf("webhook: %s: %w", d.Topic, err)
	}
	if p.BuyerAcceptsMarketing {
		// The checkbox is a subscription at that time; an unsubscribe made
		// later still wins (consent applies in timestamp order).
		if _, err := h.contacts.SetConsent(ctx, shopID, c.ID, contact.Subscribed, at, "checkout"); err != nil {
			return fmt.Errorf("webhook: %s: %w", d.Topic, err)
		}
	}
	if p.CompletedAt != nil && *p.CompletedAt != "" {
		return nil // the order is coming; orders/create ends the sequence
	}
	if c.Email == nil || itemCount(p.LineItems) == 0 {
		return nil
	}
	ctxMap := map[string]string{"checkout_token": p.Token, "recovery_url": str(p.AbandonedCheckoutURL),
		"cart_token": strings.TrimSpace(str(p.CartToken)), "total_price": contact.Decimal(str(p.TotalPrice)), "currency": str(p.Currency)}
	if p.ID != 0 {
		ctxMap["checkout_id"] = fmt.Sprint(p.ID)
	}
	err = h.engine.Trigger(ctx, journey.Event{ShopID: shopID, ContactID: c.ID, Trigger: flow.CheckoutStarted, At: at, Subject: p.Token, Context: ctxMap})
	if err != nil {
		return fmt.Errorf("webhook: %s: %w", d.Topic, err)
	}
	return nil
}

// checkoutDelete stops the reminders of a deleted checkout. The payload only
// has the checkout id and its cart token.
func (h *commerce) checkoutDelete(ctx context.Context, d Delivery) error {
	var p struct {
		ID        int64   `json:"id"`
		CartToken *string `json:"cart_token"`
	}
	if err := decode(d, &p); err != nil {
		return err
	}
	shopID, ok, err := h.shopID(ctx, d)
	if !ok || err != nil {
		return err
	}
	if err := h.engine.ExitCheckout(ctx, shopID, p.ID, strings.TrimSpace(str(p.CartToken))); err != nil {
		return fmt.Errorf("webhook: %s: %w", d.Topic, err)
	}
	return nil
}

// link ties a checkout token and a cart token to a contact (either may be
// empty). Anonymous orders placed with them are attributed then.
func (h *commerce) link(ctx context.Context, shopID, contactID int64, checkoutToken, cartToken string) error {
	if _, err := h.contacts.Link(ctx, shopID, contactID, contact.Checkout, checkoutToken); err != nil {
		return err
	}
	_, err := h.contacts.Link(ctx, shopID, contactID, contact.Cart, cartToken)
	return err
}
