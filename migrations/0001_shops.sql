-- +goose Up
-- Installed shops. Tokens are AES-256-GCM ciphertexts (nonce || sealed), never plaintext.
CREATE TABLE IF NOT EXISTS shops (
    id                       bigserial PRIMARY KEY,
    domain                   text        NOT NULL UNIQUE CHECK (domain ~ '^[a-z0-9][a-z0-9-]*\.myshopify\.com$'),
    shopify_id               bigint,
    name                     text        NOT NULL DEFAULT '',
    email                    text        NOT NULL DEFAULT '',
    timezone                 text        NOT NULL DEFAULT 'UTC',
    currency                 text        NOT NULL DEFAULT '',
    scopes                   text[]      NOT NULL DEFAULT '{}',
    scopes_updated_at        timestamptz,
    access_token_enc         bytea,
    access_token_expires_at  timestamptz,
    refresh_token_enc        bytea,
    refresh_token_expires_at timestamptz,
    installed_at             timestamptz NOT NULL DEFAULT now(),
    uninstalled_at           timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now()
);

-- Single-use OAuth state nonces, bound to the browser by a signed cookie.
CREATE TABLE IF NOT EXISTS oauth_states (
    nonce      text        PRIMARY KEY,
    shop       text        NOT NULL,
    expires_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE IF EXISTS oauth_states;
DROP TABLE IF EXISTS shops;
