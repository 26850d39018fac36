-- +goose Up
-- Every verified webhook delivery, recorded before Shopify gets its 200.
-- (shop_domain, webhook_id) is the dedupe key: a retry carries the same id.
-- Rows are keyed by domain, not shop id, because compliance deliveries are
-- kept even for shops we no longer (or never) had installed.
--
-- Ingest writes rows in group commits; every row of one commit shares a
-- batch_id, and one asynq task (id "webhook:<batch_id>") processes a batch.
-- The reconciler re-enqueues a pending batch under the same task id, so a
-- batch that is still queued is never queued twice.
CREATE SEQUENCE IF NOT EXISTS webhook_inbox_batch_seq;

CREATE TABLE IF NOT EXISTS webhook_inbox (
    id           bigserial   PRIMARY KEY,
    batch_id     bigint      NOT NULL DEFAULT nextval('webhook_inbox_batch_seq'),
    shop_domain  text        NOT NULL,
    webhook_id   text        NOT NULL,
    event_id     text        NOT NULL DEFAULT '',
    topic        text        NOT NULL,
    api_version  text        NOT NULL DEFAULT '',
    triggered_at timestamptz,
    received_at  timestamptz NOT NULL DEFAULT now(),
    -- json, not jsonb: an exact copy of the signed bytes, cheaper to write,
    -- and it accepts what jsonb refuses (\u0000, lone surrogates) so a valid
    -- delivery is never lost to a storage format.
    payload      json        NOT NULL,
    status       text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'skipped', 'failed')),
    attempts     integer     NOT NULL DEFAULT 0,
    -- A dispatcher run owns the row until then (no lock held while handlers run).
    locked_until timestamptz,
    processed_at timestamptz,
    last_error   text,
    UNIQUE (shop_domain, webhook_id)
);
-- The dispatcher loads a batch's pending rows; the reconciler scans pending batches.
CREATE INDEX IF NOT EXISTS webhook_inbox_pending_batch ON webhook_inbox (batch_id) WHERE status = 'pending';

-- +goose Down
DROP TABLE IF EXISTS webhook_inbox;
DROP SEQUENCE IF EXISTS webhook_inbox_batch_seq;
