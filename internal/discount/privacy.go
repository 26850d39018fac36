package discount

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/relance/relance/internal/shop"
)

// PrivacyHolder answers GDPR requests for discount_codes and
// discount_redemptions: a code is personal data when it was made for one
// customer or one enrollment, a redemption ties it to an order.
//
// A customer's codes are found by the customer gid they were restricted to,
// by the enrollments of the customer's contacts (email or customer id,
// through the journey and contact tables), and by the order ids named in
// the request. Register it after contact's and journey's holders: holders
// are erased in reverse order, so this one runs while enrollments still
// exist. Tier tables hold no shopper data.
type PrivacyHolder struct{}

var _ shop.CustomerDataHolder = PrivacyHolder{}

// Name identifies the holder in exports.
func (PrivacyHolder) Name() string { return "discount_codes" }

// matchingCodes returns the ids of the shop's codes the reference names.
func matchingCodes(tx *gorm.DB, shopDomain string, c shop.CustomerRef) ([]int64, error) {
	gid := ""
	if c.ShopifyID > 0 {
		gid = "gid://shopify/Customer/" + strconv.FormatInt(c.ShopifyID, 10)
	}
	email := strings.ToLower(strings.TrimSpace(c.Email))
	orders := c.OrderIDs
	if len(orders) == 0 {
		orders = []int64{0} // IN () is not SQL; order ids are positive
	}
	var ids []int64
	err := tx.Raw(`
SELECT d.id FROM discount_codes d
WHERE d.shop_id = (SELECT id FROM shops WHERE domain = ?) AND (
    (? <> '' AND d.customer_gid = ?)
    OR d.enrollment_id IN (
        SELECT e.id FROM enrollments e JOIN contacts ct ON ct.id = e.contact_id
        WHERE e.shop_id = d.shop_id
          AND ((? <> 0 AND ct.customer_id = ?) OR (? <> '' AND ct.email = ?)))
    OR d.id IN (SELECT r.code_id FROM discount_redemptions r WHERE r.shop_id = d.shop_id AND r.order_id IN ?)
) ORDER BY d.id`,
		shopDomain, gid, gid, c.ShopifyID, c.ShopifyID, email, email, orders).Scan(&ids).Error
	return ids, err
}

type exportedCode struct {
	Code         string       `json:"code"`
	Kind         Kind         `json:"kind"`
	Percent      int          `json:"percent,omitempty"`
	Amount       Amount       `json:"amount,omitzero"`
	Minimum      Amount       `json:"minimum,omitzero"`
	Currency     string       `json:"currency,omitempty"`
	CustomerGID  string       `json:"customer_gid,omitempty"`
	EnrollmentID int64        `json:"enrollment_id"`
	Step         string       `json:"step"`
	Status       string       `json:"status"`
	StartsAt     time.Time    `json:"starts_at"`
	EndsAt       time.Time    `json:"ends_at"`
	Redemptions  []Redemption `json:"redemptions,omitempty"`
}

// ExportCustomer returns the customer's codes and the orders that used them.
func (PrivacyHolder) ExportCustomer(ctx context.Context, tx *gorm.DB, shopDomain string, c shop.CustomerRef) (any, error) {
	tx = tx.WithContext(ctx)
	ids, err := matchingCodes(tx, shopDomain, c)
	if err != nil {
		return nil, fmt.Errorf("discount: export: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []codeRow
	if err := tx.Where("id IN ?", ids).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("discount: export: %w", err)
	}
	var reds []Redemption
	err = tx.Raw(`SELECT d.id AS code_id, d.code, d.enrollment_id, d.step, r.order_id, r.redeemed_at
		FROM discount_redemptions r JOIN discount_codes d ON d.id = r.code_id
		WHERE r.code_id IN ? ORDER BY r.redeemed_at, r.order_id`, ids).Scan(&reds).Error
	if err != nil {
		return nil, fmt.Errorf("discount: export redemptions: %w", err)
	}
	out := make([]exportedCode, 0, len(rows))
	for _, r := range rows {
		e := exportedCode{
			Code: r.Code, Kind: Kind(r.Kind), Percent: r.Percent, Amount: r.Amount, Minimum: r.Minimum, Currency: r.Currency,
			CustomerGID: r.CustomerGID, EnrollmentID: r.EnrollmentID, Step: r.Step, Status: r.Status,
			StartsAt: r.StartsAt, EndsAt: r.EndsAt,
		}
		for _, red := range reds {
			if red.CodeID == r.ID {
				e.Redemptions = append(e.Redemptions, red)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// RedactCustomer deletes the customer's codes and their redemptions. The
// discounts themselves live on at Shopify until they expire (single-use,
// at most MaxExpiryHours); they are the shop's records, not ours.
func (PrivacyHolder) RedactCustomer(ctx context.Context, tx *gorm.DB, shopDomain string, c shop.CustomerRef) error {
	tx = tx.WithContext(ctx)
	ids, err := matchingCodes(tx, shopDomain, c)
	if err != nil {
		return fmt.Errorf("discount: redact: %w", err)
	}
	if len(ids) > 0 {
		if err := tx.Exec(`DELETE FROM discount_codes WHERE id IN ?`, ids).Error; err != nil {
			return fmt.Errorf("discount: redact codes: %w", err)
		}
	}
	if len(c.OrderIDs) > 0 {
		err := tx.Exec(`DELETE FROM discount_redemptions WHERE shop_id = (SELECT id FROM shops WHERE domain = ?) AND order_id IN ?`,
			shopDomain, c.OrderIDs).Error
		if err != nil {
			return fmt.Errorf("discount: redact redemptions: %w", err)
		}
	}
	return nil
}

// EraseShop deletes every code, redemption and tier table of the shop.
func (PrivacyHolder) EraseShop(ctx context.Context, tx *gorm.DB, shopDomain string) error {
	tx = tx.WithContext(ctx)
	for _, table := range []string{"discount_redemptions", "discount_codes", "discount_tables"} {
		if err := tx.Exec(`DELETE FROM `+table+` WHERE shop_id = (SELECT id FROM shops WHERE domain = ?)`, shopDomain).Error; err != nil {
			return fmt.Errorf("discount: erase %s: %w", table, err)
		}
	}
	return nil
}
