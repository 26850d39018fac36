package mail

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/relance/relance/internal/shop"
)

// PrivacyHolder erases and exports what the mail tables keep about shoppers:
// mail_messages (address, stored request with the rendered email) and
// mail_outbox (full emails). mail_batches and mail_webhook_events hold ids
// only. Register it with shop.Privacy.
type PrivacyHolder struct{}

var _ shop.CustomerDataHolder = PrivacyHolder{}

// Name implements shop.CustomerDataHolder.
func (PrivacyHolder) Name() string { return "mail_messages" }

// exportedMessage is one email as shown to the shopper: what was sent and
// what happened to it, not the body.
type exportedMessage struct {
	ID        int64      `json:"id"`
	To        string     `json:"to"`
	Flow      string     `json:"flow"`
	Step      string     `json:"step"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
	OpenedAt  *time.Time `json:"opened_at,omitempty"`
	ClickedAt *time.Time `json:"clicked_at,omitempty"`
}

// match selects the customer's rows of the shop. We key emails by address
// (lowercased when stored) and by contact id we do not resolve here, so the
// email is the identifier; a ref with only a Shopify id or phone matches no
// row of ours.
func match(tx *gorm.DB, table, shopDomain string, c shop.CustomerRef) (*gorm.DB, bool) {
	email := strings.ToLower(strings.TrimSpace(c.Email))
	if email == "" {
		return nil, false
	}
	return tx.Table(table).Where("shop_id IN (SELECT id FROM shops WHERE domain = ?) AND to_email = ?", shopDomain, email), true
}

// ExportCustomer implements shop.CustomerDataHolder.
func (PrivacyHolder) ExportCustomer(ctx context.Context, tx *gorm.DB, shopDomain string, c shop.CustomerRef) (any, error) {
	q, ok := match(tx.WithContext(ctx), "mail_messages", shopDomain, c)
	if !ok {
		return nil, nil
	}
	var rows []messageRow
	if err := q.Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("mail: export messages: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	out := make([]exportedMessage, len(rows))
	for i, r := range rows {
		out[i] = exportedMessage{ID: r.ID, To: r.ToEmail, Flow: r.Flow, Step: r.Step, Status: r.Status,
			CreatedAt: r.CreatedAt, SentAt: r.SentAt, OpenedAt: r.OpenedAt, ClickedAt: r.ClickedAt}
	}
	return out, nil
}

// RedactCustomer implements shop.CustomerDataHolder: the customer's emails
// go (the outbox copies cascade with them). A late Resend event for one of
// them is then an unknown email, logged and ignored.
func (PrivacyHolder) RedactCustomer(ctx context.Context, tx *gorm.DB, shopDomain string, c shop.CustomerRef) error {
	q, ok := match(tx.WithContext(ctx), "mail_messages", shopDomain, c)
	if !ok {
		return nil
	}
	if err := q.Delete(&messageRow{}).Error; err != nil {
		return fmt.Errorf("mail: redact messages: %w", err)
	}
	return nil
}

// EraseShop implements shop.CustomerDataHolder.
func (PrivacyHolder) EraseShop(ctx context.Context, tx *gorm.DB, shopDomain string) error {
	tx = tx.WithContext(ctx)
	if err := tx.Exec(`DELETE FROM mail_outbox WHERE shop_id IN (SELECT id FROM shops WHERE domain = ?)`, shopDomain).Error; err != nil {
		return fmt.Errorf("mail: erase outbox: %w", err)
	}
	// Batches and webhook events reference the shop's emails by id only;
	// drop those of its messages so nothing points at erased rows.
	if err := tx.Exec(`DELETE FROM mail_webhook_events WHERE provider_id IN (SELECT provider_id FROM mail_messages
WHERE shop_id IN (SELECT id FROM shops WHERE domain = ?) AND provider_id IS NOT NULL)`, shopDomain).Error; err != nil {
		return fmt.Errorf("mail: erase webhook events: %w", err)
	}
	if err := tx.Exec(`DELETE FROM mail_batches WHERE key IN (SELECT send_key FROM mail_messages
WHERE shop_id IN (SELECT id FROM shops WHERE domain = ?) AND send_key IS NOT NULL)`, shopDomain).Error; err != nil {
		return fmt.Errorf("mail: erase batches: %w", err)
	}
	if err := tx.Exec(`DELETE FROM mail_messages WHERE shop_id IN (SELECT id FROM shops WHERE domain = ?)`, shopDomain).Error; err != nil {
		return fmt.Errorf("mail: erase messages: %w", err)
	}
	return nil
}
