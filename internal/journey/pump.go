package journey

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/relance/relance/internal/platform"
)

// pumpBatch bounds one query of the pump.
const pumpBatch = 500

type dueRow struct {
	ID        int64
	ShopID    int64
	Step      int
	NextRunAt time.Time
}

// Pump hands asynq the steps due within the horizon that it has not handed
// over yet, with deterministic task ids and ProcessAt, so Redis only ever
// holds the near future. Every Grace period it also re-offers steps overdue
// by more than Grace, which rebuilds the queue after Redis lost it (a task
// still queued makes the re-offer a no-op). Run it every second from every
// worker replica; concurrent pumps are harmless. Returns how many tasks it
// offered.
func (e *Engine) Pump(ctx context.Context) (int, error) {
	now := e.clock.Now()
	total := 0
	for {
		var rows []dueRow
		err := e.db.WithContext(ctx).Raw(`SELECT id, shop_id, step, next_run_at FROM enrollments
			WHERE status = 'active' AND next_run_at IS NOT NULL AND next_run_at <= ?
			  AND (enqueued_for IS NULL OR enqueued_for <> next_run_at)
			ORDER BY next_run_at LIMIT ?`, now.Add(e.horizon), pumpBatch).Scan(&rows).Error
		if err != nil {
			return total, fmt.Errorf("journey: pump: read due steps: %w", err)
		}
		n, err := e.offer(ctx, rows)
		total += n
		if err != nil {
			return total, err
		}
		if len(rows) < pumpBatch {
			break
		}
	}
	n, err := e.reconcile(ctx, now)
	return total + n, err
}

func (e *Engine) reconcile(ctx context.Context, now time.Time) (int, error) {
	e.reconcileMu.Lock()
	due := now.Sub(e.lastReconcile) >= e.grace
	if due {
		e.lastReconcile = now
	}
	e.reconcileMu.Unlock()
	if !due {
		return 0, nil
	}
	var rows []dueRow
	err := e.db.WithContext(ctx).Raw(`SELECT id, shop_id, step, next_run_at FROM enrollments
		WHERE status = 'active' AND next_run_at IS NOT NULL AND next_run_at < ?
		ORDER BY next_run_at LIMIT ?`, now.Add(-e.grace), pumpBatch).Scan(&rows).Error
	if err != nil {
		return 0, fmt.Errorf("journey: reconcile: read overdue steps: %w", err)
	}
	return e.offer(ctx, rows)
}

func (e *Engine) offer(ctx context.Context, rows []dueRow) (int, error) {
	offered := 0
	for _, r := range rows {
		p := RunStepPayload{ShopID: r.ShopID, EnrollmentID: r.ID, Step: r.Step, RunAt: r.NextRunAt.UnixMicro()}
		task, err := NewRunStepTask(p)
		if err != nil {
			return offered, err
		}
		_, err = e.queue.EnqueueContext(ctx, task, asynq.TaskID(p.taskID()), asynq.ProcessAt(r.NextRunAt),
			asynq.Queue(platform.QueueDefault), asynq.MaxRetry(20))
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return offered, fmt.Errorf("journey: pump: enqueue step of enrollment %d: %w", r.ID, err)
		}
		// Only if the row still has that due time: a concurrent defer wins.
		if err := e.db.WithContext(ctx).Exec(`UPDATE enrollments SET enqueued_for = next_run_at WHERE id = ? AND next_run_at = ?`,
			r.ID, r.NextRunAt).Error; err != nil {
			return offered, fmt.Errorf("journey: pump: mark enrollment %d: %w", r.ID, err)
		}
		offered++
	}
	return offered, nil
}
