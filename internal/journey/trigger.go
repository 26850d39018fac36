package journey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
// Re-applying the same event is harmless.
func (e *Engine) Trigger(ctx context.Context, ev Event) error {
	if ev.At.IsZero() {
		ev.At = e.clock.Now()
	}
	flows, err := e.flows.Enabled(ctx, ev.ShopID)
	if err != nil {
		return fmt.Errorf("journey: trigger %s: %w", ev.Trigger, err)
	}
	err = e.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The contact row lock serializes everything that happens to one shopper.
		c, err := e.contacts.WithTx(tx).Lock(ctx, ev.ShopID, ev.ContactID)
		if err != nil {
			return err
		}
		if ev.Trigger == flow.OrderPlaced {
			// Enrollments that began after the order (a later checkout) are
			// not reached by it, even if the order arrives late.
			// Nor are those this very order started (replenishment), when
			// orders/paid follows orders/create.
			if _, err := e.exitWhere(tx, ev.ShopID, ReasonPurchased, "contact_id = ? AND goal_purchase AND trigger_at <= ? AND (order_id IS NULL OR order_id <> ?)",
				c.ID, ev.At, ev.OrderID); err != nil {
				return err
			}
		}
		for _, f := range flows {
			if !f.StartsOn(ev.Trigger) {
				continue
			}
			if err := e.enroll(ctx, tx, c, f, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("journey: trigger %s for contact %d in shop %d: %w", ev.Trigger, ev.ContactID, ev.ShopID, err)
	}
	return nil
}

func (e *Engine) skipEnroll(c *contact.Contact, f *flow.Flow, ev Event, why string) error {
	e.log.Debug("journey: not enrolled", "shop_id", c.ShopID, "contact_id", c.ID, "flow", f.Key, "trigger", ev.Trigger, "reason", why)
	return nil
}

// enroll enters c into f for ev, inside the caller's transaction (contact
// row locked).
func (e *Engine) enroll(ctx context.Context, tx *gorm.DB, c *contact.Contact, f *flow.Flow, ev Event) error {
	now := e.clock.Now()
	if c.Suppressed() {
		return e.skipEnroll(c, f, ev, ReasonSuppressed)
	}
	if c.Email == nil {
		return e.skipEnroll(c, f, ev, ReasonNoEmail)
	}
	contacts := e.contacts.WithTx(tx)
	if f.Goal == flow.GoalPurchase && ev.Trigger != flow.OrderPlaced {
		// An order that arrived before its (late) checkout or cart event.
		bought, err := contacts.OrderedSince(ctx, c.ShopID, c.ID, ev.At, 0)
		if err != nil {
			return err
		}
		if !bought && ev.Trigger == flow.CheckoutStarted && ev.Subject != "" {
			if bought, err = contacts.CheckoutCompleted(ctx, c.ShopID, ev.Subject); err != nil {
				return err
			}
		}
		if bought {
			return e.skipEnroll(c, f, ev, ReasonPurchased)
		}
	}

	var active []Enrollment
	if err := tx.Raw(`SELECT * FROM enrollments WHERE shop_id = ? AND contact_id = ? AND status = 'active' FOR NO KEY UPDATE`,
		c.ShopID, c.ID).Scan(&active).Error; err != nil {
		return fmt.Errorf("journey: read enrollments: %w", err)
	}
	var same *Enrollment
	for i := range active {
		if active[i].FlowKey == f.Key {
			same = &active[i]
		}
		if f.Ladder > 0 && active[i].Ladder > f.Ladder {
			return e.skipEnroll(c, f, ev, "higher_rung_active")
		}
	}

	if ev.OrderID != 0 {
		// orders/create and orders/paid both announce an order: one enrollment per order.
		var n int64
		if err := tx.Model(&Enrollment{}).Where("shop_id = ? AND contact_id = ? AND flow_key = ? AND order_id = ?",
			c.ShopID, c.ID, f.Key, ev.OrderID).Count(&n).Error; err != nil {
			return fmt.Errorf("journey: enrollments of order: %w", err)
		}
		if n > 0 {
			return e.skipEnroll(c, f, ev, "same_order")
		}
	}
	if same != nil {
		switch {
		case f.Ladder > 0:
			return e.follow(tx, same, f, ev)
		case f.Restart:
			if _, err := e.exitWhere(tx, c.ShopID, ReasonRestarted, "id = ?", same.ID); err != nil {
				return err
			}
		default:
			return e.skipEnroll(c, f, ev, "already_enrolled")
		}
	}

	if f.Reentry.Once || f.Reentry.CooldownDays > 0 {
		q := tx.Model(&Enrollment{}).Where("shop_id = ? AND contact_id = ? AND flow_key = ? AND status <> 'active'", c.ShopID, c.ID, f.Key)
		if !f.Reentry.Once {
			since := now.Add(-e.scale(time.Duration(f.Reentry.CooldownDays) * 24 * time.Hour))
			// Ladder moves do not count: the shopper never got through that flow.
			q = q.Where("started_at > ? AND exit_reason <> ?", since, ReasonMovedUp)
		}
		var n int64
		if err := q.Count(&n).Error; err != nil {
			return fmt.Errorf("journey: re-entry of %s: %w", f.Key, err)
		}
		if n > 0 {
			return e.skipEnroll(c, f, ev, "reentry")
		}
	}

	settings, err := e.settings(tx, c.ShopID)
	if err != nil {
		return err
	}
	facts := flow.Facts{Trigger: ev.Trigger, OrdersCount: c.OrdersCount, Segment: ev.Segment}
	subject := ev.Subject
	ctxMap := maps.Clone(ev.Context)
	if ctxMap == nil {
		ctxMap = map[string]string{}
	}
	lifeDays := settings.UsableLifeDays
	if len(ev.ProductIDs) > 0 {
		product, days, err := e.usableLife(tx, c.ShopID, ev.ProductIDs, settings.UsableLifeDays)
		if err != nil {
			return err
		}
		lifeDays = days
		if product != 0 {
			subject = itoa(product)
			ctxMap["product_id"] = subject
			n, err := contacts.ProductPurchases(ctx, c.ShopID, c.ID, product)
			if err != nil {
				return err
			}
			facts.RepeatProduct = n >= 3
		}
	}
	if ev.OrderID != 0 {
		ctxMap["order_id"] = itoa(ev.OrderID)
	}
	if ev.Segment != "" {
		ctxMap["segment"] = ev.Segment
	}
	if lifeDays > 0 {
		ctxMap["usable_life_days"] = itoa(int64(lifeDays))
	}
	branch := f.Branch(facts)
	if branch == nil || len(branch.Steps) == 0 {
		return e.skipEnroll(c, f, ev, "no_branch")
	}

	if f.Ladder > 0 {
		// Moving down the funnel: the more advanced flow replaces lower rungs.
		if _, err := e.exitWhere(tx, c.ShopID, ReasonMovedUp, "contact_id = ? AND ladder > 0 AND ladder < ?", c.ID, f.Ladder); err != nil {
			return err
		}
	}
	loc, err := e.shopZone(tx, c.ShopID)
	if err != nil {
		return err
	}
	en := Enrollment{
		ShopID: c.ShopID, ContactID: c.ID, FlowKey: f.Key, FlowVersion: f.Version, Branch: branch.Key,
		GoalPurchase: f.Goal == flow.GoalPurchase, Ladder: f.Ladder, Status: StatusActive, Subject: subject,
		Context: encodeContext(ctxMap), TriggerAt: ev.At, StartedAt: now, UpdatedAt: now,
	}
	if ev.OrderID != 0 {
		en.OrderID = &ev.OrderID
	}
	e.schedule(&en, branch.Steps[0], ev.At, loc, lifeDays, nil)
	if err := tx.Create(&en).Error; err != nil {
		return fmt.Errorf("journey: enroll in %s: %w", f.Key, err)
	}
	e.log.Info("journey: enrolled", "shop_id", c.ShopID, "contact_id", c.ID, "flow", f.Key, "version", f.Version,
		"branch", branch.Key, "enrollment_id", en.ID)
	return nil
}

// follow keeps an abandonment enrollment on the shopper's newest cart or
// checkout; while no reminder went out, the wait restarts from the newest
// activity (the shopper is still there).
func (e *Engine) follow(tx *gorm.DB, en *Enrollment, f *flow.Flow, ev Event) error {
	if !ev.At.After(en.TriggerAt) {
		return nil // an older or repeated event
	}
	m := en.contextMap()
	maps.Copy(m, ev.Context)
	set := map[string]any{"subject": ev.Subject, "context": encodeContext(m), "updated_at": gorm.Expr("now()")}
	if en.Step == 0 {
		branch := f.BranchByKey(en.Branch)
		if branch != nil && len(branch.Steps) > 0 {
			loc, err := e.shopZone(tx, en.ShopID)
			if err != nil {
				return err
			}
			e.schedule(en, branch.Steps[0], ev.At, loc, 0, nil)
			set["trigger_at"] = ev.At
			set["next_run_at"] = en.NextRunAt
			set["enqueued_for"] = nil
			set["waiting_for"] = en.WaitingFor
		}
	}
	if err := tx.Model(&Enrollment{}).Where("id = ?", en.ID).Updates(set).Error; err != nil {
		return fmt.Errorf("journey: follow enrollment %d: %w", en.ID, err)
	}
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
	if subject == "" {
		return nil
	}
	_, err := e.exitWhere(e.db.WithContext(ctx), shopID, reason, "flow_key = ? AND subject = ?", key, subject)
	return err
}

// ExitOrder ends the active enrollments started by an order (cancelled).
func (e *Engine) ExitOrder(ctx context.Context, shopID, orderID int64, reason string) error {
	_, err := e.exitWhere(e.db.WithContext(ctx), shopID, reason, "order_id = ?", orderID)
	return err
}

// ExitCheckout ends checkout abandonment for a deleted checkout, matched by
// its id or its cart token (checkouts/delete carries nothing else).
func (e *Engine) ExitCheckout(ctx context.Context, shopID, checkoutID int64, cartToken string) error {
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
