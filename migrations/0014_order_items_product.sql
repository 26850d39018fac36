-- +goose Up
-- A product's order lines, newest first: the admin's replenishment overrides
-- show each product's title from its latest order line (one index probe per
-- override instead of a scan of the shop's order history).
CREATE INDEX IF NOT EXISTS contact_order_items_product ON contact_order_items (shop_id, product_id, order_id DESC);

-- +goose Down
DROP INDEX IF EXISTS contact_order_items_product;
