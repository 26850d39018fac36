-- +goose Up
-- Indexes for the retention purge (internal/mail/purge.go), which deletes
-- old rows a bounded chunk at a time, oldest first. mail_webhook_events
-- already has its received_at index (0030).
CREATE INDEX IF NOT EXISTS mail_batches_created ON mail_batches (created_at);
CREATE INDEX IF NOT EXISTS mail_outbox_created ON mail_outbox (created_at);

-- +goose Down
DROP INDEX IF EXISTS mail_outbox_created;
DROP INDEX IF EXISTS mail_batches_created;
