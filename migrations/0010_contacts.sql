-- +goose Up
-- Shoppers of one shop. Email is stored lowercased; customer_id is the Shopify
-- customer id. Either may be NULL (an anonymous checkout has an email and no
-- customer; a customers/create without email has a customer id only).
CREATE TABLE IF NOT EXISTS contacts (
    id                  bigserial   PRIMARY KEY,
    shop_id             bigint      NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    email               text        CHECK (email = lower(email) AND email <> ''),
    customer_id         bigint,
    first_name          text        NOT NULL DEFAULT '',
    last_name           text        NOT NULL DEFAULT '',
    locale              text        NOT NULL DEFAULT '',
    consent             text        NOT NULL DEFAULT 'not_subscribed'
                        CHECK (consent IN ('subscribed', 'not_subscribed', 'unsubscribed', 'pending')),
    -- Time of the consent change we hold; an older change never overwrites it.
    consent_updated_at  timestamptz,
    consent_source      text        NOT NULL DEFAULT '',
    suppressed_at       timestamptz,
    suppression_reason  text        NOT NULL DEFAULT '',
    -- updated_at of the newest customers/* payload applied (out-of-order guard).
    customer_updated_at timestamptz,
    orders_count        integer     NOT NULL DEFAULT 0,
    first_order_at      timestamptz,
    last_order_at       timestamptz,
    total_spent         numeric(20, 4) NOT NULL DEFAULT 0,
    last_open_at        timestamptz,
    last_click_at       timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS contacts_shop_email ON contacts (shop_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS contacts_shop_customer ON contacts (shop_id, customer_id) WHERE customer_id IS NOT NULL;

-- Secondary identities: checkout tokens, cart tokens, storefront client ids.
-- contact_id is NULL while the identity is anonymous (a cart seen only through
-- carts/update); last_activity_* keeps what it did so that activity can be
-- attributed once the identity is tied to a contact.
CREATE TABLE IF NOT EXISTS contact_identities (
    shop_id          bigint      NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    kind             text        NOT NULL CHECK (kind IN ('checkout', 'cart', 'client')),
    value            text        NOT NULL CHECK (value <> ''),
    contact_id       bigint      REFERENCES contacts(id) ON DELETE CASCADE,
    last_activity_at timestamptz,
    activity         jsonb       NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, kind, value)
);
CREATE INDEX IF NOT EXISTS contact_identities_contact ON contact_identities (contact_id) WHERE contact_id IS NOT NULL;

-- Orders, one row per Shopify order (idempotent under duplicate deliveries);
-- contact order history is recomputed from them.
CREATE TABLE IF NOT EXISTS contact_orders (
    shop_id        bigint      NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    order_id       bigint      NOT NULL,
    contact_id     bigint      REFERENCES contacts(id) ON DELETE CASCADE,
    checkout_token text        NOT NULL DEFAULT '',
    cart_token     text        NOT NULL DEFAULT '',
    total_price    numeric(20, 4) NOT NULL DEFAULT 0,
    currency       text        NOT NULL DEFAULT '',
    ordered_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    cancelled_at   timestamptz,
    fulfilled_at   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, order_id)
);
CREATE INDEX IF NOT EXISTS contact_orders_contact ON contact_orders (contact_id, ordered_at);
CREATE INDEX IF NOT EXISTS contact_orders_checkout ON contact_orders (shop_id, checkout_token) WHERE checkout_token <> '';

CREATE TABLE IF NOT EXISTS contact_order_items (
    shop_id    bigint  NOT NULL,
    order_id   bigint  NOT NULL,
    line       integer NOT NULL,
    product_id bigint  NOT NULL DEFAULT 0,
    variant_id bigint  NOT NULL DEFAULT 0,
    quantity   integer NOT NULL DEFAULT 0,
    title      text    NOT NULL DEFAULT '',
    price      numeric(20, 4) NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, order_id, line),
    FOREIGN KEY (shop_id, order_id) REFERENCES contact_orders (shop_id, order_id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE IF EXISTS contact_order_items;
DROP TABLE IF EXISTS contact_orders;
DROP TABLE IF EXISTS contact_identities;
DROP TABLE IF EXISTS contacts;
