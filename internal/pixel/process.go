package pixel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"gorm.io/gorm"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/mail"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/webhook"
)

// Journey is what processing needs of the engine (*journey.Engine).
type Journey interface {
	Trigger(ctx context.Context, ev journey.Event) error
	Identify(ctx context.Context, shopID, contactID int64, kind contact.IdentityKind, value string) error
}

// Processor turns recorded pixel batches into identity and triggers.
type Processor struct {
	db       *gorm.DB
	shops    webhook.ShopFinder
	contacts *contact.Store
	engine   Journey
	links    *mail.LinkSigner
	log      *slog.Logger
}

// NewProcessor returns the worker side; Register adds it to the inbox's
// registry.
func NewProcessor(db *gorm.DB, shops webhook.ShopFinder, contacts *contact.Store, engine Journey, links *mail.LinkSigner) *Processor {
	return &Processor{db: db, shops: shops, contacts: contacts, engine: engine, links: links, log: slog.Default()}
}

// Register handles the Topic deliveries of the inbox.
func (p *Processor) Register(r *webhook.Registry) { r.Handle(Topic, p.Handle) }

// Handle processes one recorded batch. It is idempotent: Touch keeps the
// newest activity, Link keeps the first owner, Trigger ignores a repeated
// event, token rows are upserts.
func (p *Processor) Handle(ctx context.Context, d webhook.Delivery) error {
	var b Batch
	if err := json.Unmarshal(d.Payload, &b); err != nil || b.ClientID == "" {
		return fmt.Errorf("pixel: undecodable batch: %w", errors.Join(webhook.ErrPermanent, err))
	}
	s, err := p.shops.Get(ctx, d.ShopDomain)
	if errors.Is(err, shop.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pixel: find shop: %w", err)
	}
	if s.UninstalledAt != nil {
		return nil
	}
	shopID := s.ID
	sort.SliceStable(b.Events, func(i, j int) bool { return b.Events[i].Timestamp.Before(b.Events[j].Timestamp) })

	// 1. What the client did, recorded whether or not we know who it is.
	var lastView *Event
	for i := range b.Events {
		ev := &b.Events[i]
		processed.WithLabelValues(ev.Name).Inc()
		switch ev.Name {
		case ProductViewed:
			if ev.Data.ProductID == "" {
				continue
			}
			act := journey.ActivityData{ProductID: ev.Data.ProductID}
			if _, _, err := p.contacts.Touch(ctx, shopID, contact.Client, b.ClientID, ev.Timestamp, act.Encode()); err != nil {
				return err
			}
			lastView = ev
		case ProductAddedToCart, CheckoutStarted, CheckoutContactInfo, CheckoutCompleted:
			if err := p.rememberTokens(ctx, shopID, b.ClientID, ev); err != nil {
				return err
			}
		}
	}

	// 2. Who the client is: the client id already tied to a contact, a
	// logged-in customer, a Relance email click, a checkout email.
	contactID, err := p.resolve(ctx, shopID, &b)
	if err != nil || contactID == 0 {
		return err
	}

	// 3. Tie the client (replaying its anonymous browsing) and every cart
	// and checkout it was seen with (replaying those).
	if err := p.engine.Identify(ctx, shopID, contactID, contact.Client, b.ClientID); err != nil {
		return fmt.Errorf("pixel: identify client: %w", err)
	}
	owner, err := p.contacts.ByIdentity(ctx, shopID, contact.Client, b.ClientID)
	if err != nil && !errors.Is(err, contact.ErrNotFound) {
		return err
	}
	if owner == nil || owner.ID != contactID {
		// The client id belongs to someone else (first owner wins): a shared
		// browser; nothing of it is attributed to this contact.
		return nil
	}
	tokens, err := p.tokens(ctx, shopID, b.ClientID)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		if err := p.engine.Identify(ctx, shopID, contactID, t.Kind, t.Value); err != nil {
			return fmt.Errorf("pixel: identify %s: %w", t.Kind, err)
		}
	}
	if lastView != nil {
		// Views of an identified visitor: browse abandonment (a repeated
		// event is harmless, the engine keeps one enrollment).
		err := p.engine.Trigger(ctx, journey.Event{ShopID: shopID, ContactID: contactID, Trigger: flow.ProductViewed,
			At: lastView.Timestamp, Subject: lastView.Data.ProductID, Context: viewContext(lastView)})
		if err != nil {
			return fmt.Errorf("pixel: product viewed: %w", err)
		}
	}
	return nil
}

