package mail

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Retention is how long the mail bookkeeping tables keep a row once it can
// no longer matter. mail_messages is not purged here: analytics and the
// admin's activity read it.
type Retention struct {
	// WebhookEvents keeps the svix-ids of applied Resend deliveries. Svix
	// retries a delivery for about a day and a half; the rest of the month
	// covers replays an operator starts from Resend's dashboard after an
	// outage, which must not count opens and clicks twice.
	WebhookEvents time.Duration
	// Batches keeps settled batches. Resend forgets an idempotency key after
	// 24 hours and a settled batch is never read again; a month leaves time
	// to investigate a delivery incident.
	Batches time.Duration
	// Outbox keeps the emails of `relance dev` (none in production): a week
	// of demos and tests stays viewable without the dev database growing.
	Outbox time.Duration
}

// DefaultRetention is the retention of the periodic purge.
var DefaultRetention = Retention{
	WebhookEvents: 30 * 24 * time.Hour,
	Batches:       30 * 24 * time.Hour,
	Outbox:        7 * 24 * time.Hour,
}

// PurgeResult counts the rows a purge deleted.
type PurgeResult struct {
	WebhookEvents int64
	Batches       int64
	Outbox        int64
}

// purgeChunk bounds one DELETE: short transactions, short locks, and a
// bounded WAL burst, whatever the backlog.
const purgeChunk = 1000

// The chunked DELETEs, each taking (cutoff, limit). Rows are picked oldest
// first through an index, and SKIP LOCKED lets replicas purging at the same
// time pass each other instead of waiting.
const (
	purgeWebhookEvents = `DELETE FROM mail_webhook_events WHERE svix_id IN (
SELECT svix_id FROM mail_webhook_events WHERE received_at < ? ORDER BY received_at LIMIT ? FOR UPDATE SKIP LOCKED)`
	// A batch is settled once completed, or once none of its members waits
	// for an outcome any more (refused, or given up past the idempotency
	// window: neither completes it). An unsettled batch stays whatever its
	// age, since replaying it needs the row.
	purgeBatches = `DELETE FROM mail_batches WHERE key IN (
SELECT b.key FROM mail_batches b WHERE b.created_at < ?
  AND (b.completed_at IS NOT NULL OR NOT EXISTS (SELECT 1 FROM mail_messages m
       WHERE m.id = ANY (b.message_ids) AND m.provider_id IS NULL AND m.status <> 'failed'))
ORDER BY b.created_at LIMIT ? FOR UPDATE OF b SKIP LOCKED)`
	purgeOutbox = `DELETE FROM mail_outbox WHERE id IN (
SELECT id FROM mail_outbox WHERE created_at < ? ORDER BY created_at LIMIT ? FOR UPDATE SKIP LOCKED)`
)

// Purge deletes the webhook events, settled batches and outbox emails older
// than their retention at now, a chunk at a time until none is left or ctx
// ends. It is idempotent and safe to run from every worker.
func Purge(ctx context.Context, db *gorm.DB, now time.Time, r Retention) (PurgeResult, error) {
	var res PurgeResult
	for _, p := range []struct {
		table   string
		keep    time.Duration
		sql     string
		deleted *int64
	}{
		{"mail_webhook_events", r.WebhookEvents, purgeWebhookEvents, &res.WebhookEvents},
		{"mail_batches", r.Batches, purgeBatches, &res.Batches},
		{"mail_outbox", r.Outbox, purgeOutbox, &res.Outbox},
	} {
		if p.keep <= 0 {
			return res, fmt.Errorf("mail: purge %s: retention must be positive, got %s", p.table, p.keep)
		}
		cutoff := now.Add(-p.keep)
		for {
			if err := ctx.Err(); err != nil {
				return res, fmt.Errorf("mail: purge %s: %w", p.table, err)
			}
			del := db.WithContext(ctx).Exec(p.sql, cutoff, purgeChunk)
			if del.Error != nil {
				return res, fmt.Errorf("mail: purge %s: %w", p.table, del.Error)
			}
			*p.deleted += del.RowsAffected
			if del.RowsAffected < purgeChunk {
				break
			}
		}
	}
	return res, nil
}
