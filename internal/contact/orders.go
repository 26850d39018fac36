package contact

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Order is one Shopify order as the contact history keeps it. Money is a
// decimal string; ContactID 0 records an order nobody can be tied to yet
// (it is attributed when its cart or checkout token is linked).
type Order struct {
	ID            int64
	ContactID     int64
	CheckoutToken string
	CartToken     string
	TotalPrice    string
	Currency      string
	OrderedAt     time.Time
	UpdatedAt     time.Time
	CancelledAt   *time.Time
	FulfilledAt   *time.Time
	Items         []OrderItem
}

// OrderItem is one line of an order.
type OrderItem struct {
	ProductID int64
	VariantID int64
	Quantity  int
	Title     string
	Price     string
}

// RecordOrder stores an order (idempotent: keyed by the Shopify order id) and
// refreshes the contact's order history. A payload older than the one held
// (updated_at) changes nothing and returns fresh=false. Fulfilment, once
// recorded, is kept.
func (s *Store) RecordOrder(ctx context.Context, shopID int64, o Order) (fresh bool, err error) {
	var contactArg any
	if o.ContactID != 0 {
		contactArg = o.ContactID
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var ids []int64
		err := tx.Raw(`
			INSERT INTO contact_orders (shop_id, order_id, contact_id, checkout_token, cart_token, total_price, currency,
			                            ordered_at, updated_at, cancelled_at, fulfilled_at)
			VALUES (?, ?, ?, ?, ?, ?::numeric, ?, ?, ?, ?, ?)
			ON CONFLICT (shop_id, order_id) DO UPDATE SET
				contact_id     = COALESCE(EXCLUDED.contact_id, contact_orders.contact_id),
				checkout_token = EXCLUDED.checkout_token,
				cart_token     = EXCLUDED.cart_token,
				total_price    = EXCLUDED.total_price,
				currency       = EXCLUDED.currency,
				updated_at     = EXCLUDED.updated_at,
				cancelled_at   = EXCLUDED.cancelled_at,
				fulfilled_at   = COALESCE(contact_orders.fulfilled_at, EXCLUDED.fulfilled_at)
			WHERE contact_orders.updated_at <= EXCLUDED.updated_at
			RETURNING order_id`,
			shopID, o.ID, contactArg, o.CheckoutToken, o.CartToken, Decimal(o.TotalPrice), o.Currency,
			o.OrderedAt, o.UpdatedAt, o.CancelledAt, o.FulfilledAt).Scan(&ids).Error
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil // stale
		}
		fresh = true
		if err := tx.Exec(`DELETE FROM contact_order_items WHERE shop_id = ? AND order_id = ?`, shopID, o.ID).Error; err != nil {
			return err
		}
		for i, it := range o.Items {
			if err := tx.Exec(`INSERT INTO contact_order_items (shop_id, order_id, line, product_id, variant_id, quantity, title, price)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?::numeric)`,
				shopID, o.ID, i, it.ProductID, it.VariantID, it.Quantity, it.Title, Decimal(it.Price)).Error; err != nil {
				return err
			}
		}
		var owner []struct{ ContactID *int64 }
		if err := tx.Raw(`SELECT contact_id FROM contact_orders WHERE shop_id = ? AND order_id = ?`, shopID, o.ID).Scan(&owner).Error; err != nil {
			return err
		}
		if len(owner) == 1 && owner[0].ContactID != nil {
			return refreshOrderStats(tx, shopID, *owner[0].ContactID)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("contact: record order %d in shop %d: %w", o.ID, shopID, err)
	}
	return fresh, nil
}

// refreshOrderStats recomputes a contact's order history from its orders,
// so duplicate and out-of-order deliveries cannot skew the counts.
func refreshOrderStats(tx *gorm.DB, shopID, contactID int64) error {
	return tx.Exec(`
		UPDATE contacts c SET
			orders_count   = a.n,
			first_order_at = a.first,
			last_order_at  = a.last,
			total_spent    = a.total,
			updated_at     = now()
		FROM (SELECT count(*) FILTER (WHERE cancelled_at IS NULL) AS n,
		             min(ordered_at) FILTER (WHERE cancelled_at IS NULL) AS first,
		             max(ordered_at) FILTER (WHERE cancelled_at IS NULL) AS last,
		             COALESCE(sum(total_price) FILTER (WHERE cancelled_at IS NULL), 0) AS total
		      FROM contact_orders WHERE shop_id = ? AND contact_id = ?) a
		WHERE c.shop_id = ? AND c.id = ?`, shopID, contactID, shopID, contactID).Error
}

