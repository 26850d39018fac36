package journey

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
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

// offerParallel bounds the enqueues of one page in flight at once: asynq
// has no pipelined enqueue, so a page is spread over a few Redis
// connections instead of paying one round trip per task in sequence.
const offerParallel = 16

// offer enqueues a page of due steps and marks the enqueued ones in one
// UPDATE. A row is marked only when its enqueue succeeded (or the task was
// already there), and only if it still has that due time: a concurrent
// defer wins.
func (e *Engine) offer(ctx context.Context, rows []dueRow) (int, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	errs := make([]error, len(rows))
	sem := make(chan struct{}, offerParallel)
	var wg sync.WaitGroup
	for i, r := range rows {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = e.enqueueStep(ctx, r)
		})
	}
	wg.Wait()
	type mark struct {
		ID int64     `json:"id"`
		At time.Time `json:"at"`
	}
	marks := make([]mark, 0, len(rows))
	var ids []int64
	var firstErr error
	for i, r := range rows {
		if errs[i] != nil {
			firstErr = cmp.Or(firstErr, errs[i])
			continue
		}
		marks = append(marks, mark{r.ID, r.NextRunAt.UTC()})
		ids = append(ids, r.ID)
	}
	if len(marks) > 0 {
		b, err := json.Marshal(marks)
		if err != nil {
			return 0, fmt.Errorf("journey: pump: encode marks: %w", err)
		}
		if err := e.db.WithContext(ctx).Exec(`UPDATE enrollments e SET enqueued_for = e.next_run_at
			FROM jsonb_to_recordset(?::jsonb) AS v(id bigint, at timestamptz)
			WHERE e.id = ANY(?::bigint[]) AND e.id = v.id AND e.next_run_at = v.at`, string(b), int64Array(ids)).Error; err != nil {
			return 0, fmt.Errorf("journey: pump: mark %d enrollments: %w", len(marks), err)
		}
	}
	return len(marks), firstErr
}

func (e *Engine) enqueueStep(ctx context.Context, r dueRow) error {
	p := RunStepPayload{ShopID: r.ShopID, EnrollmentID: r.ID, Step: r.Step, RunAt: r.NextRunAt.UnixMicro()}
	task, err := NewRunStepTask(p)
	if err != nil {
		return err
	}
	_, err = e.queue.EnqueueContext(ctx, task, asynq.TaskID(p.taskID()), asynq.ProcessAt(r.NextRunAt),
		asynq.Queue(platform.QueueDefault), asynq.MaxRetry(20))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("journey: pump: enqueue step of enrollment %d: %w", r.ID, err)
	}
	return nil
}
