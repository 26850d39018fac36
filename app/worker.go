package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/relance/relance/internal/platform"
	"github.com/relance/relance/internal/webhook"
)

// tasks is every asynq task type Relance runs, with its handler.
func (m *Main) tasks() map[string]asynq.HandlerFunc {
	return map[string]asynq.HandlerFunc{
		webhook.TypeProcess: m.c.dispatcher.HandleProcess,
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
		Logger:          platform.AsynqLogger{},
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
	m.every(ctx, "data-export-purge", time.Hour, func(ctx context.Context) error {
		_, err := m.c.privacy.PurgeExpiredExports(ctx)
		return err
	})
}
