package journey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
)

// Event is a shopper behaviour, normalized from a webhook, a pixel event or
// the quiz, for a contact that exists.
type Event struct {
	ShopID    int64
	ContactID int64
	Trigger   flow.Trigger
	// At is when the shopper did it (payload updated_at or
	// X-Shopify-Triggered-At), never when we received it.
	At time.Time
	// Subject is what the flow is about: checkout token, cart token, product id.
	Subject    string
	OrderID    int64   // order_placed
	ProductIDs []int64 // order_placed: bought products (replenishment)
	Segment    string  // quiz_completed
	Context    map[string]string
}

// Trigger applies an event: an order first exits every purchase-goal
// enrollment that began before it, then every enabled flow the event starts
// is entered, subject to the ladder, re-entry, consent and purchase checks.
// Re-applying the same event is harmless. It returns an error wrapping
// contact.ErrNotFound when the contact does not exist. Under a context from
// Defer, the event is only collected.
func (e *Engine) Trigger(ctx context.Context, ev Event) error {
	if d := deferred(ctx); d != nil {
		d.add(ev)
		return nil
	}
	err := e.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := genericPlans(tx); err != nil {
			return err
		}
		missing, err := e.apply(ctx, tx, []Event{ev}, "")
		if err == nil && len(missing) > 0 {
			err = contact.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("journey: trigger %s for contact %d in shop %d: %w", ev.Trigger, ev.ContactID, ev.ShopID, err)
	}
	return nil
}

// TriggerBatch applies events as Trigger does, in order, in one transaction
// and with a few statements for the whole batch instead of a few per event:
// the way to apply the events of many deliveries at once. Events of a
// contact that does not exist (deleted meanwhile) are logged and skipped. On
// error nothing is applied; retrying the whole batch is harmless. Batches of
// up to a few hundred events keep the transaction, and so the contact row
// locks, short.
func (e *Engine) TriggerBatch(ctx context.Context, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	var missing []Event
	err := e.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := genericPlans(tx); err != nil {
			return err
		}
		var err error
		missing, err = e.apply(ctx, tx, slices.Clone(evs), "")
		return err
	})
	if err != nil {
		return fmt.Errorf("journey: trigger a batch of %d events: %w", len(evs), err)
	}
	for _, ev := range missing {
		e.log.Warn("journey: event for a contact that does not exist, skipped", "shop_id", ev.ShopID, "contact_id", ev.ContactID,
			"trigger", ev.Trigger)
	}
	return nil
}

func (e *Engine) skipEnroll(c *contact.Contact, f *flow.Flow, ev Event, why string) error {
	e.log.Debug("journey: not enrolled", "shop_id", c.ShopID, "contact_id", c.ID, "flow", f.Key, "trigger", ev.Trigger, "reason", why)
	return nil
}

// schedule sets en's due time for step, counting from base. A step after
// fulfilment waits (no due time) until fulfilledAt is known.
func (e *Engine) schedule(en *Enrollment, step flow.Step, base time.Time, loc *time.Location, lifeDays int, fulfilledAt *time.Time) {
	en.WaitingFor = ""
	if step.AfterFulfilment {
		if fulfilledAt == nil {
			en.NextRunAt, en.WaitingFor = nil, "fulfilment"
			return
		}
		base = *fulfilledAt
	}
	if lifeDays == 0 {
		lifeDays, _ = strconv.Atoi(en.contextMap()["usable_life_days"]) // 0 when absent
	}
	due := step.Delay.Due(base, loc, e.scale, lifeDays)
	if now := e.clock.Now(); due.Before(now) {
		due = now // a late event: run now, the step re-checks everything
	}
	due = due.UTC().Truncate(time.Microsecond) // PostgreSQL precision, so task ids match the row
	en.NextRunAt = &due
}

