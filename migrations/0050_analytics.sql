-- +goose Up
-- Storefront identity and attribution (internal/pixel, internal/analytics).

-- Cart and checkout tokens a storefront client id was seen with (web pixel),
-- kept while the client is anonymous: when it becomes a known contact, each
-- is tied to the contact (contact_identities) and its activity replayed.
CREATE TABLE IF NOT EXISTS pixel_client_tokens (
    shop_id   bigint      NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    client_id text        NOT NULL CHECK (client_id <> ''),
    kind      text        NOT NULL CHECK (kind IN ('cart', 'checkout')),
    value     text        NOT NULL CHECK (value <> ''),
    seen_at   timestamptz NOT NULL,
    PRIMARY KEY (shop_id, client_id, kind, value)
);
CREATE INDEX IF NOT EXISTS pixel_client_tokens_seen ON pixel_client_tokens (seen_at);

-- Per-shop analytics settings.
CREATE TABLE IF NOT EXISTS analytics_settings (
    shop_id                 bigint      PRIMARY KEY REFERENCES shops(id) ON DELETE CASCADE,
    attribution_window_days integer     NOT NULL DEFAULT 5 CHECK (attribution_window_days BETWEEN 1 AND 90),
    updated_at              timestamptz NOT NULL DEFAULT now()
);

-- Every tracked click (/r/:token) of a Relance email.
CREATE TABLE IF NOT EXISTS analytics_clicks (
    id         bigserial   PRIMARY KEY,
    shop_id    bigint      NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    contact_id bigint      NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    message_id bigint      NOT NULL,
    clicked_at timestamptz NOT NULL
);
-- Attribution: the contact's last click before an order.
CREATE INDEX IF NOT EXISTS analytics_clicks_contact ON analytics_clicks (shop_id, contact_id, clicked_at DESC);

-- One row per order attributed to a Relance email: by the discount code it
-- used, else by the contact's last click within the attribution window.
CREATE TABLE IF NOT EXISTS analytics_attributions (
    shop_id       bigint         NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    order_id      bigint         NOT NULL,
    contact_id    bigint         REFERENCES contacts(id) ON DELETE SET NULL,
    message_id    bigint         NOT NULL,
    enrollment_id bigint,
    flow_key      text           NOT NULL,
    step_key      text           NOT NULL,
    model         text           NOT NULL CHECK (model IN ('discount', 'click')),
    revenue       numeric(20, 4) NOT NULL DEFAULT 0,
    currency      text           NOT NULL DEFAULT '',
    -- The flow was an abandonment sequence: the order is a recovered abandonment.
    recovered     boolean        NOT NULL DEFAULT false,
    ordered_at    timestamptz    NOT NULL,
    clicked_at    timestamptz,
    cancelled_at  timestamptz,
    created_at    timestamptz    NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, order_id)
);
CREATE INDEX IF NOT EXISTS analytics_attributions_period ON analytics_attributions (shop_id, ordered_at) WHERE cancelled_at IS NULL;
CREATE INDEX IF NOT EXISTS analytics_attributions_message ON analytics_attributions (message_id);

-- KPIs count sent emails per shop and period.
CREATE INDEX IF NOT EXISTS analytics_journey_messages_sent ON journey_messages (shop_id, sent_at) WHERE status = 'sent';
-- Overall AOV reads a shop's orders per period.
CREATE INDEX IF NOT EXISTS analytics_contact_orders_period ON contact_orders (shop_id, ordered_at) WHERE cancelled_at IS NULL;

-- +goose Down
DROP INDEX IF EXISTS analytics_contact_orders_period;
DROP INDEX IF EXISTS analytics_journey_messages_sent;
DROP TABLE IF EXISTS analytics_attributions;
DROP TABLE IF EXISTS analytics_clicks;
DROP TABLE IF EXISTS analytics_settings;
DROP TABLE IF EXISTS pixel_client_tokens;
