package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"strings"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
)

// RegisterCarts wires carts/create|update. Cart payloads carry no identity:
// a cart is followed anonymously until its token is tied to a contact (a
// checkout, a pixel event, a click), then cart abandonment starts from its
// last update.
func RegisterCarts(r *Registry, shops ShopFinder, contacts *contact.Store, engine Journey) {
	h := &commerce{shops: shops, contacts: contacts, engine: engine}
	r.Handle("carts/create", h.cart)
	r.Handle("carts/update", h.cart)
}

type cartPayload struct {
	ID        string     `json:"id"`
	Token     string     `json:"token"`
	LineItems []cartLine `json:"line_items"`
	CreatedAt *string    `json:"created_at"`
	UpdatedAt *string    `json:"updated_at"`
}

type cartLine struct {
	ProductID    *int64  `json:"product_id"`
	Quantity     int     `json:"quantity"`
	Title        *string `json:"title"`
	VariantTitle *string `json:"variant_title"`
	Price        *string `json:"price"`
	LinePrice    *string `json:"line_price"`
}

func (h *commerce) cart(ctx context.Context, d Delivery) error {
	var p cartPayload
	if err := decode(d, &p); err != nil {
		return err
	}
	token := strings.TrimSpace(p.Token)
	if token == "" {
		token = strings.TrimSpace(p.ID)
	}
	if token == "" {
		slog.WarnContext(ctx, "webhook: cart without token ignored", "shop", d.ShopDomain, "webhook_id", d.WebhookID)
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
	items, total := 0, new(big.Rat)
	lines := make([]journey.ActivityLine, 0, len(p.LineItems))
	for _, l := range p.LineItems {
		items += max(l.Quantity, 0)
		if v, ok := new(big.Rat).SetString(contact.Decimal(str(l.LinePrice))); ok {
			total.Add(total, v)
		}
		lines = append(lines, journey.ActivityLine{Title: str(l.Title), Variant: str(l.VariantTitle), Quantity: l.Quantity,
			Price: price(l.Price)})
	}
	act := journey.ActivityData{Items: items, Total: total.FloatString(2), Lines: journey.ActivityLines(lines)}
	owner, fresh, err := h.contacts.Touch(ctx, shopID, contact.Cart, token, at, act.Encode())
	if err != nil {
		return fmt.Errorf("webhook: %s: %w", d.Topic, err)
	}
	switch {
	case !fresh:
		slog.InfoContext(ctx, "webhook: cart update older than the one held, ignored", "shop", d.ShopDomain, "webhook_id", d.WebhookID)
		return nil
	case owner == 0:
		return nil // anonymous for now; journey.Engine.Identify replays it
	case items == 0:
		err = h.engine.ExitSubject(ctx, shopID, flow.Cart, token, journey.ReasonEmptied)
	default:
		err = h.engine.Trigger(ctx, journey.Event{ShopID: shopID, ContactID: owner, Trigger: flow.CartUpdated, At: at, Subject: token,
			Context: map[string]string{"cart_token": token, "items": fmt.Sprint(items), "total_price": act.Total}})
	}
	if err != nil {
		return fmt.Errorf("webhook: %s: %w", d.Topic, err)
	}
	return nil
}
