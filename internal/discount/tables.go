package discount

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// SaveTable validates and stores the tier table of one step of one flow of
// the shop. Errors: ValidationError (ErrInvalid) naming every bad field.
func (s *Service) SaveTable(ctx context.Context, shopID int64, flowKey, stepKey string, t Table) error {
	if shopID <= 0 || flowKey == "" || stepKey == "" {
		return fmt.Errorf("discount: save table: %w: shop %d flow %q step %q", ErrBadRequest, shopID, flowKey, stepKey)
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("discount: save table of %s/%s: %w", flowKey, stepKey, err)
	}
	raw, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("discount: save table of %s/%s: encode: %w", flowKey, stepKey, err)
	}
	row := tableRow{ShopID: shopID, FlowKey: flowKey, StepKey: stepKey, Tiers: string(raw), UpdatedAt: s.now()}
	err = s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "shop_id"}, {Name: "flow_key"}, {Name: "step_key"}},
		DoUpdates: clause.AssignmentColumns([]string{"tiers", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("discount: save table of %s/%s: %w", flowKey, stepKey, err)
	}
	return nil
}

// GetTable returns the step's tier table, or DefaultTable when the merchant
// never set one (custom reports whether one was stored).
func (s *Service) GetTable(ctx context.Context, shopID int64, flowKey, stepKey string) (t Table, custom bool, err error) {
	var rows []tableRow
	err = s.db.WithContext(ctx).Where("shop_id = ? AND flow_key = ? AND step_key = ?", shopID, flowKey, stepKey).
		Limit(1).Find(&rows).Error
	if err != nil {
		return Table{}, false, fmt.Errorf("discount: get table of %s/%s: %w", flowKey, stepKey, err)
	}
	if len(rows) == 0 {
		return DefaultTable(), false, nil
	}
	if err := json.Unmarshal([]byte(rows[0].Tiers), &t); err != nil {
		return Table{}, false, fmt.Errorf("discount: get table of %s/%s: decode: %w", flowKey, stepKey, err)
	}
	return t, true, nil
}

// DeleteTable reverts the step to DefaultTable.
func (s *Service) DeleteTable(ctx context.Context, shopID int64, flowKey, stepKey string) error {
	err := s.db.WithContext(ctx).Where("shop_id = ? AND flow_key = ? AND step_key = ?", shopID, flowKey, stepKey).
		Delete(&tableRow{}).Error
	if err != nil {
		return fmt.Errorf("discount: delete table of %s/%s: %w", flowKey, stepKey, err)
	}
	return nil
}

type tableRow struct {
	ShopID    int64  `gorm:"primaryKey;autoIncrement:false"`
	FlowKey   string `gorm:"primaryKey"`
	StepKey   string `gorm:"primaryKey"`
	Tiers     string `gorm:"type:jsonb"`
	UpdatedAt time.Time
}

func (tableRow) TableName() string { return "discount_tables" }
