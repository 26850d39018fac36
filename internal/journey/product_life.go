package journey

import (
	"context"
	"fmt"
)

// ProductLife is the usable life a merchant set for one product, overriding
// the shop's default (Settings.UsableLifeDays) in the replenishment flow.
type ProductLife struct {
	ProductID int64
	// Title is the product's title as last seen in an order of the shop
	// ("" when the product was never ordered).
	Title string
	Days  int
}

// productLifeSelect reads overrides with the title of the product's most
// recent order line.
const productLifeSelect = `SELECT l.product_id, l.days,
	COALESCE((SELECT i.title FROM contact_order_items i WHERE i.shop_id = l.shop_id AND i.product_id = l.product_id
		ORDER BY i.order_id DESC, i.line LIMIT 1), '') AS title
	FROM journey_product_life l`

// ProductLives lists a shop's overrides by product id, at most limit of
// them after the product id after (0: from the start).
func (e *Engine) ProductLives(ctx context.Context, shopID int64, limit int, after int64) ([]ProductLife, error) {
	var out []ProductLife
	err := e.db.WithContext(ctx).Raw(productLifeSelect+` WHERE l.shop_id = ? AND l.product_id > ? ORDER BY l.product_id LIMIT ?`,
		shopID, after, limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("journey: usable lives of shop %d: %w", shopID, err)
	}
	return out, nil
}

// ProductLife returns one override; ok is false when the product has none.
func (e *Engine) ProductLife(ctx context.Context, shopID, productID int64) (pl ProductLife, ok bool, err error) {
	var rows []ProductLife
	err = e.db.WithContext(ctx).Raw(productLifeSelect+` WHERE l.shop_id = ? AND l.product_id = ?`, shopID, productID).Scan(&rows).Error
	if err != nil {
		return ProductLife{}, false, fmt.Errorf("journey: usable life of product %d in shop %d: %w", productID, shopID, err)
	}
	if len(rows) == 0 {
		return ProductLife{}, false, nil
	}
	return rows[0], true, nil
}

// DeleteProductLife removes an override (the product follows the shop's
// default again); deleted is false when there was none.
func (e *Engine) DeleteProductLife(ctx context.Context, shopID, productID int64) (deleted bool, err error) {
	res := e.db.WithContext(ctx).Exec(`DELETE FROM journey_product_life WHERE shop_id = ? AND product_id = ?`, shopID, productID)
	if res.Error != nil {
		return false, fmt.Errorf("journey: delete usable life of product %d in shop %d: %w", productID, shopID, res.Error)
	}
	return res.RowsAffected > 0, nil
}
