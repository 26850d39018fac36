package webhook

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/relance/relance/internal/shop"
)

// RegisterCompliance wires the mandatory GDPR topics to the privacy
// registry, and registers the inbox itself as a holder: it records the
// compliance deliveries, so whoever handles them must also cover it.
func RegisterCompliance(r *Registry, p *shop.Privacy) {
	p.Register(InboxHolder{})
	r.Handle("customers/data_request", handleDataRequest(p))
	r.Handle("customers/redact", handleCustomerRedact(p))
	r.Handle("shop/redact", handleShopRedact(p))
}

// InboxHolder is the webhook inbox as a privacy holder: raw payloads carry
// shoppers' names, emails, phones and addresses.
type InboxHolder struct{}

// Name implements shop.CustomerDataHolder.
func (InboxHolder) Name() string { return "webhook_inbox" }

// InboxExport is one delivery in a data export.
type InboxExport struct {
	Topic       string          `json:"topic"`
	WebhookID   string          `json:"webhook_id"`
	TriggeredAt *time.Time      `json:"triggered_at,omitempty"`
	ReceivedAt  time.Time       `json:"received_at"`
	Payload     json.RawMessage `json:"payload"`
}

// ExportCustomer returns the shop's deliveries that identify the customer
// (see shop.CustomerRef.Mentions), oldest first; nil when there are none.
func (InboxHolder) ExportCustomer(ctx context.Context, tx *gorm.DB, shopDomain string, c shop.CustomerRef) (any, error) {
	// SQL narrows to rows whose text may mention the customer; Go then keeps
	// only those that really identify them, so no other shopper leaks in.
	cond, args := c.TextMatchSQL("payload::text")
	rows, err := tx.WithContext(ctx).Raw(`
SELECT topic, webhook_id, triggered_at, received_at, payload::text FROM webhook_inbox
WHERE shop_domain = ? AND `+cond+`
ORDER BY COALESCE(triggered_at, received_at), id`, append([]any{shopDomain}, args...)...).Rows()
	if err != nil {
		return nil, fmt.Errorf("webhook: export inbox: %w", err)
	}
	defer rows.Close()
	var out []InboxExport
	for rows.Next() {
		var e InboxExport
		var trig sql.NullTime
		var payload []byte
		if err := rows.Scan(&e.Topic, &e.WebhookID, &trig, &e.ReceivedAt, &payload); err != nil {
			return nil, fmt.Errorf("webhook: export inbox: %w", err)
		}
		v, err := shop.DecodeJSON(payload)
		if err != nil {
			return nil, fmt.Errorf("webhook: export inbox: %w", err)
		}
		if isRedacted(v) || !(c.MentionsValue(v) || topLevelMatch(e.Topic, v, c)) {
			continue
		}
		if e.Payload, err = exportJSON(v); err != nil {
			return nil, fmt.Errorf("webhook: export inbox: %w", err)
		}
		if trig.Valid {
			t := trig.Time.UTC()
			e.TriggeredAt = &t
		}
		e.ReceivedAt = e.ReceivedAt.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhook: export inbox: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// RedactCustomer rewrites every delivery that may mention the customer
// (the customers/redact delivery itself included) to a stub without personal
// data. Pending ones that no run holds are skipped: there is nothing left to
// process. Compliance rows keep their status so their handler still runs
// and finds the stub.
func (InboxHolder) RedactCustomer(ctx context.Context, tx *gorm.DB, shopDomain string, c shop.CustomerRef) error {
	payloadCond, payloadArgs := c.TextMatchSQL("payload::text")
	errCond, errArgs := c.TextMatchSQL("COALESCE(last_error, '')")
	args := []any{complianceList, shopDomain}
	args = append(append(args, payloadArgs...), errArgs...)
	err := tx.WithContext(ctx).Exec(`
UPDATE webhook_inbox SET
	payload = json_build_object('redacted', true, 'topic', topic),
	last_error = NULL,
	status = CASE WHEN status = 'pending' AND topic NOT IN ?
		AND (locked_until IS NULL OR locked_until < now()) THEN 'skipped' ELSE status END
WHERE shop_domain = ? AND (`+payloadCond+` OR `+errCond+`)`, args...).Error
	if err != nil {
		return fmt.Errorf("webhook: redact inbox: %w", err)
	}
	return nil
}

// EraseShop deletes every delivery of the shop, the shop/redact delivery
// included (the dispatcher tolerates its row vanishing).
func (InboxHolder) EraseShop(ctx context.Context, tx *gorm.DB, shopDomain string) error {
	if err := tx.WithContext(ctx).Exec(`DELETE FROM webhook_inbox WHERE shop_domain = ?`, shopDomain).Error; err != nil {
		return fmt.Errorf("webhook: erase inbox: %w", err)
	}
	return nil
}

// topLevelMatch covers payloads whose root is the customer or the order
// itself (customers/*, orders/*): their own id is the key.
func topLevelMatch(topic string, v any, c shop.CustomerRef) bool {
	obj, ok := v.(map[string]any)
	if !ok {
		return false
	}
	id, ok := obj["id"].(json.Number)
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(id.String(), 10, 64)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(topic, "customers/"):
		return c.ShopifyID != 0 && n == c.ShopifyID
	case strings.HasPrefix(topic, "orders/"):
		for _, o := range c.OrderIDs {
			if o == n {
				return true
			}
		}
	}
	return false
}

// isRedacted reports a payload already replaced by RedactCustomer's stub.
func isRedacted(v any) bool {
	obj, ok := v.(map[string]any)
	if !ok {
		return false
	}
	r, _ := obj["redacted"].(bool)
	return r
}

// payloadRedacted reports whether a delivery's payload is a redaction stub:
// its data is gone, so there is nothing left to process.
func payloadRedacted(p json.RawMessage) bool {
	var stub struct {
		Redacted bool `json:"redacted"`
	}
	return json.Unmarshal(p, &stub) == nil && stub.Redacted
}

// exportJSON re-encodes a decoded payload for the jsonb export: the inbox
// keeps exact bytes (json), which may hold \u0000 that jsonb refuses.
func exportJSON(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(stripNUL(v)); err != nil {
		return nil, err
	}
	return json.RawMessage(bytes.TrimRight(buf.Bytes(), "\n")), nil
}

func stripNUL(v any) any {
	const repl = "\uFFFD"
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, "\x00", repl)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = stripNUL(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[strings.ReplaceAll(k, "\x00", repl)] = stripNUL(e)
		}
		return out
	}
	return v
}

