-- +goose Up
-- A shop's own sending domain, registered at Resend (Domains API). Emails
-- go out from it only once Resend reports it verified; until then they use
-- the app's MAIL_FROM with the shop's name. One domain per shop, and a domain
-- belongs to one shop: Resend holds each domain once per account, so a second
-- shop must never adopt (and send from) another shop's domain.
CREATE TABLE IF NOT EXISTS mail_sending_domains (
    shop_id     bigint      PRIMARY KEY REFERENCES shops(id) ON DELETE CASCADE,
    domain      text        NOT NULL,
    resend_id   text        NOT NULL,
    -- Resend's status: not_started, pending, verified, failed,
    -- temporary_failure (kept as text: Resend may add values).
    status      text        NOT NULL,
    region      text        NOT NULL DEFAULT '',
    -- The DNS records to publish, as Resend lists them (record, name, type,
    -- ttl, status, value, priority).
    records     jsonb       NOT NULL DEFAULT '[]',
    verified_at timestamptz,
    checked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS mail_sending_domains_domain ON mail_sending_domains (domain);
CREATE UNIQUE INDEX IF NOT EXISTS mail_sending_domains_resend_id ON mail_sending_domains (resend_id);

-- +goose Down
DROP TABLE IF EXISTS mail_sending_domains;