func viewContext(ev *Event) map[string]string {
	m := map[string]string{"product_id": ev.Data.ProductID}
	if ev.Data.ProductTitle != "" {
		m["product_title"] = ev.Data.ProductTitle
	}
	if ev.Data.URL != "" {
		m["product_path"] = ev.Data.URL
	}
	if ev.Data.Price != "" {
		m["product_price"] = ev.Data.Price
	}
	return m
}

// resolve finds the contact behind the batch, or 0.
func (p *Processor) resolve(ctx context.Context, shopID int64, b *Batch) (int64, error) {
	// A checkout email typed in this batch: the same trust as a
	// checkouts/create webhook, which creates the contact too.
	for i := len(b.Events) - 1; i >= 0; i-- {
		if e := b.Events[i].Data.Email; e != "" {
			c, err := p.contacts.Upsert(ctx, shopID, contact.Profile{Email: e})
			if err != nil {
				return 0, fmt.Errorf("pixel: checkout email: %w", err)
			}
			return c.ID, nil
		}
	}
	// A click of one of our emails: the token is signed for this shop.
	if b.RL != "" && p.links != nil {
		if cl, err := p.links.Verify(b.RL, mail.PurposeIdentify); err == nil && cl.ShopID == shopID {
			if c, err := p.contacts.Get(ctx, shopID, cl.ContactID); err == nil {
				return c.ID, nil
			} else if !errors.Is(err, contact.ErrNotFound) {
				return 0, err
			}
		}
	}
	// A logged-in customer: only an existing contact (customers/create made
	// it). The id comes from an unauthenticated request, so it never
	// creates a contact.
	if b.CustomerID > 0 {
		c, err := p.contacts.ByCustomerID(ctx, shopID, b.CustomerID)
		if err == nil {
			return c.ID, nil
		}
		if !errors.Is(err, contact.ErrNotFound) {
			return 0, err
		}
	}
	c, err := p.contacts.ByIdentity(ctx, shopID, contact.Client, b.ClientID)
	if err == nil {
		return c.ID, nil
	}
	if errors.Is(err, contact.ErrNotFound) {
		return 0, nil
	}
	return 0, err
}

type clientToken struct {
	Kind  contact.IdentityKind
	Value string
}

func (p *Processor) rememberTokens(ctx context.Context, shopID int64, client string, ev *Event) error {
	for _, t := range []clientToken{{contact.Cart, ev.Data.CartToken}, {contact.Checkout, ev.Data.CheckoutToken}} {
		if t.Value == "" {
			continue
		}
		err := p.db.WithContext(ctx).Exec(`INSERT INTO pixel_client_tokens (shop_id, client_id, kind, value, seen_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (shop_id, client_id, kind, value) DO UPDATE SET seen_at = GREATEST(pixel_client_tokens.seen_at, EXCLUDED.seen_at)`,
			shopID, client, string(t.Kind), t.Value, ev.Timestamp).Error
		if err != nil {
			return fmt.Errorf("pixel: remember %s token: %w", t.Kind, err)
		}
	}
	return nil
}

// tokens lists the client's recent carts and checkouts, oldest first.
func (p *Processor) tokens(ctx context.Context, shopID int64, client string) ([]clientToken, error) {
	var out []clientToken
	err := p.db.WithContext(ctx).Raw(`SELECT kind, value FROM pixel_client_tokens
		WHERE shop_id = ? AND client_id = ? AND seen_at > ? ORDER BY seen_at LIMIT 50`,
		shopID, client, time.Now().Add(-30*24*time.Hour)).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("pixel: tokens of client: %w", err)
	}
	return out, nil
}
