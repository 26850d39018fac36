-- +goose Up
-- Per-shop rules of the engine. A missing row means the defaults.
CREATE TABLE IF NOT EXISTS journey_settings (
    shop_id                   bigint      PRIMARY KEY REFERENCES shops(id) ON DELETE CASCADE,
    frequency_cap_hours       integer     NOT NULL DEFAULT 16 CHECK (frequency_cap_hours BETWEEN 0 AND 720),
    -- Quiet hours in the shop's time zone, [start, end); start = end disables them.
    quiet_start               text        NOT NULL DEFAULT '21:00' CHECK (quiet_start ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'),
    quiet_end                 text        NOT NULL DEFAULT '08:00' CHECK (quiet_end ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'),
    -- May cart/checkout reminders without an offer go to shoppers without marketing consent?
    reminders_without_consent boolean     NOT NULL DEFAULT false,
    usable_life_days          integer     NOT NULL DEFAULT 30 CHECK (usable_life_days BETWEEN 1 AND 3650),
    updated_at                timestamptz NOT NULL DEFAULT now()
);

-- Replenishment: a product's usable life, overriding the shop default.
CREATE TABLE IF NOT EXISTS journey_product_life (
    shop_id    bigint  NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    product_id bigint  NOT NULL,
    days       integer NOT NULL CHECK (days BETWEEN 1 AND 3650),
    PRIMARY KEY (shop_id, product_id)
);

-- One contact going through one flow. PostgreSQL holds the schedule: step is
-- the index of the next step, next_run_at when it is due (NULL while waiting
-- for an event such as fulfilment). The pump hands asynq only what is due
-- soon; enqueued_for is the next_run_at it last handed over.
CREATE TABLE IF NOT EXISTS enrollments (
    id            bigserial   PRIMARY KEY,
    shop_id       bigint      NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    contact_id    bigint      NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    flow_key      text        NOT NULL,
    flow_version  integer     NOT NULL,
    branch        text        NOT NULL,
    -- Copied from the pinned version so exits are one indexed UPDATE.
    goal_purchase boolean     NOT NULL,
    ladder        smallint    NOT NULL DEFAULT 0,
    status        text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'exited')),
    exit_reason   text        NOT NULL DEFAULT '',
    subject       text        NOT NULL DEFAULT '',
    order_id      bigint,
    context       jsonb       NOT NULL DEFAULT '{}',
    -- When the triggering behaviour happened: orders from then on reach the goal.
    trigger_at    timestamptz NOT NULL,
    step          integer     NOT NULL DEFAULT 0,
    next_run_at   timestamptz,
    waiting_for   text        NOT NULL DEFAULT '',
    enqueued_for  timestamptz,
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS enrollments_one_active ON enrollments (shop_id, contact_id, flow_key) WHERE status = 'active';
-- The pump's index: only active rows with a due time, so its cost follows
-- what is due, not how many shoppers wait.
CREATE INDEX IF NOT EXISTS enrollments_due ON enrollments (next_run_at) WHERE status = 'active' AND next_run_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS enrollments_history ON enrollments (shop_id, contact_id, flow_key, started_at);
CREATE INDEX IF NOT EXISTS enrollments_order ON enrollments (shop_id, order_id) WHERE status = 'active' AND order_id IS NOT NULL;

-- One row per email the engine decided to send, inserted before the sender
-- is called: UNIQUE (enrollment_id, step) is the at-most-once guard, and id
-- is the provider idempotency key.
CREATE TABLE IF NOT EXISTS journey_messages (
    id            bigserial   PRIMARY KEY,
    shop_id       bigint      NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    contact_id    bigint      NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    enrollment_id bigint      NOT NULL REFERENCES enrollments(id) ON DELETE CASCADE,
    step          integer     NOT NULL,
    step_key      text        NOT NULL,
    flow_key      text        NOT NULL,
    flow_version  integer     NOT NULL,
    template      text        NOT NULL,
    class         text        NOT NULL CHECK (class IN ('transactional', 'promotional')),
    offer         boolean     NOT NULL DEFAULT false,
    to_email      text        NOT NULL,
    status        text        NOT NULL DEFAULT 'sending' CHECK (status IN ('sending', 'sent', 'failed', 'cancelled')),
    error         text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    sent_at       timestamptz,
    UNIQUE (enrollment_id, step)
);
-- Frequency cap: the contact's latest emails.
CREATE INDEX IF NOT EXISTS journey_messages_contact ON journey_messages (contact_id, created_at) WHERE status IN ('sending', 'sent');

-- Every decision the engine took: sent, skipped (and why), deferred (until
-- when), exited, failed.
CREATE TABLE IF NOT EXISTS journey_decisions (
    id            bigserial   PRIMARY KEY,
    shop_id       bigint      NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    enrollment_id bigint      NOT NULL REFERENCES enrollments(id) ON DELETE CASCADE,
    contact_id    bigint      NOT NULL,
    step          integer     NOT NULL,
    decision      text        NOT NULL CHECK (decision IN ('sent', 'skipped', 'deferred', 'exited', 'failed')),
    reason        text        NOT NULL DEFAULT '',
    until         timestamptz,
    message_id    bigint,
    at            timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS journey_decisions_enrollment ON journey_decisions (enrollment_id, id);

-- +goose Down
DROP TABLE IF EXISTS journey_decisions;
DROP TABLE IF EXISTS journey_messages;
DROP TABLE IF EXISTS enrollments;
DROP TABLE IF EXISTS journey_product_life;
DROP TABLE IF EXISTS journey_settings;
