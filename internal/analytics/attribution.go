package analytics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/discount"
	"github.com/relance/relance/internal/flow"
)

// DefaultWindowDays is the attribution window when the shop set none.
const DefaultWindowDays = 5

// Redemptions records which of our codes an order used (*discount.Service).
type Redemptions interface {
	RecordRedemption(ctx context.Context, shopID, orderID int64, codes []string, at time.Time) ([]discount.Redemption, error)
}

// Service attributes orders and reads KPIs.
type Service struct {
	db          *gorm.DB
	redemptions Redemptions
	zones       sync.Map // time zone name → *time.Location
	shopZones   sync.Map // shop id → shopZone
}

// New returns the service; redemptions may be nil (clicks only).
func New(db *gorm.DB, redemptions Redemptions) *Service {
	return &Service{db: db, redemptions: redemptions}
}

// Models of attribution.
const (
	ModelDiscount = "discount"
	ModelClick    = "click"
)

// Attribution is an order credited to one email.
type Attribution struct {
	ShopID       int64
	OrderID      int64
	ContactID    *int64
	MessageID    int64
	EnrollmentID *int64
	FlowKey      string
	StepKey      string
	Model        string
	Revenue      string
	Currency     string
	Recovered    bool
	OrderedAt    time.Time
	ClickedAt    *time.Time
	CancelledAt  *time.Time
}

// TableName maps Attribution to its table.
func (Attribution) TableName() string { return "analytics_attributions" }

// abandonment flows: an order they get credit for is a recovered abandonment.
var abandonment = []string{string(flow.Checkout), string(flow.Cart), string(flow.Browse)}

func isAbandonment(k string) bool {
	for _, a := range abandonment {
		if a == k {
			return true
		}
	}
	return false
}

// WindowDays returns the shop's attribution window.
func (s *Service) WindowDays(ctx context.Context, shopID int64) (int, error) {
	var days []int
	if err := s.db.WithContext(ctx).Raw(`SELECT attribution_window_days FROM analytics_settings WHERE shop_id = ?`, shopID).Scan(&days).Error; err != nil {
		return 0, fmt.Errorf("analytics: window of shop %d: %w", shopID, err)
	}
	if len(days) == 0 {
		return DefaultWindowDays, nil
	}
	return days[0], nil
}

// SetWindowDays sets the shop's attribution window (1–90 days).
func (s *Service) SetWindowDays(ctx context.Context, shopID int64, days int) error {
	if days < 1 || days > 90 {
		return fmt.Errorf("analytics: attribution window of %d days: must be 1 to 90", days)
	}
	return s.db.WithContext(ctx).Exec(`INSERT INTO analytics_settings (shop_id, attribution_window_days) VALUES (?, ?)
		ON CONFLICT (shop_id) DO UPDATE SET attribution_window_days = EXCLUDED.attribution_window_days, updated_at = now()`, shopID, days).Error
}

// OrderFacts is what attribution needs of an orders/create delivery.
type OrderFacts struct {
	ShopID    int64
	OrderID   int64
	Codes     []string // discount_codes[].code
	Total     string   // total_price
	Currency  string
	OrderedAt time.Time
}

type candidate struct {
	MessageID    int64
	EnrollmentID *int64
	ContactID    *int64
	FlowKey      string
	StepKey      string
	ClickedAt    *time.Time
}

