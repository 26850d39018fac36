package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/relance/relance/internal/analytics"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/mail"
	"github.com/relance/relance/internal/platform"
	"github.com/relance/relance/internal/quiz"
	"github.com/relance/relance/internal/unsubscribe"
	"github.com/relance/relance/internal/webhook"
)

// tasks is every asynq task type Relance runs, with its handler.
func (m *Main) tasks() map[string]asynq.HandlerFunc {
	return map[string]asynq.HandlerFunc{
		webhook.TypeProcess:       m.c.dispatcher.HandleProcess,
		journey.TypeRunStep:       m.c.engine.HandleRunStep,
		unsubscribe.TypeWriteBack: m.c.unsubscribe.HandleWriteBack,
		quiz.TypeWriteBack:        m.c.quiz.HandleWriteBack,
	}
}

func (m *Main) startWorker(ctx context.Context) error {
	mux := asynq.NewServeMux()
	for typ, h := range m.tasks() {
		mux.Handle(typ, platform.InstrumentTask(typ, h))
	}
	m.worker = asynq.NewServer(m.Redis, asynq.Config{
		Concurrency:     20,
		Queues:          platform.Queues,
		ShutdownTimeout: 15 * time.Second,
		// The pump hands over steps due within its horizon with ProcessAt;
		// asynq's default 5 s forwarder would make them up to 5 s late.
		DelayedTaskCheckInterval: time.Second,
		// An idle worker looks for new tasks every 100 ms rather than every
		// second (docs/benchmarks.md: step lateness).
		TaskCheckInterval: 100 * time.Millisecond,
		Logger:            platform.AsynqLogger{},
		ErrorHandler: asynq.ErrorHandlerFunc(func(_ context.Context, t *asynq.Task, err error) {
			slog.Warn("task failed", "type", t.Type(), "err", err)
		}),
	})
	if err := m.worker.Start(mux); err != nil {
		return err
	}
	m.onClose(func(context.Context) error {
		m.worker.Stop()
		m.worker.Shutdown()
		return nil
	})
	m.startPeriodic(ctx)
	return nil
}

// startPeriodic runs the jobs every worker replica runs; each is idempotent.
func (m *Main) startPeriodic(ctx context.Context) {
	m.every(ctx, "queue-metrics", 15*time.Second, func(context.Context) error {
		return platform.RecordQueueDepth(m.Redis)
	})
	// The inbox is the truth: deliveries stored but never handed to asynq
	// (Redis down, crash between commit and enqueue) are queued again.
	m.every(ctx, "webhook-reconcile", 30*time.Second, func(ctx context.Context) error {
		_, err := m.c.reconciler.Run(ctx)
		return err
	})
	// PostgreSQL holds the schedule; every second the pump hands asynq the
	// steps due soon (and re-offers overdue ones lost from Redis).
	m.every(ctx, "journey-pump", time.Second, func(ctx context.Context) error {
		_, err := m.c.engine.Pump(ctx)
		return err
	})
	m.every(ctx, "reengagement-scan", m.c.engine.ReengagementScanInterval(), func(ctx context.Context) error {
		_, err := m.c.engine.ScanReengagement(ctx, time.Now())
		return err
	})
	// Expired unused codes are removed at Shopify, a full batch at a time.
	m.every(ctx, "discount-cleanup", 15*time.Minute, func(ctx context.Context) error {
		for {
			res, err := m.c.discounts.CleanupExpired(ctx, 100)
			if err != nil || res.Removed+res.NeverCreated+res.GaveUp < 100 {
				return err
			}
		}
	})
	// Every installed shop keeps its web pixel, with settings pointing here:
	// re-created if the merchant disconnected it, repaired after a move.
	m.every(ctx, "web-pixel-check", 6*time.Hour, func(ctx context.Context) error {
		_, err := m.c.pixels.EnsureAll(ctx, 100)
		return err
	})
	m.every(ctx, "data-export-purge", time.Hour, func(ctx context.Context) error {
		_, err := m.c.privacy.PurgeExpiredExports(ctx)
		return err
	})
	// Folds the KPI deltas the metrics triggers append into hourly rows
	// (reads add the pending ones, so this only keeps reads short).
	m.every(ctx, "metrics-rollup", analytics.RollUpInterval, func(ctx context.Context) error {
		_, err := m.c.analytics.RollUp(ctx)
		return err
	})
	// Mail bookkeeping is kept only while it can matter (mail.DefaultRetention):
	// Svix dedupe ids, settled batches, the dev outbox.
	m.every(ctx, "mail-purge", time.Hour, func(ctx context.Context) error {
		res, err := mail.Purge(ctx, m.DB, time.Now(), mail.DefaultRetention)
		if res != (mail.PurgeResult{}) {
			slog.Info("mail purge", "webhook_events", res.WebhookEvents, "batches", res.Batches, "outbox", res.Outbox)
		}
		return err
	})
}
