package webhook

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/platform"
)

// TypeProcess is the asynq task that runs the handlers of one inbox batch.
const TypeProcess = "webhook:process"

// Task options: a batch is retried with asynq's backoff (the last attempt
// marks what still fails as 'failed', so no row stays pending for ever).
const (
	processMaxRetry = 12
	processTimeout  = 15 * time.Minute
)

// ProcessPayload names the inbox batch to process.
type ProcessPayload struct {
	BatchID int64 `json:"batch_id"`
}

// ProcessTaskID is the deterministic asynq task id of a batch: ingest and the
// reconciler use the same one, so a batch still queued is not queued twice.
func ProcessTaskID(batchID int64) string { return "webhook:" + strconv.FormatInt(batchID, 10) }

// NewProcessTask returns the task that processes one inbox batch.
func NewProcessTask(batchID int64) (*asynq.Task, error) {
	if batchID <= 0 {
		return nil, fmt.Errorf("webhook: process task: invalid batch id %d", batchID)
	}
	payload, err := json.Marshal(ProcessPayload{BatchID: batchID})
	if err != nil {
		return nil, fmt.Errorf("webhook: encode process payload: %w", err)
	}
	return asynq.NewTask(TypeProcess, payload,
		asynq.Queue(platform.QueueWebhooks),
		asynq.TaskID(ProcessTaskID(batchID)),
		asynq.MaxRetry(processMaxRetry),
		asynq.Timeout(processTimeout),
	), nil
}

// DispatcherConfig tunes the dispatcher. Zero values are sensible defaults.
type DispatcherConfig struct {
	Logger *slog.Logger // default slog.Default()
	// HandlerTimeout bounds the handlers of one delivery (default 2 min).
	HandlerTimeout time.Duration
	// Defer, when set, collects the journey triggers the handlers of one
	// batch make and applies them together (journey.Engine.Defer): one
	// transaction per batch instead of one per event.
	Defer func(context.Context) (context.Context, TriggerBatch)
}

// TriggerBatch is the journey triggers collected while a batch runs
// (*journey.Deferred).
type TriggerBatch interface {
	// Mark is the point reached; Discard(mark) drops what was collected
	// since and is not applied yet.
	Mark() int
	Discard(mark int)
	// Flush applies what was collected; on error nothing was applied.
	Flush(ctx context.Context) error
}

// Dispatcher runs the Registry's handlers on recorded deliveries.
type Dispatcher struct {
	db             *sql.DB
	registry       *Registry
	logger         *slog.Logger
	handlerTimeout time.Duration
	defer_         func(context.Context) (context.Context, TriggerBatch)
}

// NewDispatcher returns the handler of TypeProcess tasks.
func NewDispatcher(db *gorm.DB, registry *Registry, cfg DispatcherConfig) (*Dispatcher, error) {
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("webhook: database handle: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HandlerTimeout <= 0 {
		cfg.HandlerTimeout = 2 * time.Minute
	}
	return &Dispatcher{db: sqlDB, registry: registry, logger: cfg.Logger, handlerTimeout: cfg.HandlerTimeout, defer_: cfg.Defer}, nil
}

// alwaysRun are the topics processed even for a shop that is not installed:
// the compliance topics, and app/uninstalled itself so that a retried
// uninstall finishes its work after the shop was marked uninstalled.
var alwaysRun = append(append([]string{}, complianceList...), "app/uninstalled")

// claimSQL takes the batch's pending rows that no other run holds. The row
// is leased (locked_until), not locked: no transaction stays open while
// handlers run, so a handler may itself touch the inbox (shop/redact).
const claimSQL = `
UPDATE webhook_inbox w SET locked_until = $2
WHERE w.batch_id = $1 AND w.status = 'pending' AND (w.locked_until IS NULL OR w.locked_until < now())
RETURNING w.id, w.shop_domain, w.topic, w.webhook_id, w.event_id, w.api_version, w.triggered_at, w.payload,
	(w.topic = ANY($3::text[]) OR EXISTS (SELECT 1 FROM shops s WHERE s.domain = w.shop_domain AND s.uninstalled_at IS NULL))`

const finishSQL = `
UPDATE webhook_inbox w SET
	status = u.status,
	attempts = w.attempts + u.inc,
	last_error = CASE WHEN u.err = '' THEN w.last_error ELSE u.err END,
	processed_at = CASE WHEN u.status = 'pending' THEN NULL ELSE now() END,
	locked_until = NULL
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[]) AS u(id, status, err, inc)
WHERE w.id = u.id`

type claimed struct {
	Delivery
	active bool
}