// complianceID is a Shopify id in a compliance payload: a JSON number (read
// as int64, never float64), a numeric string or a GID.
type complianceID int64

func (id *complianceID) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*id = 0
		return nil
	}
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if i := strings.LastIndexByte(s, '/'); strings.HasPrefix(s, "gid://") && i >= 0 {
			s = s[i+1:]
		}
	} else {
		s = string(b)
	}
	if s == "" {
		*id = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("invalid id %q", s)
	}
	*id = complianceID(n)
	return nil
}

// compliancePayload is the union of the customers/data_request,
// customers/redact and shop/redact payloads.
type compliancePayload struct {
	ShopDomain string `json:"shop_domain"`
	Customer   *struct {
		ID    complianceID `json:"id"`
		Email string       `json:"email"`
		Phone string       `json:"phone"`
	} `json:"customer"`
	OrdersRequested []complianceID `json:"orders_requested"`
	OrdersToRedact  []complianceID `json:"orders_to_redact"`
	DataRequest     *struct {
		ID complianceID `json:"id"`
	} `json:"data_request"`
}

// decodeCompliance reads a compliance payload; a payload that can never be
// processed is permanent. Errors never quote the payload (personal data).
func decodeCompliance(d Delivery) (compliancePayload, error) {
	var p compliancePayload
	if err := json.Unmarshal(d.Payload, &p); err != nil {
		return p, fmt.Errorf("webhook: %s: malformed payload: %w", d.Topic, ErrPermanent)
	}
	if p.ShopDomain != "" && !strings.EqualFold(p.ShopDomain, d.ShopDomain) {
		// Acting on either shop would be a guess; a human must look.
		return p, fmt.Errorf("webhook: %s: payload shop_domain differs from the delivery's shop: %w", d.Topic, ErrPermanent)
	}
	return p, nil
}

// customerRef builds the reference of a customers/* compliance payload.
func (p compliancePayload) customerRef(orders []complianceID) shop.CustomerRef {
	var c shop.CustomerRef
	if p.Customer != nil {
		c.ShopifyID = int64(p.Customer.ID)
		c.Email = strings.TrimSpace(p.Customer.Email)
		c.Phone = strings.TrimSpace(p.Customer.Phone)
	}
	for _, o := range orders {
		if o != 0 {
			c.OrderIDs = append(c.OrderIDs, int64(o))
		}
	}
	return c
}
