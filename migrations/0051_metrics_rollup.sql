-- +goose Up
-- Pre-aggregated KPIs for the admin (internal/analytics, issues 5 and 6):
-- the Home page, per-step and per-flow figures are read from hourly rows,
-- not computed from messages, decisions, attributions and orders.
--
-- Writes never touch a shared row: triggers on the source tables only
-- INSERT signed changes into metrics_deltas (append-only, no foreign key, in
-- the writer's transaction), so they add no lock a concurrent writer can
-- wait on (the metrics_daily attempt updated a row per shop and day and
-- deadlocked the engine). The worker folds deltas into metrics_hourly (per flow and step)
-- and metrics_shop_hourly (per shop) every few seconds (analytics.RollUp);
-- readers add the rows not yet folded, in one statement, so figures are
-- exact before the fold runs.
--
-- hour is the start of a UTC hour: the admin cuts days in the shop's zone,
-- an hour belonging to the local day it starts in. flow_key/step_key are ''
-- for shop-wide figures (orders of the shop) and step_key '' for skips.
--   sent              emails sent (journey_messages.status = 'sent', at sent_at)
--   skipped           steps skipped (journey_decisions.decision = 'skipped', at at)
--   reached           abandonment enrollments reached, counted once, at the
--                     enrollment's first sent email
--   orders, revenue   orders attributed to an email (analytics_attributions,
--                     not cancelled, at ordered_at); recovered_* those of an
--                     abandonment flow
--   shop_orders, shop_revenue  every order of the shop not cancelled
--                     (contact_orders, at ordered_at), for the overall AOV
-- Deleting a source row (a customer's redaction) subtracts it, so the
-- figures always equal what the source rows say.
CREATE TABLE IF NOT EXISTS metrics_deltas (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No foreign key: a delta written while its shop is being erased must not
    -- fail the erase; the fold drops deltas of shops that no longer exist.
    shop_id           bigint         NOT NULL,
    hour              timestamptz    NOT NULL,
    flow_key          text           NOT NULL,
    step_key          text           NOT NULL,
    sent              integer        NOT NULL DEFAULT 0,
    skipped           integer        NOT NULL DEFAULT 0,
    reached           integer        NOT NULL DEFAULT 0,
    orders            integer        NOT NULL DEFAULT 0,
    revenue           numeric        NOT NULL DEFAULT 0,
    recovered_orders  integer        NOT NULL DEFAULT 0,
    recovered_revenue numeric        NOT NULL DEFAULT 0,
    shop_orders       integer        NOT NULL DEFAULT 0,
    shop_revenue      numeric        NOT NULL DEFAULT 0
);
-- Readers add a shop's pending deltas over a period.
CREATE INDEX IF NOT EXISTS metrics_deltas_shop ON metrics_deltas (shop_id, hour);
-- A queue: rows come and go every few seconds; vacuum it by row count, not
-- by a fraction of a table that is usually almost empty.
ALTER TABLE metrics_deltas SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000,
    autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 10000);

CREATE TABLE IF NOT EXISTS metrics_hourly (
    shop_id           bigint      NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    hour              timestamptz NOT NULL,
    flow_key          text        NOT NULL,
    step_key          text        NOT NULL,
    sent              bigint      NOT NULL DEFAULT 0,
    skipped           bigint      NOT NULL DEFAULT 0,
    reached           bigint      NOT NULL DEFAULT 0,
    orders            bigint      NOT NULL DEFAULT 0,
    revenue           numeric     NOT NULL DEFAULT 0,
    recovered_orders  bigint      NOT NULL DEFAULT 0,
    recovered_revenue numeric     NOT NULL DEFAULT 0,
    shop_orders       bigint      NOT NULL DEFAULT 0,
    shop_revenue      numeric     NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, hour, flow_key, step_key)
);

