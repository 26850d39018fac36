-- +goose Up
-- Every verified webhook delivery, recorded before Shopify gets its 200.
-- (shop_domain, webhook_id) is the dedupe key: a retry carries the same id.
-- Rows are keyed by domain, not shop id, because compliance deliveries are
-- kept even for shops we no longer (or never) had installed.
CREATE TABLE IF NOT EXISTS webhook_inbox (
    id           bigserial   PRIMARY KEY,
    shop_domain  text        NOT NULL,
    webhook_id   text        NOT NULL,
    event_id     text        NOT NULL DEFAULT '',
    topic        text        NOT NULL,
    api_version  text        NOT NULL DEFAULT '',
    triggered_at timestamptz,
    received_at  timestamptz NOT NULL DEFAULT now(),
    payload      jsonb       NOT NULL,
    status       text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'skipped', 'failed')),
    attempts     integer     NOT NULL DEFAULT 0,
    processed_at timestamptz,
    last_error   text,
    UNIQUE (shop_domain, webhook_id)
);
-- The reconciler scans only what is still pending.
CREATE INDEX IF NOT EXISTS webhook_inbox_pending ON webhook_inbox (received_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_inbox_shop_topic ON webhook_inbox (shop_domain, topic, triggered_at);

-- +goose Down
DROP TABLE IF EXISTS webhook_inbox;
