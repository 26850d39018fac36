-- +goose Up
-- Re-engagement thresholds per shop, next to the engine's other rules. A
-- contact is disengaged after disengaged_days without an order, open or
-- click, dormant after dormant_days (dormant contacts get the sunset branch:
-- a last chance, then suppression). Rows written before this migration get
-- the defaults.
ALTER TABLE journey_settings
    ADD COLUMN IF NOT EXISTS disengaged_days integer NOT NULL DEFAULT 90 CHECK (disengaged_days BETWEEN 1 AND 3650),
    ADD COLUMN IF NOT EXISTS dormant_days    integer NOT NULL DEFAULT 180 CHECK (dormant_days BETWEEN 2 AND 3650);
ALTER TABLE journey_settings DROP CONSTRAINT IF EXISTS journey_settings_dormant_after_disengaged;
ALTER TABLE journey_settings ADD CONSTRAINT journey_settings_dormant_after_disengaged CHECK (dormant_days > disengaged_days);

-- One row per (shop, scan day): the daily re-engagement scan claims its day
-- with INSERT … ON CONFLICT DO NOTHING, so however many worker replicas run
-- the periodic job, one of them scans a shop once a day. day is the shop's
-- local calendar day (days since 1970-01-01), or, under TIME_SCALE, the
-- index of the compressed day. claimed_at is a heartbeat renewed after each
-- batch: a claim left unfinished and silent for the lease is taken over.
CREATE TABLE IF NOT EXISTS reengagement_scans (
    shop_id     bigint      NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    day         bigint      NOT NULL,
    claimed_at  timestamptz NOT NULL,
    attempts    integer     NOT NULL DEFAULT 1,
    finished_at timestamptz,
    disengaged  integer     NOT NULL DEFAULT 0, -- contacts triggered
    dormant     integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, day)
);

-- The scan's index. A contact's last activity is the latest of its last
-- order, open, click and its creation (someone we have known for less than N
-- days is not disengaged). The scan reads, per shop, the contacts that can
-- still receive marketing, whose last activity is older than a cutoff,
-- in (last activity, id) order with keyset pagination:
--   WHERE shop_id = $1 AND consent = 'subscribed' AND suppressed_at IS NULL AND email IS NOT NULL
--     AND (greatest(…), id) > ($cursor_at, $cursor_id) AND greatest(…) <= $cutoff
--   ORDER BY greatest(…), id LIMIT 500
-- The partial predicate leaves out unsubscribed, suppressed (sunset
-- included) and email-less contacts, so the index holds only who may be
-- scanned; the (shop_id, activity, id) key makes each page one range scan
-- that starts where the previous ended, whatever the shop's size. Contacts
-- already handled for the current inactivity period are skipped with an
-- anti-join on enrollments_history (shop_id, contact_id, flow_key, started_at).
CREATE INDEX IF NOT EXISTS contacts_reengagement ON contacts
    (shop_id, (greatest(created_at, last_order_at, last_open_at, last_click_at)), id)
    WHERE consent = 'subscribed' AND suppressed_at IS NULL AND email IS NOT NULL;

-- +goose Down
DROP INDEX IF EXISTS contacts_reengagement;
DROP TABLE IF EXISTS reengagement_scans;
ALTER TABLE journey_settings DROP CONSTRAINT IF EXISTS journey_settings_dormant_after_disengaged;
ALTER TABLE journey_settings DROP COLUMN IF EXISTS dormant_days, DROP COLUMN IF EXISTS disengaged_days;