// OrderedSince reports whether the contact placed any order at or after
// since, other than except (the order that started a flow, 0 for none).
// Cancelled orders count: a purchase reached the goal even if it was later
// cancelled, and sending a "you forgot your cart" after it would be wrong.
func (s *Store) OrderedSince(ctx context.Context, shopID, contactID int64, since time.Time, except int64) (bool, error) {
	var ok bool
	err := s.db.WithContext(ctx).Raw(`SELECT EXISTS (SELECT 1 FROM contact_orders
		WHERE shop_id = ? AND contact_id = ? AND ordered_at >= ? AND order_id <> ?)`,
		shopID, contactID, since, except).Scan(&ok).Error
	if err != nil {
		return false, fmt.Errorf("contact: orders of %d in shop %d: %w", contactID, shopID, err)
	}
	return ok, nil
}

// CheckoutCompleted reports whether an order was placed from a checkout token.
func (s *Store) CheckoutCompleted(ctx context.Context, shopID int64, token string) (bool, error) {
	var ok bool
	err := s.db.WithContext(ctx).Raw(`SELECT EXISTS (SELECT 1 FROM contact_orders WHERE shop_id = ? AND checkout_token = ?)`,
		shopID, token).Scan(&ok).Error
	if err != nil {
		return false, fmt.Errorf("contact: orders of checkout in shop %d: %w", shopID, err)
	}
	return ok, nil
}

// GetOrder returns a recorded order with its items, or ErrNotFound.
func (s *Store) GetOrder(ctx context.Context, shopID, orderID int64) (*Order, error) {
	var rows []struct {
		OrderID       int64
		ContactID     *int64
		CheckoutToken string
		CartToken     string
		TotalPrice    string
		Currency      string
		OrderedAt     time.Time
		UpdatedAt     time.Time
		CancelledAt   *time.Time
		FulfilledAt   *time.Time
	}
	err := s.db.WithContext(ctx).Raw(`SELECT order_id, contact_id, checkout_token, cart_token, total_price::text AS total_price, currency,
		ordered_at, updated_at, cancelled_at, fulfilled_at FROM contact_orders WHERE shop_id = ? AND order_id = ?`, shopID, orderID).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("contact: read order %d in shop %d: %w", orderID, shopID, err)
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	r := rows[0]
	o := &Order{ID: r.OrderID, CheckoutToken: r.CheckoutToken, CartToken: r.CartToken, TotalPrice: r.TotalPrice, Currency: r.Currency,
		OrderedAt: r.OrderedAt, UpdatedAt: r.UpdatedAt, CancelledAt: r.CancelledAt, FulfilledAt: r.FulfilledAt}
	if r.ContactID != nil {
		o.ContactID = *r.ContactID
	}
	err = s.db.WithContext(ctx).Raw(`SELECT product_id, variant_id, quantity, title, price::text AS price FROM contact_order_items
		WHERE shop_id = ? AND order_id = ? ORDER BY line`, shopID, orderID).Scan(&o.Items).Error
	if err != nil {
		return nil, fmt.Errorf("contact: read items of order %d in shop %d: %w", orderID, shopID, err)
	}
	return o, nil
}

// ProductPurchases counts the contact's orders (not cancelled) containing a product.
func (s *Store) ProductPurchases(ctx context.Context, shopID, contactID, productID int64) (int, error) {
	var n int
	err := s.db.WithContext(ctx).Raw(`SELECT count(DISTINCT o.order_id) FROM contact_orders o
		JOIN contact_order_items i ON i.shop_id = o.shop_id AND i.order_id = o.order_id
		WHERE o.shop_id = ? AND o.contact_id = ? AND o.cancelled_at IS NULL AND i.product_id = ?`,
		shopID, contactID, productID).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("contact: purchases of %d in shop %d: %w", contactID, shopID, err)
	}
	return n, nil
}
