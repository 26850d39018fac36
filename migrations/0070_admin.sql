-- +goose Up
-- What the merchant sets in the admin's Settings page beyond the engine's
-- rules (journey_settings): who the emails come from. A missing row, or an
-- empty column, means "use what Shopify told us" (shops.name, shops.email,
-- shops.timezone). default_locale is the shop's language for emails when the
-- shopper's is unknown.
CREATE TABLE IF NOT EXISTS shop_settings (
    shop_id          bigint      PRIMARY KEY REFERENCES shops(id) ON DELETE CASCADE,
    sender_name      text        NOT NULL DEFAULT '',
    owner_first_name text        NOT NULL DEFAULT '',
    reply_to         text        NOT NULL DEFAULT '',
    postal_address   text        NOT NULL DEFAULT '',
    default_locale   text        NOT NULL DEFAULT 'en' CHECK (default_locale IN ('en', 'fr')),
    timezone         text        NOT NULL DEFAULT '',
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- A flow being edited: the whole definition and the merchant's email
-- content, kept until published (one draft per flow).
CREATE TABLE IF NOT EXISTS flow_drafts (
    shop_id      bigint      NOT NULL,
    key          text        NOT NULL,
    base_version integer     NOT NULL,
    definition   jsonb       NOT NULL,
    content      jsonb       NOT NULL DEFAULT '{}',
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, key),
    FOREIGN KEY (shop_id, key) REFERENCES flows (shop_id, key) ON DELETE CASCADE
);

-- The merchant's content of a published version, per step template and
-- language; immutable like the version. A step without a row here uses the
-- default template.
CREATE TABLE IF NOT EXISTS flow_content (
    shop_id   bigint  NOT NULL,
    key       text    NOT NULL,
    version   integer NOT NULL,
    template  text    NOT NULL,
    locale    text    NOT NULL,
    subject   text    NOT NULL,
    preheader text    NOT NULL DEFAULT '',
    body      text    NOT NULL,
    PRIMARY KEY (shop_id, key, version, template, locale),
    FOREIGN KEY (shop_id, key, version) REFERENCES flow_versions (shop_id, key, version) ON DELETE CASCADE
);

-- Admin reads: activity newest first per shop, per-flow counters and the
-- home page's sent emails over a window.
CREATE INDEX IF NOT EXISTS journey_decisions_shop ON journey_decisions (shop_id, id DESC);
CREATE INDEX IF NOT EXISTS journey_decisions_contact ON journey_decisions (shop_id, contact_id, id DESC);
CREATE INDEX IF NOT EXISTS journey_messages_shop_sent ON journey_messages (shop_id, sent_at) WHERE status = 'sent';
CREATE INDEX IF NOT EXISTS enrollments_shop_flow_active ON enrollments (shop_id, flow_key) WHERE status = 'active';

-- +goose Down
DROP INDEX IF EXISTS enrollments_shop_flow_active;
DROP INDEX IF EXISTS journey_messages_shop_sent;
DROP INDEX IF EXISTS journey_decisions_contact;
DROP INDEX IF EXISTS journey_decisions_shop;
DROP TABLE IF EXISTS flow_content;
DROP TABLE IF EXISTS flow_drafts;
DROP TABLE IF EXISTS shop_settings;
