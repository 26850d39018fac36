package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
)

// RegisterOrders wires orders/create|paid|fulfilled|cancelled: the order
// history of contacts; an order ends every purchase-goal flow and starts
// post-purchase and replenishment; fulfilment starts the review-request
// wait; cancellation ends the flows the order started.
func RegisterOrders(r *Registry, shops ShopFinder, contacts *contact.Store, engine Journey) {
	h := &commerce{shops: shops, contacts: contacts, engine: engine}
	for _, topic := range []string{"orders/create", "orders/paid", "orders/fulfilled", "orders/cancelled"} {
		r.Handle(topic, h.order)
	}
}

type orderPayload struct {
	ID                    int64            `json:"id"`
	Email                 *string          `json:"email"`
	ContactEmail          *string          `json:"contact_email"`
	BuyerAcceptsMarketing bool             `json:"buyer_accepts_marketing"`
	CheckoutToken         *string          `json:"checkout_token"`
	CartToken             *string          `json:"cart_token"`
	TotalPrice            *string          `json:"total_price"`
	Currency              *string          `json:"currency"`
	CustomerLocale        *string          `json:"customer_locale"`
	CreatedAt             *string          `json:"created_at"`
	ProcessedAt           *string          `json:"processed_at"`
	UpdatedAt             *string          `json:"updated_at"`
	CancelledAt           *string          `json:"cancelled_at"`
	FulfillmentStatus     *string          `json:"fulfillment_status"`
	Fulfillments          []fulfillment    `json:"fulfillments"`
	LineItems             []lineItem       `json:"line_items"`
	Customer              *customerPayload `json:"customer"`
}

type fulfillment struct {
	Status    *string `json:"status"`
	CreatedAt *string `json:"created_at"`
}

func parseTime(s *string) *time.Time {
	if s == nil {
		return nil
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(*s))
	if err != nil {
		return nil
	}
	t = t.UTC()
	return &t
}

func (h *commerce) order(ctx context.Context, d Delivery) error {
	var p orderPayload
	if err := decode(d, &p); err != nil {
		return err
	}
	if p.ID == 0 {
		return fmt.Errorf("webhook: %s: no order id: %w", d.Topic, ErrPermanent)
	}
	shopID, ok, err := h.shopID(ctx, d)
	if !ok || err != nil {
		return err
	}
	orderedAt, ok := when(d, p.ProcessedAt, p.CreatedAt)
	if !ok {
		return noTime(d)
	}
	updatedAt, _ := when(d, p.UpdatedAt)
	if updatedAt.IsZero() {
		updatedAt = orderedAt
	}
	checkoutToken, cartToken := strings.TrimSpace(str(p.CheckoutToken)), strings.TrimSpace(str(p.CartToken))

	c, err := h.orderContact(ctx, shopID, &p, checkoutToken, cartToken)
	if err != nil {
		return fmt.Errorf("webhook: %s: %w", d.Topic, err)
	}
	o := contact.Order{ID: p.ID, CheckoutToken: checkoutToken, CartToken: cartToken, TotalPrice: str(p.TotalPrice),
		Currency: str(p.Currency), OrderedAt: orderedAt, UpdatedAt: updatedAt, CancelledAt: parseTime(p.CancelledAt)}
	if d.Topic == "orders/fulfilled" || str(p.FulfillmentStatus) == "fulfilled" {
		at := updatedAt
		for _, f := range p.Fulfillments {
			if t := parseTime(f.CreatedAt); t != nil && str(f.Status) != "cancelled" && t.Before(at) {
				at = *t
			}
		}
		o.FulfilledAt = &at
	}
	var productIDs []int64
	for _, it := range p.LineItems {
		var pid, vid int64
		if it.ProductID != nil {
			pid = *it.ProductID
			productIDs = append(productIDs, pid)
		}
		if it.VariantID != nil {
			vid = *it.VariantID
		}
		o.Items = append(o.Items, contact.OrderItem{ProductID: pid, VariantID: vid, Quantity: it.Quantity, Title: str(it.Title), Price: str(it.Price)})
	}
	if c != nil {
		o.ContactID = c.ID
	}
	if _, err := h.contacts.RecordOrder(ctx, shopID, o); err != nil {
		return fmt.Errorf("webhook: %s: %w", d.Topic, err)
	}
	if c == nil {
		// Kept with its tokens; attributed when one is tied to a contact.
		slog.InfoContext(ctx, "webhook: order without identity recorded anonymously", "shop", d.ShopDomain, "order_id", p.ID)
		return nil
	}
	if p.BuyerAcceptsMarketing {
		if _, err := h.contacts.SetConsent(ctx, shopID, c.ID, contact.Subscribed, orderedAt, "order"); err != nil {
			return fmt.Errorf("webhook: %s: %w", d.Topic, err)
		}
	}

	switch {
	case o.CancelledAt != nil:
		err = h.engine.ExitOrder(ctx, shopID, p.ID, journey.ReasonCancelled)
	case d.Topic == "orders/create" || d.Topic == "orders/paid":
		// Both announce the order (whichever arrives first); the engine keeps
		// one enrollment per order and flow.
		err = h.engine.Trigger(ctx, journey.Event{ShopID: shopID, ContactID: c.ID, Trigger: flow.OrderPlaced, At: orderedAt,
			OrderID: p.ID, ProductIDs: productIDs, Subject: fmt.Sprint(p.ID),
			Context: map[string]string{"order_id": fmt.Sprint(p.ID), "total_price": contact.Decimal(str(p.TotalPrice)), "currency": str(p.Currency)}})
	case o.FulfilledAt != nil:
		err = h.engine.OrderFulfilled(ctx, shopID, p.ID, *o.FulfilledAt)
	}
	if err != nil {
		return fmt.Errorf("webhook: %s: %w", d.Topic, err)
	}
	return nil
}

// orderContact finds who placed the order: by email or customer id, else
// by the checkout or cart token already tied to someone; nil when nobody.
func (h *commerce) orderContact(ctx context.Context, shopID int64, p *orderPayload, checkoutToken, cartToken string) (*contact.Contact, error) {
	email := str(p.Email)
	if contact.NormalizeEmail(email) == "" {
		email = str(p.ContactEmail)
	}
	var customerID int64
	var first, last string
	if p.Customer != nil {
		customerID, first, last = p.Customer.ID, str(p.Customer.FirstName), str(p.Customer.LastName)
		if contact.NormalizeEmail(email) == "" {
			email = str(p.Customer.Email)
		}
	}
	var c *contact.Contact
	var err error
	if contact.NormalizeEmail(email) != "" || customerID != 0 {
		c, err = h.contacts.Upsert(ctx, shopID, contact.Profile{Email: email, CustomerID: customerID, FirstName: first, LastName: last,
			Locale: str(p.CustomerLocale)})
		if err != nil {
			return nil, err
		}
	} else {
		for _, id := range []struct {
			kind  contact.IdentityKind
			value string
		}{{contact.Checkout, checkoutToken}, {contact.Cart, cartToken}} {
			if id.value == "" {
				continue
			}
			c, err = h.contacts.ByIdentity(ctx, shopID, id.kind, id.value)
			if err == nil {
				break
			}
			if !errors.Is(err, contact.ErrNotFound) {
				return nil, err
			}
			c = nil
		}
	}
	if c == nil {
		return nil, nil
	}
	return c, h.link(ctx, shopID, c.ID, checkoutToken, cartToken)
}