// OrderFulfilled starts the wait of post-purchase steps that count from the
// fulfilment of the order.
func (e *Engine) OrderFulfilled(ctx context.Context, shopID, orderID int64, at time.Time) error {
	if err := e.flushDeferred(ctx); err != nil {
		return err
	}
	err := e.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var waiting []Enrollment
		if err := tx.Raw(`SELECT * FROM enrollments WHERE shop_id = ? AND order_id = ? AND status = 'active' FOR NO KEY UPDATE`,
			shopID, orderID).Scan(&waiting).Error; err != nil {
			return err
		}
		for i := range waiting {
			en := &waiting[i]
			m := en.contextMap()
			if _, done := m["fulfilled_at"]; done {
				continue
			}
			m["fulfilled_at"] = at.UTC().Format(time.RFC3339Nano)
			set := map[string]any{"context": encodeContext(m), "updated_at": gorm.Expr("now()")}
			if en.WaitingFor == "fulfilment" {
				f, err := e.flows.Version(ctx, shopID, en.FlowKey, en.FlowVersion)
				if err != nil {
					return err
				}
				b := f.BranchByKey(en.Branch)
				if b != nil && en.Step < len(b.Steps) {
					loc, err := e.shopZone(tx, shopID)
					if err != nil {
						return err
					}
					e.schedule(en, b.Steps[en.Step], at, loc, 0, &at)
					set["next_run_at"], set["waiting_for"], set["enqueued_for"] = en.NextRunAt, en.WaitingFor, nil
				}
			}
			if err := tx.Model(&Enrollment{}).Where("id = ?", en.ID).Updates(set).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("journey: order %d fulfilled in shop %d: %w", orderID, shopID, err)
	}
	return nil
}

// ExitContact ends a contact's active enrollments (all, or only those of the
// given flows): unsubscribed, suppressed, deleted. The step task re-checks
// consent anyway; this stops the schedule early.
func (e *Engine) ExitContact(ctx context.Context, shopID, contactID int64, reason string, keys ...flow.Key) error {
	if err := e.flushDeferred(ctx); err != nil {
		return err
	}
	where, args := "contact_id = ?", []any{contactID}
	if len(keys) > 0 {
		where += " AND flow_key IN ?"
		args = append(args, keys)
	}
	if _, err := e.exitWhere(e.db.WithContext(ctx), shopID, reason, where, args...); err != nil {
		return err
	}
	return nil
}

// ExitSubject ends the active enrollments of a flow about one subject (a
// deleted checkout, an emptied cart), when the flow exits on it.
func (e *Engine) ExitSubject(ctx context.Context, shopID int64, key flow.Key, subject, reason string) error {
	if err := e.flushDeferred(ctx); err != nil {
		return err
	}
	if subject == "" {
		return nil
	}
	_, err := e.exitWhere(e.db.WithContext(ctx), shopID, reason, "flow_key = ? AND subject = ?", key, subject)
	return err
}

// ExitOrder ends the active enrollments started by an order (cancelled).
func (e *Engine) ExitOrder(ctx context.Context, shopID, orderID int64, reason string) error {
	if err := e.flushDeferred(ctx); err != nil {
		return err
	}
	_, err := e.exitWhere(e.db.WithContext(ctx), shopID, reason, "order_id = ?", orderID)
	return err
}

// ExitCheckout ends checkout abandonment for a deleted checkout, matched by
// its id or its cart token (checkouts/delete carries nothing else).
func (e *Engine) ExitCheckout(ctx context.Context, shopID, checkoutID int64, cartToken string) error {
	if err := e.flushDeferred(ctx); err != nil {
		return err
	}
	if checkoutID == 0 && cartToken == "" {
		return nil
	}
	id := ""
	if checkoutID != 0 {
		id = itoa(checkoutID)
	}
	_, err := e.exitWhere(e.db.WithContext(ctx), shopID, ReasonEmptied,
		"flow_key = ? AND ((? <> '' AND context->>'checkout_id' = ?) OR (? <> '' AND context->>'cart_token' = ?))",
		flow.Checkout, id, id, cartToken, cartToken)
	return err
}

// CancelShopWork ends every active enrollment of an uninstalled shop
// (webhook.ShopWorkCanceller). Idempotent.
func (e *Engine) CancelShopWork(ctx context.Context, shopDomain string) error {
	if err := e.flushDeferred(ctx); err != nil {
		return err
	}
	var ids []int64
	if err := e.db.WithContext(ctx).Raw(`SELECT id FROM shops WHERE domain = ?`, shopDomain).Scan(&ids).Error; err != nil {
		return fmt.Errorf("journey: cancel work of %s: %w", shopDomain, err)
	}
	for _, id := range ids {
		if _, err := e.exitWhere(e.db.WithContext(ctx), id, ReasonUninstalled, "true"); err != nil {
			return err
		}
	}
	return nil
}

