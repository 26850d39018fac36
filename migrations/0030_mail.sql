-- +goose Up
-- One row per email handed to a mail sender, keyed by the engine's message
-- id (also the idempotency key). send_key and request are written before the
-- first call to Resend: a retry replays exactly that request under that key,
-- so Resend answers with the email it already accepted instead of sending a
-- second one. request is cleared once the outcome is known.
CREATE TABLE IF NOT EXISTS mail_messages (
    id            bigint      PRIMARY KEY CHECK (id > 0),
    shop_id       bigint      NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    contact_id    bigint,
    to_email      text        NOT NULL,
    flow          text        NOT NULL DEFAULT '',
    step          text        NOT NULL DEFAULT '',
    provider      text        NOT NULL CHECK (provider IN ('resend', 'outbox')),
    status        text        NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'delivery_delayed', 'delivered', 'bounced', 'complained')),
    send_key      text,
    request       jsonb,
    provider_id   text        UNIQUE,
    error         text        NOT NULL DEFAULT '',
    attempted_at  timestamptz,
    sent_at       timestamptz,
    delivered_at  timestamptz,
    delayed_at    timestamptz,
    opened_at     timestamptz,
    clicked_at    timestamptz,
    bounced_at    timestamptz,
    complained_at timestamptz,
    open_count    integer     NOT NULL DEFAULT 0,
    click_count   integer     NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS mail_messages_shop_email ON mail_messages (shop_id, to_email);
CREATE INDEX IF NOT EXISTS mail_messages_send_key ON mail_messages (send_key) WHERE send_key IS NOT NULL;

-- Batches sent to POST /emails/batch: the key is the Idempotency-Key, the
-- members are replayed together, in id order, until the outcome is known.
CREATE TABLE IF NOT EXISTS mail_batches (
    key          text        PRIMARY KEY,
    message_ids  bigint[]    NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);

-- Resend webhook deliveries already applied (Svix retries and replays carry
-- the same svix-id).
CREATE TABLE IF NOT EXISTS mail_webhook_events (
    svix_id     text        PRIMARY KEY,
    type        text        NOT NULL,
    provider_id text        NOT NULL DEFAULT '',
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS mail_webhook_events_received ON mail_webhook_events (received_at);

-- The outbox: emails of `relance dev` (no RESEND_API_KEY), stored to be
-- shown in the admin instead of sent.
CREATE TABLE IF NOT EXISTS mail_outbox (
    id         bigint      PRIMARY KEY REFERENCES mail_messages(id) ON DELETE CASCADE,
    shop_id    bigint      NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    from_addr  text        NOT NULL,
    reply_to   text        NOT NULL DEFAULT '',
    to_email   text        NOT NULL,
    subject    text        NOT NULL,
    html       text        NOT NULL,
    text       text        NOT NULL,
    headers    jsonb       NOT NULL DEFAULT '{}',
    tags       jsonb       NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS mail_outbox_shop ON mail_outbox (shop_id, created_at DESC);

-- +goose Down
DROP TABLE IF EXISTS mail_outbox;
DROP TABLE IF EXISTS mail_webhook_events;
DROP TABLE IF EXISTS mail_batches;
DROP TABLE IF EXISTS mail_messages;
