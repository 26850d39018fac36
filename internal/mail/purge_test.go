package mail

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/platform/testenv"
)

func count(t *testing.T, db *gorm.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, db.Raw(q, args...).Scan(&n).Error)
	return n
}

func TestPurgeKeepsWhatMayStillMatter(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)
	ctx := context.Background()
	now := time.Now().UTC()
	day := 24 * time.Hour
	exec := func(q string, args ...any) {
		t.Helper()
		require.NoError(t, db.Exec(q, args...).Error)
	}
	var shopID int64
	require.NoError(t, db.Raw(`INSERT INTO shops (domain, name, email) VALUES ('purge.myshopify.com', 'P', 'p@example.org') RETURNING id`).
		Scan(&shopID).Error)

	// More old webhook events than one chunk, and a few recent ones.
	exec(`INSERT INTO mail_webhook_events (svix_id, type, received_at)
SELECT 'old-' || i, 'email.opened', ?::timestamptz - i * interval '1 second' FROM generate_series(1, 2500) i`, now.Add(-31*day))
	exec(`INSERT INTO mail_webhook_events (svix_id, type, received_at) VALUES ('recent-1', 'email.opened', ?), ('recent-2', 'email.sent', ?)`,
		now.Add(-29*day), now.Add(-time.Hour))

	// Messages 1–3 settled (sent, sent, failed), 4 still waiting for its
	// outcome, 5–6 in the dev outbox.
	exec(`INSERT INTO mail_messages (id, shop_id, to_email, provider, status, provider_id) VALUES
(1, ?, 'a@example.org', 'resend', 'sent', 're-1'), (2, ?, 'b@example.org', 'resend', 'sent', 're-2'),
(3, ?, 'c@example.org', 'resend', 'failed', NULL), (4, ?, 'd@example.org', 'resend', 'sending', NULL),
(5, ?, 'e@example.org', 'outbox', 'sent', 'outbox-5'), (6, ?, 'f@example.org', 'outbox', 'sent', 'outbox-6')`,
		shopID, shopID, shopID, shopID, shopID, shopID)
	exec(`INSERT INTO mail_batches (key, message_ids, created_at, completed_at) VALUES
('old-completed', '{1,2}', ?, ?),
('old-refused', '{3}', ?, NULL),
('old-unsettled', '{1,4}', ?, NULL),
('old-redacted', '{99}', ?, NULL),
('recent-completed', '{2}', ?, ?)`,
		now.Add(-40*day), now.Add(-40*day), now.Add(-35*day), now.Add(-60*day), now.Add(-45*day), now.Add(-10*day), now.Add(-10*day))
	for id, age := range map[int64]time.Duration{5: 8 * day, 6: 6 * day} {
		exec(`INSERT INTO mail_outbox (id, shop_id, from_addr, to_email, subject, html, text, created_at)
VALUES (?, ?, 'hello@relance.example', 'x@example.org', 's', 'h', 't', ?)`, id, shopID, now.Add(-age))
	}

	res, err := Purge(ctx, db, now, DefaultRetention)
	require.NoError(t, err)
	require.Equal(t, PurgeResult{WebhookEvents: 2500, Batches: 3, Outbox: 1}, res)
	require.EqualValues(t, 2, count(t, db, `SELECT count(*) FROM mail_webhook_events`))
	var keys []string
	require.NoError(t, db.Raw(`SELECT key FROM mail_batches ORDER BY key`).Scan(&keys).Error)
	require.Equal(t, []string{"old-unsettled", "recent-completed"}, keys, "a batch a replay still needs stays")
	require.EqualValues(t, 6, count(t, db, `SELECT min(id) FROM mail_outbox`), "only the week-old outbox email goes")
	require.EqualValues(t, 1, count(t, db, `SELECT count(*) FROM mail_outbox`))
	require.EqualValues(t, 6, count(t, db, `SELECT count(*) FROM mail_messages`), "messages are not the purge's")

	// Nothing left to do: a second run deletes nothing.
	res, err = Purge(ctx, db, now, DefaultRetention)
	require.NoError(t, err)
	require.Equal(t, PurgeResult{}, res)

	_, err = Purge(ctx, db, now, Retention{WebhookEvents: day, Batches: 0, Outbox: day})
	require.ErrorContains(t, err, "mail_batches: retention must be positive")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = Purge(cancelled, db, now, DefaultRetention)
	require.ErrorIs(t, err, context.Canceled)
}
