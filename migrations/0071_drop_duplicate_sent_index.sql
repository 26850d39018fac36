-- +goose Up
-- 0070's journey_messages_shop_sent is the same index as 0050's
-- analytics_journey_messages_sent ((shop_id, sent_at) WHERE status = 'sent'):
-- one copy is enough, and each copy costs a write per sent email.
DROP INDEX IF EXISTS journey_messages_shop_sent;

-- +goose Down
CREATE INDEX IF NOT EXISTS journey_messages_shop_sent ON journey_messages (shop_id, sent_at) WHERE status = 'sent';
