package contact

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/relance/relance/internal/shop"
)

// PrivacyHolder answers GDPR requests for the shopper data this package
// keeps (contacts, their identities and orders). The journey engine's rows
// (enrollments, messages, decisions) reference contacts with ON DELETE
// CASCADE, so erasing a contact erases them too. Register it with
// shop.Privacy.
type PrivacyHolder struct{}

var _ shop.CustomerDataHolder = PrivacyHolder{}

// Name identifies the holder in exports.
func (PrivacyHolder) Name() string { return "contacts" }

const shopOf = `(SELECT id FROM shops WHERE domain = ?)`

// matching returns the ids of the shop's contacts the reference names.
func matching(tx *gorm.DB, shopDomain string, c shop.CustomerRef) ([]int64, error) {
	var ids []int64
	email := strings.ToLower(strings.TrimSpace(c.Email))
	if c.ShopifyID == 0 && email == "" {
		return nil, nil
	}
	err := tx.Raw(`SELECT id FROM contacts WHERE shop_id = `+shopOf+`
		AND ((? <> 0 AND customer_id = ?) OR (? <> '' AND email = ?))`,
		shopDomain, c.ShopifyID, c.ShopifyID, email, email).Scan(&ids).Error
	return ids, err
}

type exportedContact struct {
	Contact Contact `json:"contact"`
	Orders  []Order `json:"orders"`
}

// ExportCustomer returns the shopper's contact rows and orders.
func (PrivacyHolder) ExportCustomer(ctx context.Context, tx *gorm.DB, shopDomain string, c shop.CustomerRef) (any, error) {
	tx = tx.WithContext(ctx)
	ids, err := matching(tx, shopDomain, c)
	if err != nil {
		return nil, fmt.Errorf("contact: export: %w", err)
	}
	var shopID int64
	if err := tx.Raw(`SELECT id FROM shops WHERE domain = ?`, shopDomain).Scan(&shopID).Error; err != nil {
		return nil, fmt.Errorf("contact: export: %w", err)
	}
	s := NewStore(tx)
	var out []exportedContact
	for _, id := range ids {
		ct, err := s.Get(ctx, shopID, id)
		if err != nil {
			return nil, fmt.Errorf("contact: export: %w", err)
		}
		var orderIDs []int64
		if err := tx.Raw(`SELECT order_id FROM contact_orders WHERE shop_id = ? AND contact_id = ? ORDER BY ordered_at`, shopID, id).
			Scan(&orderIDs).Error; err != nil {
			return nil, fmt.Errorf("contact: export: %w", err)
		}
		ec := exportedContact{Contact: *ct}
		for _, oid := range orderIDs {
			o, err := s.GetOrder(ctx, shopID, oid)
			if err != nil {
				return nil, fmt.Errorf("contact: export: %w", err)
			}
			ec.Orders = append(ec.Orders, *o)
		}
		out = append(out, ec)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// RedactCustomer deletes the shopper's contacts (and, by cascade, their
// identities, enrollments, messages and decisions) and the named orders.
func (PrivacyHolder) RedactCustomer(ctx context.Context, tx *gorm.DB, shopDomain string, c shop.CustomerRef) error {
	tx = tx.WithContext(ctx)
	ids, err := matching(tx, shopDomain, c)
	if err != nil {
		return fmt.Errorf("contact: redact: %w", err)
	}
	if len(ids) > 0 {
		if err := tx.Exec(`DELETE FROM contact_orders WHERE shop_id = `+shopOf+` AND contact_id IN ?`, shopDomain, ids).Error; err != nil {
			return fmt.Errorf("contact: redact orders: %w", err)
		}
		if err := tx.Exec(`DELETE FROM contacts WHERE shop_id = `+shopOf+` AND id IN ?`, shopDomain, ids).Error; err != nil {
			return fmt.Errorf("contact: redact contacts: %w", err)
		}
	}
	if len(c.OrderIDs) > 0 {
		if err := tx.Exec(`DELETE FROM contact_orders WHERE shop_id = `+shopOf+` AND order_id IN ?`, shopDomain, c.OrderIDs).Error; err != nil {
			return fmt.Errorf("contact: redact orders: %w", err)
		}
	}
	return nil
}

// EraseShop deletes every contact, identity and order of the shop.
func (PrivacyHolder) EraseShop(ctx context.Context, tx *gorm.DB, shopDomain string) error {
	tx = tx.WithContext(ctx)
	for _, table := range []string{"contact_orders", "contact_identities", "contacts"} {
		if err := tx.Exec(`DELETE FROM `+table+` WHERE shop_id = `+shopOf, shopDomain).Error; err != nil {
			return fmt.Errorf("contact: erase %s: %w", table, err)
		}
	}
	return nil
}