// ErrCannotLeave is returned by Leave for a flow shoppers cannot leave from
// an email.
var ErrCannotLeave = errors.New("journey: this flow cannot be left from an email")

// Leave ends an enrollment at the shopper's request (the "stop reminding me"
// link of cart emails).
func (e *Engine) Leave(ctx context.Context, shopID, enrollmentID int64) error {
	if err := e.flushDeferred(ctx); err != nil {
		return err
	}
	var en Enrollment
	if err := e.db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, enrollmentID).Take(&en).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrNotFound
		}
		return fmt.Errorf("journey: leave %d: %w", enrollmentID, err)
	}
	f, err := e.flows.Version(ctx, shopID, en.FlowKey, en.FlowVersion)
	if err != nil {
		return err
	}
	if !f.HasExit(flow.ExitLeave) {
		return ErrCannotLeave
	}
	_, err = e.exitWhere(e.db.WithContext(ctx), shopID, ReasonLeft, "id = ?", enrollmentID)
	return err
}

// Identify ties storefront identities (cart token, client id, checkout
// token) to a contact and replays what they did while anonymous: a cart
// becomes a cart abandonment from the time it was last updated, a viewed
// product a browse abandonment.
func (e *Engine) Identify(ctx context.Context, shopID, contactID int64, kind contact.IdentityKind, value string) error {
	act, err := e.contacts.Link(ctx, shopID, contactID, kind, value)
	if err != nil {
		return err
	}
	if act == nil {
		return nil
	}
	ev := Event{ShopID: shopID, ContactID: contactID, At: act.At, Subject: value}
	switch kind {
	case contact.Cart:
		ev.Trigger, ev.Context = flow.CartUpdated, map[string]string{"cart_token": value}
	case contact.Client:
		ev.Trigger = flow.ProductViewed
	default:
		return nil
	}
	var data ActivityData
	if err := json.Unmarshal(act.Data, &data); err != nil || data.Items == 0 && data.ProductID == "" {
		return nil // nothing worth a reminder
	}
	if kind == contact.Client {
		ev.Subject = data.ProductID
		ev.Context = map[string]string{"product_id": data.ProductID}
	}
	return e.Trigger(ctx, ev)
}

// ActivityData is what an identity's activity records (contact.Touch), so it
// can be replayed when the identity is tied to a contact.
type ActivityData struct {
	Items     int    `json:"items,omitempty"`      // cart: line items
	Total     string `json:"total,omitempty"`      // cart: decimal total
	ProductID string `json:"product_id,omitempty"` // client: last product viewed
	// Lines of the cart or checkout, for the reminder emails (at most
	// MaxActivityLines, see ActivityLines).
	Lines []ActivityLine `json:"lines,omitempty"`
}

// ActivityLine is one cart or checkout line as a reminder shows it. Price is
// the decimal unit price in the cart's currency.
type ActivityLine struct {
	Title    string `json:"t"`
	Variant  string `json:"v,omitempty"`
	Quantity int    `json:"q"`
	Price    string `json:"p,omitempty"`
}

// MaxActivityLines bounds the lines kept per cart or checkout: an email
// shows a handful, and the row stays small.
const MaxActivityLines = 10

// ActivityLines keeps the first MaxActivityLines lines with a title and a
// positive quantity, titles cut to 200 characters.
func ActivityLines(lines []ActivityLine) []ActivityLine {
	var out []ActivityLine
	for _, l := range lines {
		if len(out) == MaxActivityLines {
			break
		}
		l.Title, l.Variant = cut(strings.TrimSpace(l.Title), 200), cut(strings.TrimSpace(l.Variant), 100)
		if l.Title == "" || l.Quantity <= 0 {
			continue
		}
		out = append(out, l)
	}
	return out
}

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// DecodeActivity reads what Encode wrote.
func DecodeActivity(b json.RawMessage) (ActivityData, error) {
	var a ActivityData
	if len(b) == 0 {
		return a, nil
	}
	err := json.Unmarshal(b, &a)
	return a, err
}

// Encode returns the JSON stored with the activity.
func (a ActivityData) Encode() json.RawMessage {
	b, _ := json.Marshal(a) // plain fields always encode
	return b
}
