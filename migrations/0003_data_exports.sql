-- +goose Up
-- Answers to customers/data_request: one JSON document per request, assembled
-- from every privacy holder, fetched by the merchant from the admin. They hold
-- personal data, so they expire (30 days) and are deleted by customers/redact
-- and shop/redact like any other copy.
CREATE TABLE IF NOT EXISTS data_exports (
    id              bigserial   PRIMARY KEY,
    shop_domain     text        NOT NULL,
    data_request_id bigint      NOT NULL,
    -- The customer reference of the request: {"id", "email", "phone", "order_ids"}.
    customer        jsonb       NOT NULL,
    content         jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    -- A redelivered request finds its export instead of building a second one.
    UNIQUE (shop_domain, data_request_id)
);
-- The admin lists a shop's exports newest first.
CREATE INDEX IF NOT EXISTS data_exports_shop_id ON data_exports (shop_domain, id DESC);
-- The purge deletes what has expired.
CREATE INDEX IF NOT EXISTS data_exports_expires_at ON data_exports (expires_at);

-- +goose Down
DROP TABLE IF EXISTS data_exports;
