package webhook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"gorm.io/gorm"
)

// ReconcilerConfig tunes the reconciler. Zero values are sensible defaults.
type ReconcilerConfig struct {
	Logger *slog.Logger // default slog.Default()
	// Grace is how long a row may stay pending before it is suspected of
	// having no live task (default 1 min: ingest enqueues within a few ms).
	Grace time.Duration
	// MaxPerRun bounds the batches looked at in one run (default 20,000); the
	// next run continues where this one stopped.
	MaxPerRun int
}

// Reconciler re-enqueues inbox batches still pending after the grace period:
// committed but never handed to asynq (Redis was down, the process died
// right after the commit) or lost with Redis. The database is the truth.
// Each batch is enqueued under its deterministic task id, so a batch that is
// still queued (pending, retrying, running) is not queued twice.
type Reconciler struct {
	db     *sql.DB
	queue  enqueuer
	cfg    ReconcilerConfig
	mu     sync.Mutex
	cursor int64 // last batch id looked at; resumes a run cut by MaxPerRun
}

// ReconcileStats is what one run did.
type ReconcileStats struct {
	Enqueued      int // batches handed to asynq
	AlreadyQueued int // batches asynq already held
}

// NewReconciler returns a reconciler; run it periodically (e.g. every 30 s)
// from every worker replica: concurrent runs are harmless.
func NewReconciler(db *gorm.DB, queue enqueuer, cfg ReconcilerConfig) (*Reconciler, error) {
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("webhook: database handle: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Grace <= 0 {
		cfg.Grace = time.Minute
	}
	if cfg.MaxPerRun <= 0 {
		cfg.MaxPerRun = 20000
	}
	return &Reconciler{db: sqlDB, queue: queue, cfg: cfg}, nil
}

const pendingBatchesSQL = `
SELECT DISTINCT batch_id FROM webhook_inbox
WHERE status = 'pending' AND batch_id > $1
  AND received_at < now() - make_interval(secs => $2)
  AND (locked_until IS NULL OR locked_until < now())
ORDER BY batch_id
LIMIT $3`

// Run enqueues the pending batches older than the grace period. It stops at
// the first enqueue failure (Redis down): the next run retries.
func (r *Reconciler) Run(ctx context.Context) (ReconcileStats, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var st ReconcileStats
	const page = 1000
	seen := 0
	for seen < r.cfg.MaxPerRun {
		batches, err := r.pendingBatches(ctx, page)
		if err != nil {
			return st, err
		}
		for _, id := range batches {
			t, err := NewProcessTask(id)
			if err != nil {
				return st, err
			}
			tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err = r.queue.EnqueueContext(tctx, t)
			cancel()
			switch {
			case err == nil:
				st.Enqueued++
			case isTaskIDConflict(err):
				st.AlreadyQueued++
			default:
				return st, fmt.Errorf("webhook: reconcile: enqueue batch %d: %w", id, err)
			}
			r.cursor = id
		}
		seen += len(batches)
		if len(batches) < page {
			r.cursor = 0 // reached the end: the next run starts over
			break
		}
	}
	if st.Enqueued > 0 {
		r.cfg.Logger.Info("webhook reconciler re-enqueued inbox batches", "enqueued", st.Enqueued, "already_queued", st.AlreadyQueued)
	}
	return st, nil
}

func (r *Reconciler) pendingBatches(ctx context.Context, limit int) ([]int64, error) {
	rs, err := r.db.QueryContext(ctx, pendingBatchesSQL, r.cursor, r.cfg.Grace.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("webhook: reconcile: list pending batches: %w", err)
	}
	defer rs.Close()
	var out []int64
	for rs.Next() {
		var id int64
		if err := rs.Scan(&id); err != nil {
			return nil, fmt.Errorf("webhook: reconcile: read batch id: %w", err)
		}
		out = append(out, id)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("webhook: reconcile: list pending batches: %w", err)
	}
	return out, nil
}

func isTaskIDConflict(err error) bool { return errors.Is(err, asynq.ErrTaskIDConflict) }