// HandleProcess processes the pending deliveries of one batch. Rows already
// processed are skipped (asynq runs tasks at least once). It returns an
// error, so asynq retries, when a handler failed with a retryable error.
func (d *Dispatcher) HandleProcess(ctx context.Context, t *asynq.Task) error {
	var p ProcessPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.BatchID <= 0 {
		return fmt.Errorf("webhook: decode process payload %q: %w", t.Payload(), errors.Join(asynq.SkipRetry, err))
	}
	leaseUntil := time.Now().Add(processTimeout + time.Minute)
	if dl, ok := ctx.Deadline(); ok {
		leaseUntil = dl.Add(time.Minute)
	}
	rows, err := d.claim(ctx, p.BatchID, leaseUntil)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	lastAttempt := false
	if n, ok := asynq.GetRetryCount(ctx); ok {
		if m, ok := asynq.GetMaxRetry(ctx); ok && n >= m {
			lastAttempt = true
		}
	}

	ids := make([]int64, len(rows))
	statuses := make([]string, len(rows))
	errs := make([]string, len(rows))
	incs := make([]int32, len(rows))
	var retryErr error
	retries, permanents := 0, 0
	// run processes row i under ctx and records its outcome; it reports
	// whether the delivery's handlers all succeeded.
	run := func(ctx context.Context, i int) bool {
		row := rows[i]
		status, err := d.process(ctx, row)
		statuses[i] = status
		if err == nil {
			return true
		}
		errs[i] = err.Error()
		switch {
		case errors.Is(err, ErrPermanent):
			permanents++
		case lastAttempt:
			statuses[i] = "failed"
			incs[i] = 1
			permanents++
		default:
			incs[i] = 1
			retries++
			if retryErr == nil {
				retryErr = err
			}
		}
		d.logger.Warn("webhook handler failed", "shop", row.ShopDomain, "topic", row.Topic, "webhook_id", row.WebhookID,
			"inbox_id", row.ID, "status", statuses[i], "err", err)
		return false
	}
	pctx, batch := ctx, TriggerBatch(nil)
	if d.defer_ != nil {
		pctx, batch = d.defer_(ctx)
	}
	for i, row := range rows {
		ids[i] = row.ID
		mark := 0
		if batch != nil {
			mark = batch.Mark()
		}
		if !run(pctx, i) && batch != nil {
			// Its retry triggers again: drop what it collected.
			batch.Discard(mark)
		}
	}
	if batch != nil {
		if err := batch.Flush(ctx); err != nil {
			// Nothing of the batch's triggers was applied. Run the
			// deliveries that succeeded again, one transaction each
			// (handlers are idempotent), so that one event the batch
			// cannot apply fails alone instead of holding back the rest.
			d.logger.Warn("webhook: batch triggers not applied together, applying them one delivery at a time",
				"batch_id", p.BatchID, "err", err)
			batch.Discard(0)
			for i := range rows {
				if statuses[i] == "done" {
					run(ctx, i)
				}
			}
		}
	}

	// Record outcomes even if the task's context ended: the work is done.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := d.db.ExecContext(fctx, finishSQL, ids, statuses, errs, incs); err != nil {
		// Rows stay pending and leased; the retry (or the reconciler, once
		// the lease ends) runs them again: handlers are idempotent.
		return fmt.Errorf("webhook: record outcomes of batch %d: %w", p.BatchID, err)
	}
	switch {
	case retries > 0:
		return fmt.Errorf("webhook: batch %d: %d of %d deliveries to retry, first: %w", p.BatchID, retries, len(rows), retryErr)
	case permanents > 0:
		// Marked failed in the inbox; tell asynq not to retry and keep the task visible.
		return fmt.Errorf("webhook: batch %d: %d deliveries failed permanently: %w", p.BatchID, permanents, asynq.SkipRetry)
	}
	return nil
}

func (d *Dispatcher) claim(ctx context.Context, batchID int64, until time.Time) ([]claimed, error) {
	rs, err := d.db.QueryContext(ctx, claimSQL, batchID, until, alwaysRun)
	if err != nil {
		return nil, fmt.Errorf("webhook: claim batch %d: %w", batchID, err)
	}
	defer rs.Close()
	var out []claimed
	for rs.Next() {
		var c claimed
		var trig sql.NullTime
		var payload []byte
		if err := rs.Scan(&c.ID, &c.ShopDomain, &c.Topic, &c.WebhookID, &c.EventID, &c.APIVersion, &trig, &payload, &c.active); err != nil {
			return nil, fmt.Errorf("webhook: read batch %d: %w", batchID, err)
		}
		c.TriggeredAt = trig.Time
		c.Payload = json.RawMessage(payload)
		out = append(out, c)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("webhook: read batch %d: %w", batchID, err)
	}
	// Run in the order things happened, not the order they arrived.
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].TriggeredAt, out[j].TriggeredAt
		if !a.Equal(b) {
			return a.Before(b)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// process runs the handlers of one delivery and returns the row's new
// status; a non-nil error is recorded as last_error.
func (d *Dispatcher) process(ctx context.Context, row claimed) (string, error) {
	if !row.active {
		// app/uninstalled stops all the shop's work.
		return "skipped", nil
	}
	handlers := d.registry.Handlers(row.Topic)
	if len(handlers) == 0 {
		return "skipped", nil
	}
	hctx, cancel := context.WithTimeout(ctx, d.handlerTimeout)
	defer cancel()
	for _, h := range handlers {
		if err := runHandler(hctx, h, row.Delivery); err != nil {
			if errors.Is(err, ErrPermanent) {
				return "failed", err
			}
			return "pending", err
		}
	}
	return "done", nil
}

// runHandler turns a handler panic into a retryable error, so one bad
// delivery cannot take its batch's bookkeeping down with it.
func runHandler(ctx context.Context, h Handler, dl Delivery) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("webhook: handler panic on %s: %v", dl.Topic, r)
		}
	}()
	if err := h(ctx, dl); err != nil {
		return fmt.Errorf("webhook: handle %s %s: %w", dl.Topic, dl.WebhookID, err)
	}
	return nil
}
