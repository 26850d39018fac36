-- +goose Up
-- The tier table a merchant set for one step of one flow (internal/discount
-- Table, JSON). A missing row means the package's default table.
CREATE TABLE IF NOT EXISTS discount_tables (
    shop_id    bigint      NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    flow_key   text        NOT NULL CHECK (flow_key <> ''),
    step_key   text        NOT NULL CHECK (step_key <> ''),
    tiers      jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, flow_key, step_key)
);

-- One unique, single-use code per (enrollment, step). The row is reserved
-- with its code and every parameter BEFORE the Admin API is called, so a
-- retry (crash, timeout, concurrent worker) recreates exactly the same code
-- and Shopify's "code taken" tells it the first attempt went through.
-- claim_token/claimed_until is a short lease: one caller at a time talks to
-- Shopify about a row. Amounts are exact decimals in the shop's currency.
CREATE TABLE IF NOT EXISTS discount_codes (
    id            bigserial     PRIMARY KEY,
    shop_id       bigint        NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    shop_domain   text          NOT NULL,
    enrollment_id bigint        NOT NULL CHECK (enrollment_id > 0),
    step          text          NOT NULL CHECK (step <> ''),
    code          text          NOT NULL CHECK (code ~ '^[A-Z0-9-]{6,64}$'),
    title         text          NOT NULL,
    kind          text          NOT NULL CHECK (kind IN ('percentage', 'fixed_amount', 'free_shipping')),
    percent       integer       NOT NULL DEFAULT 0 CHECK (percent BETWEEN 0 AND 100),
    amount        numeric(20,4) NOT NULL DEFAULT 0 CHECK (amount >= 0),
    minimum       numeric(20,4) NOT NULL DEFAULT 0 CHECK (minimum >= 0),
    currency      text          NOT NULL DEFAULT '',
    -- gid://shopify/Customer/<id> the code is restricted to; '' = all buyers.
    customer_gid  text          NOT NULL DEFAULT '',
    starts_at     timestamptz   NOT NULL,
    ends_at       timestamptz   NOT NULL CHECK (ends_at > starts_at),
    status        text          NOT NULL DEFAULT 'reserved'
                  CHECK (status IN ('reserved', 'created', 'failed', 'redeemed', 'expired')),
    -- gid://shopify/DiscountCodeNode/<id> once created.
    shopify_id    text          NOT NULL DEFAULT '',
    error         text          NOT NULL DEFAULT '',
    attempts      integer       NOT NULL DEFAULT 0,
    claim_token   text,
    claimed_until timestamptz,
    redeemed_at   timestamptz,
    cleaned_at    timestamptz,
    created_at    timestamptz   NOT NULL DEFAULT now(),
    updated_at    timestamptz   NOT NULL DEFAULT now(),
    UNIQUE (enrollment_id, step)
);
-- Shopify codes are unique per shop, case-insensitively.
CREATE UNIQUE INDEX IF NOT EXISTS discount_codes_shop_code ON discount_codes (shop_id, upper(code));
-- The cleanup's index: live codes by expiry.
CREATE INDEX IF NOT EXISTS discount_codes_expiring ON discount_codes (ends_at) WHERE status IN ('reserved', 'created');
CREATE INDEX IF NOT EXISTS discount_codes_customer ON discount_codes (shop_id, customer_gid) WHERE customer_gid <> '';

-- Orders that used one of our codes (orders/create discount_codes).
CREATE TABLE IF NOT EXISTS discount_redemptions (
    code_id     bigint      NOT NULL REFERENCES discount_codes(id) ON DELETE CASCADE,
    shop_id     bigint      NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    order_id    bigint      NOT NULL CHECK (order_id > 0),
    redeemed_at timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (code_id, order_id)
);
CREATE INDEX IF NOT EXISTS discount_redemptions_order ON discount_redemptions (shop_id, order_id);

-- +goose Down
DROP TABLE IF EXISTS discount_redemptions;
DROP TABLE IF EXISTS discount_codes;
DROP TABLE IF EXISTS discount_tables;