-- The same figures summed over flows and steps: the Home page reads one row
-- per hour (2,160 for 90 days) whatever the number of flows and steps.
CREATE TABLE IF NOT EXISTS metrics_shop_hourly (
    shop_id           bigint      NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    hour              timestamptz NOT NULL,
    sent              bigint      NOT NULL DEFAULT 0,
    skipped           bigint      NOT NULL DEFAULT 0,
    reached           bigint      NOT NULL DEFAULT 0,
    orders            bigint      NOT NULL DEFAULT 0,
    revenue           numeric     NOT NULL DEFAULT 0,
    recovered_orders  bigint      NOT NULL DEFAULT 0,
    recovered_revenue numeric     NOT NULL DEFAULT 0,
    shop_orders       bigint      NOT NULL DEFAULT 0,
    shop_revenue      numeric     NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, hour)
);

-- Emails: sent, and abandonment enrollments reached. news/olds are the
-- rows after/before the statement that are (were) sent. An enrollment's
-- first sent email (by sent_at, id) is compared before and after the
-- statement: after is the table now; before is the table now, less the new
-- versions, plus the old ones (counted with weights rather than anti-joined,
-- so a statement of many rows costs n log n, not n²). The engine changes an
-- enrollment's messages under that enrollment's lock, so no two
-- transactions race on the same enrollment.
-- plpgsql, not sql: its plans are cached per session, where a SQL function
-- holding an INSERT is planned again on every call.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION metrics_messages_delta(news journey_messages[], olds journey_messages[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    one journey_messages;
    firsts journey_messages[];
BEGIN
    -- One message becoming sent (a single-row statement): it is the
    -- enrollment's first now if it heads the enrollment's sent emails, and
    -- the one that headed them before (if any) no longer is. One index
    -- read, not the general query below.
    IF cardinality(olds) IS NULL AND cardinality(news) = 1 THEN
        one := news[1];
        IF one.flow_key NOT IN ('checkout_abandonment', 'cart_abandonment', 'browse_abandonment') THEN
            INSERT INTO metrics_deltas (shop_id, hour, flow_key, step_key, sent)
            VALUES (one.shop_id, date_trunc('hour', one.sent_at, 'UTC'), one.flow_key, one.step_key, 1);
            RETURN;
        END IF;
        firsts := ARRAY(SELECT x FROM journey_messages x WHERE x.enrollment_id = one.enrollment_id AND x.status = 'sent'
            AND x.sent_at IS NOT NULL ORDER BY x.sent_at, x.id LIMIT 2);
        INSERT INTO metrics_deltas (shop_id, hour, flow_key, step_key, sent, reached)
        VALUES (one.shop_id, date_trunc('hour', one.sent_at, 'UTC'), one.flow_key, one.step_key, 1, CASE WHEN firsts[1].id = one.id THEN 1 ELSE 0 END);
        IF firsts[1].id = one.id AND cardinality(firsts) = 2 THEN
            INSERT INTO metrics_deltas (shop_id, hour, flow_key, step_key, reached)
            VALUES (firsts[2].shop_id, date_trunc('hour', firsts[2].sent_at, 'UTC'), firsts[2].flow_key, firsts[2].step_key, -1);
        END IF;
        RETURN;
    END IF;
    INSERT INTO metrics_deltas (shop_id, hour, flow_key, step_key, sent, reached)
    WITH n AS (SELECT * FROM unnest(news)),
    o AS (SELECT * FROM unnest(olds)),
    touched AS (
        SELECT enrollment_id FROM n WHERE flow_key IN ('checkout_abandonment', 'cart_abandonment', 'browse_abandonment')
        UNION
        SELECT enrollment_id FROM o WHERE flow_key IN ('checkout_abandonment', 'cart_abandonment', 'browse_abandonment')
    ),
    cur AS (
        SELECT m.id, m.enrollment_id, m.shop_id, m.sent_at, m.flow_key, m.step_key FROM journey_messages m
        WHERE m.enrollment_id IN (SELECT enrollment_id FROM touched) AND m.status = 'sent' AND m.sent_at IS NOT NULL
    ),
    first_after AS (
        SELECT DISTINCT ON (enrollment_id) shop_id, sent_at, flow_key, step_key FROM cur ORDER BY enrollment_id, sent_at, id
    ),
    first_before AS (
        SELECT DISTINCT ON (enrollment_id) shop_id, sent_at, flow_key, step_key
        FROM (
            SELECT id, enrollment_id, shop_id, sent_at, flow_key, step_key FROM (
                SELECT id, enrollment_id, shop_id, sent_at, flow_key, step_key, 1 AS w FROM cur
                UNION ALL
                SELECT id, enrollment_id, shop_id, sent_at, flow_key, step_key, -1 FROM n
                WHERE flow_key IN ('checkout_abandonment', 'cart_abandonment', 'browse_abandonment')
                UNION ALL
                SELECT id, enrollment_id, shop_id, sent_at, flow_key, step_key, 1 FROM o
                WHERE flow_key IN ('checkout_abandonment', 'cart_abandonment', 'browse_abandonment')
            ) v
            GROUP BY id, enrollment_id, shop_id, sent_at, flow_key, step_key
            HAVING sum(w) > 0
        ) b
        ORDER BY enrollment_id, sent_at, id
    ),
    changes AS (
        SELECT shop_id, sent_at AS at, flow_key, step_key, 1 AS sent, 0 AS reached FROM n
        UNION ALL
        SELECT shop_id, sent_at, flow_key, step_key, -1, 0 FROM o
        UNION ALL
        SELECT shop_id, sent_at, flow_key, step_key, 0, 1 FROM first_after
        UNION ALL
        SELECT shop_id, sent_at, flow_key, step_key, 0, -1 FROM first_before
    )
    SELECT shop_id, date_trunc('hour', at, 'UTC'), flow_key, step_key, sum(sent), sum(reached)
    FROM changes
    GROUP BY 1, 2, 3, 4
    HAVING sum(sent) <> 0 OR sum(reached) <> 0;
END $$;
-- +goose StatementEnd

-- Skipped steps, under the flow of their enrollment: row-level triggers,
-- skipped by their WHEN clause for every other decision (most of what the
-- engine records). A decision deleted with its enrollment (the enrollment
-- is gone by then) was subtracted by metrics_enrollment_deleted.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION metrics_decision_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.decision = 'skipped' THEN
        INSERT INTO metrics_deltas (shop_id, hour, flow_key, step_key, skipped)
        SELECT OLD.shop_id, date_trunc('hour', OLD.at, 'UTC'), e.flow_key, '', -1 FROM enrollments e WHERE e.id = OLD.enrollment_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.decision = 'skipped' THEN
        INSERT INTO metrics_deltas (shop_id, hour, flow_key, step_key, skipped)
        SELECT NEW.shop_id, date_trunc('hour', NEW.at, 'UTC'), e.flow_key, '', 1 FROM enrollments e WHERE e.id = NEW.enrollment_id;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- Attributed and recovered orders, under the email credited.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION metrics_attributions_delta(news analytics_attributions[], olds analytics_attributions[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO metrics_deltas (shop_id, hour, flow_key, step_key, orders, revenue, recovered_orders, recovered_revenue)
    SELECT shop_id, date_trunc('hour', ordered_at, 'UTC'), flow_key, step_key, sum(sign), sum(sign * revenue),
        COALESCE(sum(sign) FILTER (WHERE recovered), 0), COALESCE(sum(sign * revenue) FILTER (WHERE recovered), 0)
    FROM (
        SELECT shop_id, ordered_at, flow_key, step_key, revenue, recovered, 1 AS sign FROM unnest(news)
        UNION ALL
        SELECT shop_id, ordered_at, flow_key, step_key, revenue, recovered, -1 FROM unnest(olds)
    ) a
    GROUP BY 1, 2, 3, 4
    HAVING sum(sign) <> 0 OR sum(sign * revenue) <> 0 OR COALESCE(sum(sign) FILTER (WHERE recovered), 0) <> 0
        OR COALESCE(sum(sign * revenue) FILTER (WHERE recovered), 0) <> 0;
END $$;
-- +goose StatementEnd

-- Every order of the shop, for the overall AOV.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION metrics_orders_delta(news contact_orders[], olds contact_orders[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO metrics_deltas (shop_id, hour, flow_key, step_key, shop_orders, shop_revenue)
    SELECT shop_id, date_trunc('hour', ordered_at, 'UTC'), '', '', sum(sign), sum(sign * total_price)
    FROM (
        SELECT shop_id, ordered_at, total_price, 1 AS sign FROM unnest(news)
        UNION ALL
        SELECT shop_id, ordered_at, total_price, -1 FROM unnest(olds)
    ) o
    GROUP BY 1, 2
    HAVING sum(sign) <> 0 OR sum(sign * total_price) <> 0;
END $$;
-- +goose StatementEnd

-- Statement-level trigger functions: a trigger with transition tables fires
-- on one event only, so a table has one trigger per event sharing its
-- function; TG_OP says which transition tables exist. (journey_messages'
-- updates, the engine's hot path, and journey_decisions have row-level
-- triggers instead, see below.) Only rows that count are passed on (sent
-- emails, orders not cancelled): a message inserted 'sending' stops here.
-- Rows deleted with their shop (shop/redact: the shop row goes first, then
-- the cascade) are not: its figures go with it.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION metrics_messages_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    news journey_messages[];
    olds journey_messages[];
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        news := ARRAY(SELECT r::journey_messages FROM new_rows r WHERE r.status = 'sent' AND r.sent_at IS NOT NULL);
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        olds := ARRAY(SELECT r::journey_messages FROM old_rows r WHERE r.status = 'sent' AND r.sent_at IS NOT NULL
            AND EXISTS (SELECT 1 FROM shops s WHERE s.id = r.shop_id));
    END IF;
    IF cardinality(news) > 0 OR cardinality(olds) > 0 THEN
        PERFORM metrics_messages_delta(news, olds);
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION metrics_attributions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    news analytics_attributions[];
    olds analytics_attributions[];
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        news := ARRAY(SELECT r::analytics_attributions FROM new_rows r WHERE r.cancelled_at IS NULL);
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        olds := ARRAY(SELECT r::analytics_attributions FROM old_rows r WHERE r.cancelled_at IS NULL
            AND EXISTS (SELECT 1 FROM shops s WHERE s.id = r.shop_id));
    END IF;
    IF cardinality(news) > 0 OR cardinality(olds) > 0 THEN
        PERFORM metrics_attributions_delta(news, olds);
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION metrics_orders_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    news contact_orders[];
    olds contact_orders[];
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        news := ARRAY(SELECT r::contact_orders FROM new_rows r WHERE r.cancelled_at IS NULL);
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        olds := ARRAY(SELECT r::contact_orders FROM old_rows r WHERE r.cancelled_at IS NULL
            AND EXISTS (SELECT 1 FROM shops s WHERE s.id = r.shop_id));
    END IF;
    IF cardinality(news) > 0 OR cardinality(olds) > 0 THEN
        PERFORM metrics_orders_delta(news, olds);
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- The engine marks one message sent (or failed) per statement, inside its
-- transaction: a row-level BEFORE trigger, skipped by its WHEN clause
-- unless a sent email is involved, costs a fraction of a statement-level
-- one (bench/metrics: +45 µs a send against +400 µs). BEFORE, because
-- it then sees the table as it was before this row changed, with the rows
-- the same statement changed earlier already changed: applied row by row,
-- the differences add up exactly even for a statement updating several
-- messages of an enrollment.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION metrics_message_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    firsts journey_messages[];
    rest journey_messages;
    before_first journey_messages;
    after_first journey_messages;
    old_sent boolean := OLD.status = 'sent' AND OLD.sent_at IS NOT NULL;
    new_sent boolean := NEW.status = 'sent' AND NEW.sent_at IS NOT NULL;
BEGIN
    IF old_sent THEN
        INSERT INTO metrics_deltas (shop_id, hour, flow_key, step_key, sent)
        VALUES (OLD.shop_id, date_trunc('hour', OLD.sent_at, 'UTC'), OLD.flow_key, OLD.step_key, -1);
    END IF;
    IF new_sent THEN
        INSERT INTO metrics_deltas (shop_id, hour, flow_key, step_key, sent)
        VALUES (NEW.shop_id, date_trunc('hour', NEW.sent_at, 'UTC'), NEW.flow_key, NEW.step_key, 1);
    END IF;
    IF OLD.flow_key NOT IN ('checkout_abandonment', 'cart_abandonment', 'browse_abandonment')
        AND NEW.flow_key NOT IN ('checkout_abandonment', 'cart_abandonment', 'browse_abandonment') THEN
        RETURN NEW;
    END IF;
    -- The enrollment's first sent email before this change, and the first
    -- once OLD is replaced by NEW (OLD's enrollment: the engine never moves
    -- a message to another).
    firsts := ARRAY(SELECT x FROM journey_messages x WHERE x.enrollment_id = OLD.enrollment_id AND x.status = 'sent'
        AND x.sent_at IS NOT NULL ORDER BY x.sent_at, x.id LIMIT 2);
    before_first := firsts[1];
    rest := CASE WHEN firsts[1].id = OLD.id THEN firsts[2] ELSE firsts[1] END;
    after_first := rest;
    IF new_sent AND NEW.flow_key IN ('checkout_abandonment', 'cart_abandonment', 'browse_abandonment')
        AND (rest.id IS NULL OR (NEW.sent_at, NEW.id) < (rest.sent_at, rest.id)) THEN
        after_first := NEW;
    END IF;
    IF before_first.id IS NOT DISTINCT FROM after_first.id AND before_first.sent_at IS NOT DISTINCT FROM after_first.sent_at
        AND before_first.step_key IS NOT DISTINCT FROM after_first.step_key THEN
        RETURN NEW;
    END IF;
    IF before_first.id IS NOT NULL AND before_first.flow_key IN ('checkout_abandonment', 'cart_abandonment', 'browse_abandonment') THEN
        INSERT INTO metrics_deltas (shop_id, hour, flow_key, step_key, reached)
        VALUES (before_first.shop_id, date_trunc('hour', before_first.sent_at, 'UTC'), before_first.flow_key, before_first.step_key, -1);
    END IF;
    IF after_first.id IS NOT NULL AND after_first.flow_key IN ('checkout_abandonment', 'cart_abandonment', 'browse_abandonment') THEN
        INSERT INTO metrics_deltas (shop_id, hour, flow_key, step_key, reached)
        VALUES (after_first.shop_id, date_trunc('hour', after_first.sent_at, 'UTC'), after_first.flow_key, after_first.step_key, 1);
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd

-- An enrollment is deleted (with its contact, by a redaction) before its
-- decisions are (by cascade, when the enrollment can no longer name their
-- flow): subtract its skips now. BEFORE ROW: the decisions are still there.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION metrics_enrollment_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM shops WHERE id = OLD.shop_id) THEN
        RETURN OLD; -- erased with its shop
    END IF;
    INSERT INTO metrics_deltas (shop_id, hour, flow_key, step_key, skipped)
    SELECT OLD.shop_id, date_trunc('hour', d.at, 'UTC'), OLD.flow_key, '', -count(*)
    FROM journey_decisions d WHERE d.enrollment_id = OLD.id AND d.decision = 'skipped'
    GROUP BY 2;
    RETURN OLD;
END $$;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS metrics_insert ON journey_messages;
DROP TRIGGER IF EXISTS metrics_update ON journey_messages;
DROP TRIGGER IF EXISTS metrics_delete ON journey_messages;
CREATE TRIGGER metrics_insert AFTER INSERT ON journey_messages REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_messages_changed();
CREATE TRIGGER metrics_update BEFORE UPDATE ON journey_messages FOR EACH ROW
    WHEN ((OLD.status = 'sent' OR NEW.status = 'sent')
        AND (OLD.status, OLD.sent_at, OLD.shop_id, OLD.enrollment_id, OLD.flow_key, OLD.step_key)
            IS DISTINCT FROM (NEW.status, NEW.sent_at, NEW.shop_id, NEW.enrollment_id, NEW.flow_key, NEW.step_key))
    EXECUTE FUNCTION metrics_message_updated();
CREATE TRIGGER metrics_delete AFTER DELETE ON journey_messages REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_messages_changed();

DROP TRIGGER IF EXISTS metrics_insert ON journey_decisions;
DROP TRIGGER IF EXISTS metrics_update ON journey_decisions;
DROP TRIGGER IF EXISTS metrics_delete ON journey_decisions;
CREATE TRIGGER metrics_insert AFTER INSERT ON journey_decisions FOR EACH ROW
    WHEN (NEW.decision = 'skipped') EXECUTE FUNCTION metrics_decision_changed();
CREATE TRIGGER metrics_update AFTER UPDATE ON journey_decisions FOR EACH ROW
    WHEN (OLD.decision = 'skipped' OR NEW.decision = 'skipped') EXECUTE FUNCTION metrics_decision_changed();
CREATE TRIGGER metrics_delete AFTER DELETE ON journey_decisions FOR EACH ROW
    WHEN (OLD.decision = 'skipped') EXECUTE FUNCTION metrics_decision_changed();

DROP TRIGGER IF EXISTS metrics_insert ON analytics_attributions;
DROP TRIGGER IF EXISTS metrics_update ON analytics_attributions;
DROP TRIGGER IF EXISTS metrics_delete ON analytics_attributions;
CREATE TRIGGER metrics_insert AFTER INSERT ON analytics_attributions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_attributions_changed();
CREATE TRIGGER metrics_update AFTER UPDATE ON analytics_attributions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_attributions_changed();
CREATE TRIGGER metrics_delete AFTER DELETE ON analytics_attributions REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_attributions_changed();

DROP TRIGGER IF EXISTS metrics_insert ON contact_orders;
DROP TRIGGER IF EXISTS metrics_update ON contact_orders;
DROP TRIGGER IF EXISTS metrics_delete ON contact_orders;
CREATE TRIGGER metrics_insert AFTER INSERT ON contact_orders REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_orders_changed();
CREATE TRIGGER metrics_update AFTER UPDATE ON contact_orders REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_orders_changed();
CREATE TRIGGER metrics_delete AFTER DELETE ON contact_orders REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_orders_changed();

DROP TRIGGER IF EXISTS metrics_enrollment_deleted ON enrollments;
CREATE TRIGGER metrics_enrollment_deleted BEFORE DELETE ON enrollments
    FOR EACH ROW EXECUTE FUNCTION metrics_enrollment_deleted();

-- Figures of the rows written before this migration. The triggers above
-- lock their tables until this transaction commits, so no write falls
-- between the backfill and the deltas.
INSERT INTO metrics_hourly (shop_id, hour, flow_key, step_key, sent, skipped, reached, orders, revenue, recovered_orders,
    recovered_revenue, shop_orders, shop_revenue)
SELECT shop_id, hour, flow_key, step_key, sum(sent), sum(skipped), sum(reached), sum(orders), sum(revenue), sum(recovered_orders),
    sum(recovered_revenue), sum(shop_orders), sum(shop_revenue)
FROM (
    SELECT shop_id, date_trunc('hour', sent_at, 'UTC') AS hour, flow_key, step_key, count(*) AS sent, 0 AS skipped, 0 AS reached,
        0 AS orders, 0 AS revenue, 0 AS recovered_orders, 0 AS recovered_revenue, 0 AS shop_orders, 0 AS shop_revenue
    FROM journey_messages WHERE status = 'sent' AND sent_at IS NOT NULL GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT shop_id, date_trunc('hour', sent_at, 'UTC'), flow_key, step_key, 0, 0, count(*), 0, 0, 0, 0, 0, 0
    FROM (SELECT DISTINCT ON (enrollment_id) shop_id, sent_at, flow_key, step_key FROM journey_messages
          WHERE status = 'sent' AND sent_at IS NOT NULL AND flow_key IN ('checkout_abandonment', 'cart_abandonment', 'browse_abandonment')
          ORDER BY enrollment_id, sent_at, id) f
    GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT d.shop_id, date_trunc('hour', d.at, 'UTC'), e.flow_key, '', 0, count(*), 0, 0, 0, 0, 0, 0, 0
    FROM journey_decisions d JOIN enrollments e ON e.id = d.enrollment_id WHERE d.decision = 'skipped' GROUP BY 1, 2, 3
    UNION ALL
    SELECT shop_id, date_trunc('hour', ordered_at, 'UTC'), flow_key, step_key, 0, 0, 0, count(*), sum(revenue),
        count(*) FILTER (WHERE recovered), COALESCE(sum(revenue) FILTER (WHERE recovered), 0), 0, 0
    FROM analytics_attributions WHERE cancelled_at IS NULL GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT shop_id, date_trunc('hour', ordered_at, 'UTC'), '', '', 0, 0, 0, 0, 0, 0, 0, count(*), sum(total_price)
    FROM contact_orders WHERE cancelled_at IS NULL GROUP BY 1, 2
) x
GROUP BY 1, 2, 3, 4;
INSERT INTO metrics_shop_hourly (shop_id, hour, sent, skipped, reached, orders, revenue, recovered_orders, recovered_revenue,
    shop_orders, shop_revenue)
SELECT shop_id, hour, sum(sent), sum(skipped), sum(reached), sum(orders), sum(revenue), sum(recovered_orders), sum(recovered_revenue),
    sum(shop_orders), sum(shop_revenue)
FROM metrics_hourly GROUP BY 1, 2;

-- +goose Down
DROP TRIGGER IF EXISTS metrics_enrollment_deleted ON enrollments;
DROP TRIGGER IF EXISTS metrics_insert ON contact_orders;
DROP TRIGGER IF EXISTS metrics_update ON contact_orders;
DROP TRIGGER IF EXISTS metrics_delete ON contact_orders;
DROP TRIGGER IF EXISTS metrics_insert ON analytics_attributions;
DROP TRIGGER IF EXISTS metrics_update ON analytics_attributions;
DROP TRIGGER IF EXISTS metrics_delete ON analytics_attributions;
DROP TRIGGER IF EXISTS metrics_insert ON journey_decisions;
DROP TRIGGER IF EXISTS metrics_update ON journey_decisions;
DROP TRIGGER IF EXISTS metrics_delete ON journey_decisions;
DROP TRIGGER IF EXISTS metrics_insert ON journey_messages;
DROP TRIGGER IF EXISTS metrics_update ON journey_messages;
DROP TRIGGER IF EXISTS metrics_delete ON journey_messages;
DROP FUNCTION IF EXISTS metrics_enrollment_deleted();
DROP FUNCTION IF EXISTS metrics_message_updated();
DROP FUNCTION IF EXISTS metrics_orders_changed();
DROP FUNCTION IF EXISTS metrics_attributions_changed();
DROP FUNCTION IF EXISTS metrics_decision_changed();
DROP FUNCTION IF EXISTS metrics_messages_changed();
DROP FUNCTION IF EXISTS metrics_orders_delta(contact_orders[], contact_orders[]);
DROP FUNCTION IF EXISTS metrics_attributions_delta(analytics_attributions[], analytics_attributions[]);
DROP FUNCTION IF EXISTS metrics_messages_delta(journey_messages[], journey_messages[]);
DROP TABLE IF EXISTS metrics_shop_hourly;
DROP TABLE IF EXISTS metrics_hourly;
DROP TABLE IF EXISTS metrics_deltas;