// AttributeOrder credits an order to the email whose discount code it used,
// else to the last Relance email its contact clicked within the shop's
// window before the order. The contact is the one the order was recorded
// with (contact_orders). The first attribution of an order stays: a
// redelivery changes nothing. It returns the attribution, or nil.
func (s *Service) AttributeOrder(ctx context.Context, o OrderFacts) (*Attribution, error) {
	if o.ShopID <= 0 || o.OrderID <= 0 {
		return nil, errors.New("analytics: attribute order: shop and order ids are required")
	}
	db := s.db.WithContext(ctx)
	var contactIDs []*int64
	if err := db.Raw(`SELECT contact_id FROM contact_orders WHERE shop_id = ? AND order_id = ?`, o.ShopID, o.OrderID).Scan(&contactIDs).Error; err != nil {
		return nil, fmt.Errorf("analytics: contact of order %d: %w", o.OrderID, err)
	}
	var contactID int64
	if len(contactIDs) == 1 && contactIDs[0] != nil {
		contactID = *contactIDs[0]
	}

	var cand *candidate
	model := ""
	if len(o.Codes) > 0 && s.redemptions != nil {
		reds, err := s.redemptions.RecordRedemption(ctx, o.ShopID, o.OrderID, o.Codes, o.OrderedAt)
		if err != nil {
			return nil, fmt.Errorf("analytics: redemptions of order %d: %w", o.OrderID, err)
		}
		for _, r := range reds {
			var rows []candidate
			if err := db.Raw(`SELECT id AS message_id, enrollment_id, contact_id, flow_key, step_key FROM journey_messages
				WHERE shop_id = ? AND enrollment_id = ? AND step_key = ? ORDER BY id LIMIT 1`, o.ShopID, r.EnrollmentID, r.Step).Scan(&rows).Error; err != nil {
				return nil, fmt.Errorf("analytics: message of code: %w", err)
			}
			if len(rows) == 1 {
				cand, model = &rows[0], ModelDiscount
				break
			}
		}
	}
	if cand == nil && contactID != 0 {
		days, err := s.WindowDays(ctx, o.ShopID)
		if err != nil {
			return nil, err
		}
		var rows []candidate
		if err := db.Raw(`SELECT c.message_id, m.enrollment_id, c.contact_id, m.flow_key, m.step_key, c.clicked_at
			FROM analytics_clicks c JOIN journey_messages m ON m.id = c.message_id AND m.shop_id = c.shop_id
			WHERE c.shop_id = ? AND c.contact_id = ? AND c.clicked_at <= ? AND c.clicked_at > ?
			ORDER BY c.clicked_at DESC LIMIT 1`,
			o.ShopID, contactID, o.OrderedAt, o.OrderedAt.Add(-time.Duration(days)*24*time.Hour)).Scan(&rows).Error; err != nil {
			return nil, fmt.Errorf("analytics: last click before order %d: %w", o.OrderID, err)
		}
		if len(rows) == 1 {
			cand, model = &rows[0], ModelClick
		}
	}
	if cand == nil {
		return nil, nil
	}
	a := Attribution{ShopID: o.ShopID, OrderID: o.OrderID, ContactID: cand.ContactID, MessageID: cand.MessageID,
		EnrollmentID: cand.EnrollmentID, FlowKey: cand.FlowKey, StepKey: cand.StepKey, Model: model,
		Revenue: contact.Decimal(o.Total), Currency: o.Currency, Recovered: isAbandonment(cand.FlowKey),
		OrderedAt: o.OrderedAt.UTC(), ClickedAt: cand.ClickedAt}
	if contactID != 0 {
		a.ContactID = &contactID
	}
	res := db.Exec(`INSERT INTO analytics_attributions (shop_id, order_id, contact_id, message_id, enrollment_id, flow_key, step_key,
		model, revenue, currency, recovered, ordered_at, clicked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?::numeric, ?, ?, ?, ?) ON CONFLICT (shop_id, order_id) DO NOTHING`,
		a.ShopID, a.OrderID, a.ContactID, a.MessageID, a.EnrollmentID, a.FlowKey, a.StepKey, a.Model, a.Revenue, a.Currency,
		a.Recovered, a.OrderedAt, a.ClickedAt)
	if res.Error != nil {
		return nil, fmt.Errorf("analytics: record attribution of order %d: %w", o.OrderID, res.Error)
	}
	if res.RowsAffected == 1 {
		attributedTotal.WithLabelValues(model).Inc()
	}
	return &a, nil
}

// OrderCancelled takes a cancelled order out of the figures (the row stays).
func (s *Service) OrderCancelled(ctx context.Context, shopID, orderID int64, at time.Time) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE analytics_attributions SET cancelled_at = ? WHERE shop_id = ? AND order_id = ? AND cancelled_at IS NULL`,
		at, shopID, orderID).Error
	if err != nil {
		return fmt.Errorf("analytics: cancel order %d: %w", orderID, err)
	}
	return nil
}
